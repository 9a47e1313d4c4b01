// `npm run demo`: the real gateway (dist/src/server.js, the entry `npm start` runs) between a local
// identity provider issuing 60-second tokens with single-use refresh tokens and a local echo
// upstream, so refreshes show in the log within a minute. Ctrl-C stops all three.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pretty from 'pino-pretty';
import { startEchoUpstream } from './echoUpstream.js';
import { startIdentityProvider } from './identityProvider.js';
const TOKEN_TTL_SECONDS = 60;
const say = (line) => { process.stdout.write(`${line}\n`); };
async function freePort(preferred) {
    const tryPort = (port) => new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
            const { port: chosen } = server.address();
            server.close(() => resolve(chosen));
        });
    });
    return tryPort(preferred).catch(() => tryPort(0));
}
async function main() {
    const idp = await startIdentityProvider({ tokenTtlSeconds: TOKEN_TTL_SECONDS, log: say });
    const upstream = await startEchoUpstream();
    const port = await freePort(3000);
    const server = fileURLToPath(new URL('../server.js', import.meta.url));
    const gateway = spawn(process.execPath, [server], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
            PATH: process.env.PATH,
            UPSTREAM_URL: upstream.url,
            AUTH_TOKEN: idp.mint(),
            REFRESH_TOKEN: idp.validRefreshToken,
            TOKEN_REFRESH_URL: idp.refreshUrl,
            // 60-second tokens: count the last 15 s as expiring and check every 15 s.
            TOKEN_EXPIRY_BUFFER: '0.25',
            TOKEN_REFRESH_INTERVAL: '0.25',
            // The default file store, in a folder of its own: restart the demo's gateway and it
            // carries on with the rotated refresh token.
            TOKEN_STORE: 'file',
            TOKEN_STORE_PATH: join(mkdtempSync(join(tmpdir(), 'tokengate-demo-')), 'tokens.json'),
            PORT: String(port),
            LOG_LEVEL: 'info'
        }
    });
    gateway.stdout.pipe(pretty({ colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' }));
    say('');
    say(`tokengate demo: identity provider at ${idp.url} (${TOKEN_TTL_SECONDS}-second tokens, single-use refresh tokens)`);
    say(`                echo upstream at ${upstream.url}`);
    say(`                gateway at http://127.0.0.1:${port}`);
    say('');
    say(`Try:  curl -s http://127.0.0.1:${port}/hello | head -c 300; echo`);
    say(`      curl -s http://127.0.0.1:${port}/health/token`);
    say('Watch the log: a refresh every 30-45 seconds, each presenting the refresh token the last one returned.');
    say('Press Ctrl-C to stop.');
    say('');
    let stopping = false;
    const stop = () => {
        if (stopping)
            return;
        stopping = true;
        gateway.kill('SIGTERM');
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    gateway.on('exit', (code) => {
        const exitCode = stopping ? 0 : (code ?? 1);
        Promise.all([idp.close(), upstream.close()]).then(() => process.exit(exitCode), () => process.exit(exitCode));
    });
}
await main();
