// One load run against one target: autocannon in this process, the same options for every target.
import autocannon from 'autocannon';
export async function runLoad(baseUrl, options) {
    const result = await autocannon({
        url: `${baseUrl}${options.path}`,
        connections: options.connections,
        pipelining: 1,
        duration: options.durationSeconds
    });
    return {
        requestsPerSecond: result.requests.total / result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors
    };
}
