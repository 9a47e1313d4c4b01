// `npm run bench -- --streams`: chat traffic as it is, long server-sent-events streams of small
// chunks. N streams at once (each its own connection) through each target in turn: the stream
// upstream directly, the bare @fastify/http-proxy, tokengate, nginx with `proxy_buffering off`.
// Per target: CPU time per relayed chunk, how long a chunk took from the upstream's write to the
// client (timestamps inside the chunks; "added" is over the direct target's at the same N), time
// to first byte, resident memory per open stream, and whether every stream arrived whole.
import { Agent, get } from 'node:http'
import { request } from 'undici'
import { startNginx } from './nginx.js'
import { DIST, GATEWAY_ENTRY, GATEWAY_NODE_ARGS, mustStart, sleep, startNodeServer, treeCpuSeconds, treeRssBytes, type ServerProcess } from './processes.js'

export interface StreamBenchOptions {
  streams: number[]
  chunks: number
  logLevel: string
  token: string
  gatewayEnv: (upstreamUrl: string) => Record<string, string>
  nginxBinary: string | null
  say: (line?: string) => void
}

export interface StreamRun {
  target: string
  streams: number
  complete: number
  chunks: number
  cpuMicrosPerChunk: number
  latencyP50Ms: number
  latencyP99Ms: number
  ttfbP50Ms: number
  ttfbP99Ms: number
  rssKbPerStream: number
  /**
   * How much V8's new space (the young generation) grew over the run, in MB, as the target's own
   * /metrics tell (`nodejs_heap_space_size_total_bytes{space="new"}`); null for a target without them.
   */
  newSpaceGrowthMb: number | null
  /** Streams that were not whole, counted by why. */
  failures: Record<string, number>
}

interface StreamOutcome {
  ttfbMs: number
  delays: number[]
  whole: boolean
  /** Why a stream that is not whole is not: its status, the error's code, or what was wrong with its chunks. */
  failure: string | null
}

const WARMUP_STREAMS = 20
// Issue 15's stream targets.
const STREAM_KB_TARGET = 20
const ADDED_P99_TARGET_MS = 2
const ADDED_P99_AT_STREAMS = 1000

const now = (): number => performance.timeOrigin + performance.now()

/** One stream: its time to first byte, each chunk's delay, and whether it came whole and in order. */
function readStream (url: string, agent: Agent, chunks: number): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const started = performance.now()
    let ttfbMs = -1
    const delays: number[] = []
    let pending = ''
    let expected = 0
    let done = false
    const finish = (failure: string | null): void => {
      const reason = failure ?? (!done || expected !== chunks ? `ended after ${expected} of ${chunks} chunks` : null)
      resolve({ ttfbMs, delays, whole: reason === null, failure: reason })
    }
    get(url, { agent }, (res) => {
      res.setEncoding('utf8')
      res.on('data', (text: string) => {
        const at = now()
        if (ttfbMs < 0) ttfbMs = performance.now() - started
        pending += text
        let end: number
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(6, end)
          pending = pending.slice(end + 2)
          if (event === '[DONE]') {
            done = true
            continue
          }
          const chunk = JSON.parse(event) as { i: number, t: number }
          if (chunk.i !== expected) return finish(`chunk ${chunk.i} where ${expected} was due`)
          expected++
          delays.push(at - chunk.t)
        }
      })
      res.on('end', () => finish(res.statusCode === 200 ? null : `status ${res.statusCode}`))
      res.on('error', (err: NodeJS.ErrnoException) => finish(`error ${err.code ?? err.message}`))
    }).on('error', (err: NodeJS.ErrnoException) => finish(`error ${err.code ?? err.message}`))
  })
}

const NEW_SPACE_SIZE = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m

/** The committed size of V8's new space, from the Prometheus text of a target's /metrics. */
async function newSpaceBytes (metricsUrl: string): Promise<number> {
  const { statusCode, body } = await request(metricsUrl)
  const text = await body.text()
  const size = NEW_SPACE_SIZE.exec(text)?.[1]
  if (statusCode !== 200 || size === undefined) throw new Error(`${metricsUrl} answered ${statusCode} without the new space's size`)
  return Number(size)
}

function percentile (sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

async function measure (name: string, server: ServerProcess, streams: number, chunks: number, metricsUrl: string | null = null): Promise<StreamRun> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity })
  const newSpaceBefore = metricsUrl === null ? null : await newSpaceBytes(metricsUrl)
  const rssBefore = treeRssBytes(server.pid)
  const cpuBefore = treeCpuSeconds(server.pid)
  let peakRss = rssBefore
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, treeRssBytes(server.pid)) }, 100)
  const outcomes = await Promise.all(Array.from({ length: streams }, () => readStream(`${server.url}/v1/chat/completions`, agent, chunks)))
  clearInterval(sampler)
  const cpuSeconds = treeCpuSeconds(server.pid) - cpuBefore
  agent.destroy()
  // Read once the streams are over, so the scrape is not in the latencies. V8 gives new space
  // back only in a memory-reducing collection, which a heavy run leaves no room for: its size now
  // is then its size at the peak (a light run may have shrunk it, see printStreamTable).
  const newSpaceAfter = metricsUrl === null ? null : await newSpaceBytes(metricsUrl)
  const delays = outcomes.flatMap((o) => o.delays).sort((a, b) => a - b)
  const ttfbs = outcomes.map((o) => o.ttfbMs).filter((ms) => ms >= 0).sort((a, b) => a - b)
  return {
    target: name,
    streams,
    complete: outcomes.filter((o) => o.whole).length,
    chunks: delays.length,
    cpuMicrosPerChunk: cpuSeconds * 1e6 / Math.max(1, delays.length),
    latencyP50Ms: percentile(delays, 0.5),
    latencyP99Ms: percentile(delays, 0.99),
    ttfbP50Ms: percentile(ttfbs, 0.5),
    ttfbP99Ms: percentile(ttfbs, 0.99),
    rssKbPerStream: (peakRss - rssBefore) / 1024 / streams,
    newSpaceGrowthMb: newSpaceBefore === null || newSpaceAfter === null ? null : (newSpaceAfter - newSpaceBefore) / 1024 / 1024,
    failures: tally(outcomes.flatMap((o) => o.failure === null ? [] : [o.failure]))
  }
}

function tally (reasons: string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const reason of reasons) counts[reason] = (counts[reason] ?? 0) + 1
  return counts
}

export async function streamBench (options: StreamBenchOptions): Promise<StreamRun[]> {
  const { say } = options
  const servers: ServerProcess[] = []
  const runs: StreamRun[] = []
  try {
    const upstream = await mustStart(await startNodeServer('stream-upstream', `${DIST}/bench/streamUpstream.js`, { CHUNKS: String(options.chunks) }))
    servers.push(upstream)
    const targets: Array<{ name: string, server: ServerProcess, metricsUrl?: string }> = [{ name: 'direct', server: upstream }]
    const bare = await mustStart(await startNodeServer('bare-proxy', `${DIST}/bench/bareProxy.js`, { UPSTREAM_URL: upstream.url, LOG_LEVEL: options.logLevel }))
    servers.push(bare)
    targets.push({ name: 'bare-proxy', server: bare })
    const gateway = await mustStart(await startNodeServer('tokengate', GATEWAY_ENTRY, options.gatewayEnv(upstream.url), GATEWAY_NODE_ARGS))
    servers.push(gateway)
    targets.push({ name: 'tokengate', server: gateway, metricsUrl: `${gateway.url}/metrics` })
    if (options.nginxBinary !== null) {
      const nginx = await startNginx({ binary: options.nginxBinary, upstreamUrl: upstream.url, token: options.token, accessLog: false, buffering: false, workerConnections: 2 * Math.max(...options.streams) + 100 })
      servers.push(nginx)
      targets.push({ name: 'nginx', server: nginx })
    }
    say(`streams: ${options.chunks} chunks of ~100 bytes every 20–50 ms per stream; ${options.streams.join(', ')} streams at once through each target in turn`)
    // Unrecorded: connections made and code compiled before anything is measured.
    for (const target of targets) await measure(target.name, target.server, WARMUP_STREAMS, options.chunks)
    for (const streams of options.streams) {
      for (const target of targets) {
        await sleep(500)
        const run = await measure(target.name, target.server, streams, options.chunks, target.metricsUrl)
        runs.push(run)
        say(`  ${String(streams).padStart(5)} streams  ${target.name.padEnd(10)} complete ${run.complete}/${streams}  p50 ${run.latencyP50Ms.toFixed(2)} ms  p99 ${run.latencyP99Ms.toFixed(2)} ms  ${run.cpuMicrosPerChunk.toFixed(1)} µs CPU/chunk  TTFB p50 ${run.ttfbP50Ms.toFixed(1)} ms  ${run.rssKbPerStream.toFixed(1)} KB/stream`)
        const failures = Object.entries(run.failures).map(([reason, count]) => `${count} × ${reason}`)
        if (failures.length > 0) say(`        not whole: ${failures.join(', ')}`)
      }
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
  }
  printStreamTable(runs, say)
  return runs
}

function printStreamTable (runs: StreamRun[], say: (line?: string) => void): void {
  say('\nstreams (chunk latency from the upstream\'s write to the client; added = over direct at the same N)')
  say('| streams | target | complete | CPU µs/chunk | chunk p50 ms | chunk p99 ms | added p50 ms | added p99 ms | TTFB p50 ms | TTFB p99 ms | RSS KB/stream |')
  say('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const run of runs) {
    const direct = runs.find((r) => r.streams === run.streams && r.target === 'direct')
    const added = (field: 'latencyP50Ms' | 'latencyP99Ms'): string => direct === undefined || run.target === 'direct' ? '—' : (run[field] - direct[field]).toFixed(2)
    say(`| ${run.streams} | ${run.target} | ${run.complete}/${run.streams} | ${run.cpuMicrosPerChunk.toFixed(1)} | ${run.latencyP50Ms.toFixed(2)} | ${run.latencyP99Ms.toFixed(2)} | ${added('latencyP50Ms')} | ${added('latencyP99Ms')} | ${run.ttfbP50Ms.toFixed(1)} | ${run.ttfbP99Ms.toFixed(1)} | ${run.rssKbPerStream.toFixed(1)} |`)
  }
  const byStreams = new Map<number, StreamRun[]>()
  for (const run of runs) byStreams.set(run.streams, [...(byStreams.get(run.streams) ?? []), run])
  say('\nstream targets (issue 15)')
  for (const [streams, group] of byStreams) {
    const bare = group.find((r) => r.target === 'bare-proxy')
    const gateway = group.find((r) => r.target === 'tokengate')
    const direct = group.find((r) => r.target === 'direct')
    if (gateway === undefined) continue
    const line = (what: string, met: boolean | null, value: string): void => { say(`  ${met === null ? 'n/a ' : met ? 'met ' : 'MISS'}  ${streams} streams: ${what}: ${value}`) }
    if (bare !== undefined) {
      const ratio = gateway.cpuMicrosPerChunk / bare.cpuMicrosPerChunk
      line('CPU per chunk ≤ the bare proxy\'s', ratio <= 1, `${ratio.toFixed(3)}×`)
    }
    line('every stream complete', gateway.complete === streams, `${gateway.complete}/${streams}`)
    line(`RSS ≤ ${STREAM_KB_TARGET} KB per open stream`, gateway.rssKbPerStream <= STREAM_KB_TARGET, `${gateway.rssKbPerStream.toFixed(1)} KB`)
    if (gateway.newSpaceGrowthMb !== null && gateway.newSpaceGrowthMb > 0) {
      // The young generation grows to its default maximum under any sustained allocation, short
      // requests too, whatever N is: what is left of the rise is what the open streams hold. (It
      // can also shrink during a light run, V8's memory reducer giving it back: then it is no
      // part of the rise, and nothing is said.)
      const beyond = gateway.rssKbPerStream - gateway.newSpaceGrowthMb * 1024 / streams
      say(`  info  ${streams} streams: of that, V8's new space grew by ${gateway.newSpaceGrowthMb.toFixed(1)} MB; the rest is ${beyond.toFixed(1)} KB per open stream`)
    }
    if (streams === ADDED_P99_AT_STREAMS && direct !== undefined) {
      const added = gateway.latencyP99Ms - direct.latencyP99Ms
      line(`added p99 per chunk ≤ ${ADDED_P99_TARGET_MS} ms`, added <= ADDED_P99_TARGET_MS, `${added.toFixed(2)} ms`)
    }
  }
  // The figure per stream above divides the whole rise by N, so it carries V8's heap growth that
  // does not depend on N; the rise between two N is what one more stream costs.
  const gateways = runs.filter((r) => r.target === 'tokengate').sort((a, b) => a.streams - b.streams)
  for (let i = 1; i < gateways.length; i++) {
    const [a, b] = [gateways[i - 1], gateways[i]]
    const marginal = (b.rssKbPerStream * b.streams - a.rssKbPerStream * a.streams) / (b.streams - a.streams)
    say(`  info  tokengate RSS per additional stream from ${a.streams} to ${b.streams} streams: ${marginal.toFixed(1)} KB`)
  }
}
