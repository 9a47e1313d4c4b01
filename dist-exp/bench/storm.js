// The refresh storm: N requests arrive at once on a gateway whose token has just expired. Every
// one of them must wait on the same refresh: one call to the identity provider. Measured on one
// gateway process, and on three sharing Redis when the gateway has a Redis store.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { startIdentityProvider } from '../src/demo/identityProvider.js';
import { median } from './hotPath.js';
import { GATEWAY_ENTRY, GATEWAY_NODE_ARGS, isExited, mustStart, sleep, startNodeServer } from './processes.js';
import { deleteKeys, redisAnswers } from './redis.js';
// Gateways start while the token is still valid, then it expires with nobody calling: the storm
// is the first thing that notices. Each process gets this long to start.
const START_ALLOWANCE_S = 3;
export async function refreshStorm(options, processes = 1, storeEnv = { TOKEN_STORE: 'memory' }) {
    const idp = await startIdentityProvider({ delayMs: options.idpDelayMs, tokenTtlSeconds: 3600 });
    const gateways = [];
    const pools = [];
    try {
        const ttlSeconds = 2 + START_ALLOWANCE_S * processes;
        const expiring = idp.mint(ttlSeconds);
        const expiresAtMs = JSON.parse(Buffer.from(expiring.split('.')[1], 'base64url').toString('utf8')).exp * 1000;
        const env = {
            UPSTREAM_URL: options.upstreamUrl,
            AUTH_TOKEN: expiring,
            REFRESH_TOKEN: idp.validRefreshToken,
            TOKEN_REFRESH_URL: idp.refreshUrl,
            // No early refresh: the token is used until its exp, so the storm meets it expired.
            TOKEN_EXPIRY_BUFFER: '0',
            HOST: '127.0.0.1',
            LOG_LEVEL: options.logLevel,
            ...storeEnv
        };
        for (let i = 0; i < processes; i++)
            gateways.push(await mustStart(await startNodeServer(`storm-gateway-${i + 1}`, options.entry ?? GATEWAY_ENTRY, env, GATEWAY_NODE_ARGS)));
        // One keep-alive connection per request, opened beforehand on a route that needs no token,
        // so the storm measures the refresh and not a thousand TCP handshakes.
        const perGateway = Math.ceil(options.requests / processes);
        for (const gateway of gateways)
            pools.push(new Pool(gateway.url, { connections: perGateway, keepAliveTimeout: 60_000 }));
        await Promise.all(Array.from({ length: options.requests }, async (_, i) => {
            const { body } = await pools[i % processes].request({ method: 'GET', path: '/health/live' });
            await body.dump();
        }));
        const waitMs = expiresAtMs - Date.now() + 50;
        if (waitMs < 0 || idp.calls.length > 0) {
            throw new Error('the gateways took longer to start than the token lived; rerun on a quieter machine');
        }
        await sleep(waitMs);
        const latencies = [];
        let ok = 0;
        await Promise.all(Array.from({ length: options.requests }, async (_, i) => {
            const started = performance.now();
            try {
                const { statusCode, body } = await pools[i % processes].request({ method: 'GET', path: `/storm/${i}` });
                await body.dump();
                if (statusCode === 200)
                    ok++;
            }
            finally {
                latencies.push(performance.now() - started);
            }
        }));
        latencies.sort((a, b) => a - b);
        return {
            processes,
            requests: options.requests,
            ok,
            failed: options.requests - ok,
            identityProviderCalls: idp.calls.length,
            p50Ms: median(latencies),
            p99Ms: latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)],
            maxMs: latencies[latencies.length - 1]
        };
    }
    finally {
        await Promise.all(pools.map((pool) => pool.destroy()));
        await Promise.all(gateways.map((gateway) => gateway.stop()));
        await idp.close();
    }
}
/**
 * Three gateways sharing one Redis. Runs only when the gateway accepts TOKEN_STORE=redis (the
 * Redis store is another piece of work) and a Redis answers at redisUrl.
 */
export async function redisRefreshStorm(options, redisUrl) {
    const key = `tokengate:bench:${process.pid}:${Date.now()}`;
    const probe = await startNodeServer('redis-probe', options.entry ?? GATEWAY_ENTRY, {
        UPSTREAM_URL: options.upstreamUrl,
        AUTH_TOKEN: 'opaque-probe-token',
        TOKEN_STORE: 'redis',
        REDIS_URL: redisUrl,
        TOKEN_STORE_KEY: `${key}:probe`,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn'
    });
    if (isExited(probe)) {
        if (/TOKEN_STORE/.test(probe.stderr))
            return { skipped: 'the Redis store is not available' };
        if (!(await redisAnswers(redisUrl)))
            return { skipped: `no Redis answers at ${redisUrl}` };
        throw new Error(`a gateway with TOKEN_STORE=redis exited at start-up (code ${probe.code}):\n${probe.stderr}`);
    }
    await probe.stop();
    if (!(await redisAnswers(redisUrl)))
        return { skipped: `no Redis answers at ${redisUrl}` };
    try {
        return await refreshStorm(options, 3, { TOKEN_STORE: 'redis', REDIS_URL: redisUrl, TOKEN_STORE_KEY: key });
    }
    finally {
        await deleteKeys(redisUrl, key).catch(() => { });
    }
}
