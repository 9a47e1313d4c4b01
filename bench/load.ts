// One load run against one target: autocannon in this process, the same options for every target.
import autocannon from 'autocannon'

export interface LoadOptions {
  connections: number
  durationSeconds: number
  path: string
}

export interface LoadResult {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  errors: number
}

export async function runLoad (baseUrl: string, options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: `${baseUrl}${options.path}`,
    connections: options.connections,
    pipelining: 1,
    duration: options.durationSeconds
  })
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors
  }
}
