// Process entry for `npm run token:inspect`. Reads the same environment (and .env) as the
// gateway through env-schema, the engine of @fastify/env, but needs no UPSTREAM_URL, and picks
// the token the gateway would start with (store or environment, by seed fingerprint).
import { resolve } from 'node:path';
import envSchema from 'env-schema';
import { Redis } from 'ioredis';
import { configSchema } from '../config/schema.js';
import { FileTokenStore } from '../stores/fileTokenStore.js';
import { RedisTokenStore } from '../stores/redisTokenStore.js';
import { chooseStartupTokens } from '../stores/seedFingerprint.js';
import { inspectToken } from './tokenInspect.js';
const schema = { ...structuredClone(configSchema), required: [] };
let env;
try {
    env = envSchema({ schema, dotenv: { quiet: true } });
}
catch (err) {
    process.stderr.write(`token:inspect: ${err.message}\n`);
    process.exit(1);
}
async function loadStored() {
    if (env.TOKEN_STORE === 'file') {
        const store = new FileTokenStore(resolve(env.TOKEN_STORE_PATH));
        return { record: await store.load(), where: `token store (file ${store.path})` };
    }
    if (env.TOKEN_STORE === 'redis') {
        const client = new Redis(env.REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
        client.on('error', () => { });
        try {
            await client.connect();
            const store = new RedisTokenStore(client, { keyPrefix: env.TOKEN_STORE_KEY });
            return { record: await store.load(), where: `token store (Redis key ${store.recordKey})` };
        }
        finally {
            client.disconnect();
        }
    }
    return { record: null, where: 'memory store' };
}
let stored;
try {
    stored = await loadStored();
}
catch (err) {
    process.stderr.write(`token:inspect: the token store cannot be read (${err.message}); showing AUTH_TOKEN\n`);
    stored = { record: null, where: 'none' };
}
const start = chooseStartupTokens(stored.record, env.AUTH_TOKEN?.trim() || null, env.REFRESH_TOKEN?.trim() || null);
// client_credentials and token_exchange obtain tokens with the client's id (and secret, key or
// subject token), no refresh token needed.
const ownTokens = env.TOKEN_GRANT !== 'refresh_token';
const result = inspectToken({
    token: start.accessToken,
    source: start.source === 'store' ? `${stored.where}, version ${start.version}` : 'AUTH_TOKEN (environment)',
    refreshConfigured: ownTokens ? Boolean(env.OAUTH_CLIENT_ID?.trim()) : start.refreshToken !== null,
    refreshStyle: ownTokens ? env.TOKEN_GRANT : env.TOKEN_REFRESH_STYLE,
    refreshUrl: env.TOKEN_REFRESH_URL,
    bufferMs: env.TOKEN_EXPIRY_BUFFER * 60_000,
    expiresAtMs: start.expiresAtMs,
    origin: start.source === 'store' ? 'record' : 'given',
    nowMs: Date.now()
});
process.stdout.write(`${result.report}\n`);
process.exit(result.exitCode);
