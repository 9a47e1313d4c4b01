// `npm run soak`: the real gateway (dist/src/server.js, as `npm start` runs it) under steady load
// for minutes, between the demo identity provider issuing 20-second tokens with single-use
// refresh tokens and the echo upstream. It prints its figures and exits non-zero unless: no
// request failed, every refresh presented the refresh token the previous one returned (no
// invalid_grant), one refresh per token lifetime, no request went upstream with an expired
// token, the token file holds the current refresh token, and RSS stayed within its bound.
// Everything listens on 127.0.0.1; the load is bounded in time and concurrency.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startEchoUpstream } from '../src/demo/echoUpstream.js';
import { startIdentityProvider } from '../src/demo/identityProvider.js';
import { describeToken } from '../src/utils/tokenUtils.js';
import { GATEWAY_NODE_ARGS } from './processes.js';
const seconds = (name, fallback) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value <= 0)
        throw new Error(`${name} must be a positive number`);
    return value;
};
const DURATION_S = seconds('SOAK_SECONDS', 180);
const CONCURRENCY = Math.round(seconds('SOAK_CONCURRENCY', 8));
const TOKEN_TTL_S = Math.round(seconds('SOAK_TOKEN_TTL', 20));
const RSS_BOUND_MB = seconds('SOAK_RSS_BOUND_MB', 30);
// RSS is taken as the start once the process has warmed up (JIT, heap, connection pools).
const WARM_UP_S = Math.min(20, DURATION_S / 3);
const SAMPLE_EVERY_MS = 5_000;
// The gateway's settings: 6 s of buffer (the cap at half the lifetime does not bite at 20 s),
// a periodic check every 3 s.
const EXPIRY_BUFFER_MIN = 0.1;
const REFRESH_INTERVAL_MIN = 0.05;
const say = (line) => { process.stdout.write(`${line}\n`); };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function freePort() {
    return new Promise((resolve) => {
        const server = createServer();
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}
function rssMb(pid) {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return line === undefined ? Number.NaN : Number(/(\d+)/.exec(line)[1]) / 1024;
}
async function main() {
    const idp = await startIdentityProvider({ tokenTtlSeconds: TOKEN_TTL_S, rotate: true });
    const upstream = await startEchoUpstream();
    const folder = mkdtempSync(join(tmpdir(), 'tokengate-soak-'));
    const storePath = join(folder, 'tokens.json');
    const port = await freePort();
    const initialToken = idp.mint();
    const initialRefresh = idp.validRefreshToken;
    // Every request the upstream received is checked: a token the provider issued, not expired
    // when it arrived. The echo upstream keeps what it receives, so it is drained as it goes.
    let upstreamRequests = 0;
    let badTokens = 0;
    const drainUpstream = () => {
        const nowMs = Date.now();
        for (const r of upstream.received.splice(0)) {
            upstreamRequests++;
            const token = /^Bearer (.+)$/.exec(r.headers.authorization ?? '')?.[1];
            const expiresAtMs = token === undefined ? null : describeToken(token).expiresAtMs;
            const known = token === initialToken || (token !== undefined && idp.issued.includes(token));
            // Checked up to a quarter second late: an expiry within that slack is not counted.
            if (!known || expiresAtMs === null || expiresAtMs <= nowMs - 250)
                badTokens++;
        }
    };
    const server = fileURLToPath(new URL('../src/server.js', import.meta.url));
    const gateway = spawn(process.execPath, [...GATEWAY_NODE_ARGS, server], {
        cwd: folder,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
            PATH: process.env.PATH,
            UPSTREAM_URL: upstream.url,
            AUTH_TOKEN: initialToken,
            REFRESH_TOKEN: initialRefresh,
            TOKEN_REFRESH_URL: idp.refreshUrl,
            TOKEN_EXPIRY_BUFFER: String(EXPIRY_BUFFER_MIN),
            TOKEN_REFRESH_INTERVAL: String(REFRESH_INTERVAL_MIN),
            TOKEN_STORE: 'file',
            TOKEN_STORE_PATH: storePath,
            HOST: '127.0.0.1',
            PORT: String(port),
            LOG_LEVEL: 'warn'
        }
    });
    let gatewayLog = '';
    gateway.stdout.on('data', (chunk) => { gatewayLog += chunk.toString('utf8'); });
    gateway.stderr.on('data', (chunk) => { gatewayLog += chunk.toString('utf8'); });
    const exited = new Promise((resolve) => gateway.on('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 30_000 });
    let failures = 0;
    let requests = 0;
    const failureKinds = new Map();
    const fail = (kind) => {
        failures++;
        failureKinds.set(kind, (failureKinds.get(kind) ?? 0) + 1);
    };
    const rss = [];
    try {
        for (let waited = 0;; waited += 50) {
            if (gateway.exitCode !== null)
                throw new Error(`the gateway exited at start-up:\n${gatewayLog}`);
            if (waited > 15_000)
                throw new Error(`the gateway did not answer within 15 s:\n${gatewayLog}`);
            const live = await request(`${url}/health/live`, { dispatcher }).catch(() => null);
            if (live !== null) {
                await live.body.dump();
                if (live.statusCode === 200)
                    break;
            }
            await sleep(50);
        }
        say(`tokengate soak: ${DURATION_S} s, ${CONCURRENCY} concurrent clients, ${TOKEN_TTL_S}-second tokens with single-use refresh tokens`);
        say(`  gateway pid ${gateway.pid} at ${url}; identity provider ${idp.url}; upstream ${upstream.url}`);
        const started = Date.now();
        const deadline = started + DURATION_S * 1000;
        const sampler = setInterval(() => { rss.push({ atS: (Date.now() - started) / 1000, mb: rssMb(gateway.pid) }); }, SAMPLE_EVERY_MS);
        const drainer = setInterval(drainUpstream, 250);
        rss.push({ atS: 0, mb: rssMb(gateway.pid) });
        const reporter = setInterval(() => {
            say(`  ${Math.round((Date.now() - started) / 1000)} s: ${requests} requests, ${failures} failed, ${idp.calls.length} refreshes, RSS ${rss.at(-1).mb.toFixed(1)} MB`);
        }, 30_000);
        await Promise.all(Array.from({ length: CONCURRENCY }, async (_, loop) => {
            for (let i = 0; Date.now() < deadline; i++) {
                requests++;
                const post = i % 10 === 0;
                try {
                    const res = await request(`${url}/soak/${loop}/${i}?q=${i}`, {
                        dispatcher,
                        method: post ? 'POST' : 'GET',
                        headers: post ? { 'content-type': 'application/json' } : {},
                        body: post ? JSON.stringify({ loop, i }) : undefined,
                        headersTimeout: 10_000,
                        bodyTimeout: 10_000
                    });
                    const text = await res.body.text();
                    if (res.statusCode !== 200)
                        fail(`http_${res.statusCode}`);
                    else if (!text.includes('"authorization":"Bearer '))
                        fail('no_bearer');
                }
                catch (err) {
                    fail(err.code ?? 'error');
                }
            }
        }));
        clearInterval(sampler);
        clearInterval(reporter);
        clearInterval(drainer);
        drainUpstream();
        rss.push({ atS: (Date.now() - started) / 1000, mb: rssMb(gateway.pid) });
        const elapsedS = (Date.now() - started) / 1000;
        const health = await request(`${url}/health/token`, { dispatcher });
        const body = await health.body.json();
        await sleep(200);
        const stored = JSON.parse(readFileSync(storePath, 'utf8'));
        // Figures.
        const refused = idp.calls.filter((call) => call.status !== 200).length;
        const gapsS = idp.calls.slice(1).map((call, i) => (call.at - idp.calls[i].at) / 1000);
        const minGapS = gapsS.length === 0 ? Number.NaN : Math.min(...gapsS);
        const maxGapS = gapsS.length === 0 ? Number.NaN : Math.max(...gapsS);
        // The provider accepts only the refresh token its last answer returned: a 200 for every call
        // means each refresh presented exactly that one.
        const presentedInOrder = idp.calls[0]?.refreshToken === initialRefresh;
        // A token is refreshed once it enters the buffer, or up to one check interval earlier when
        // the periodic check sees it would enter before the next check.
        const latestAgeS = TOKEN_TTL_S - EXPIRY_BUFFER_MIN * 60;
        const earliestAgeS = latestAgeS - REFRESH_INTERVAL_MIN * 60 - 1;
        const fewest = Math.floor(elapsedS / latestAgeS) - 1;
        const most = Math.ceil(elapsedS / earliestAgeS) + 1;
        const start = rss.find((sample) => sample.atS >= WARM_UP_S) ?? rss[0];
        const end = rss.at(-1);
        const maxRss = Math.max(...rss.map((sample) => sample.mb));
        say('');
        say(`requests      ${requests} in ${elapsedS.toFixed(0)} s (${(requests / elapsedS).toFixed(0)}/s), failures ${failures}` +
            (failures > 0 ? ` (${[...failureKinds].map(([k, n]) => `${k}×${n}`).join(', ')})` : ''));
        say(`refreshes     ${idp.calls.length} calls to the identity provider, ${refused} refused (invalid_grant), gateway refreshCount ${body.refreshCount}; ` +
            `expected ${fewest}–${most} (one per token, at ${earliestAgeS}–${latestAgeS} s of its ${TOKEN_TTL_S} s); gaps ${minGapS.toFixed(1)}–${maxGapS.toFixed(1)} s`);
        say(`upstream      ${upstreamRequests} requests, ${badTokens} with an unknown or expired token`);
        say(`RSS           start ${start.mb.toFixed(1)} MB (at ${start.atS.toFixed(0)} s), end ${end.mb.toFixed(1)} MB, max ${maxRss.toFixed(1)} MB; ` +
            `growth ${(end.mb - start.mb).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);
        say(`token file    version ${stored.version}, ${stored.refreshToken === idp.validRefreshToken ? 'holds the current refresh token' : 'does NOT hold the current refresh token'}; ` +
            `health ${body.status}, lastRefreshError ${body.lastRefreshError}, storeError ${body.storeError}`);
        const problems = [];
        if (failures > 0)
            problems.push(`${failures} failed requests`);
        if (refused > 0 || !presentedInOrder)
            problems.push(`${refused} refreshes refused: a refresh token was presented twice or out of order`);
        if (idp.calls.length !== body.refreshCount)
            problems.push('the provider saw a different number of refreshes than the gateway made');
        if (idp.calls.length < fewest || idp.calls.length > most)
            problems.push('not one refresh per token lifetime');
        if (gapsS.length > 0 && minGapS < earliestAgeS - 1)
            problems.push(`two refreshes ${minGapS.toFixed(1)} s apart: more than one per rotation`);
        if (gapsS.length > 0 && maxGapS > TOKEN_TTL_S)
            problems.push(`${maxGapS.toFixed(1)} s between two refreshes: a token expired first`);
        if (badTokens > 0)
            problems.push(`${badTokens} upstream requests with an unknown or expired token`);
        if (stored.refreshToken !== idp.validRefreshToken)
            problems.push('the token file does not hold the current refresh token');
        if (!(end.mb - start.mb <= RSS_BOUND_MB))
            problems.push(`RSS grew by ${(end.mb - start.mb).toFixed(1)} MB`);
        if (/"level":(50|60)/.test(gatewayLog))
            problems.push('the gateway logged errors');
        say(problems.length === 0 ? 'PASS' : `FAIL: ${problems.join('; ')}`);
        return problems.length === 0 ? 0 : 1;
    }
    finally {
        gateway.kill('SIGTERM');
        await exited;
        await dispatcher.close();
        await Promise.all([idp.close(), upstream.close()]);
        rmSync(folder, { recursive: true, force: true });
    }
}
process.exitCode = await main().catch((err) => {
    process.stderr.write(`soak failed to run: ${err.message}\n`);
    return 2;
});
