import fp from 'fastify-plugin';
import { DEFAULT_CREDENTIAL } from '../src/config/gatewayDefinition.js';
import { redactedRedisUrl } from '../src/config/startupSummary.js';
import { ConfigError, StoreLockedError } from '../src/errors.js';
import { FileTokenStores } from '../src/stores/fileTokenStores.js';
import { MemoryTokenStores } from '../src/stores/memoryTokenStores.js';
import { redisDurability } from '../src/stores/redisDurability.js';
import { RedisTokenStores } from '../src/stores/redisTokenStores.js';
export const REDIS_CONNECT_TIMEOUT_MS = 5_000;
async function storePlugin(fastify) {
    const config = fastify.gatewayConfig;
    const namespaced = config.configFile !== null;
    let stores;
    let redis = null;
    if (config.store === 'file') {
        const fileStores = new FileTokenStores(config.storePath, {
            namespaced,
            lock: { onLost: (message) => { fastify.log.error({ path: config.storePath }, `Lost the lock on the token file: ${message}; each save takes it again first, and fails while another gateway holds it`); } },
            onMovedAside: (aside) => { fastify.log.warn({ path: config.storePath, movedTo: aside }, `The token file ${config.storePath} is not valid JSON; moved it to ${aside} before saving, so that the tokens it may hold are kept`); }
        });
        for (const path of await fileStores.file.exposedPaths()) {
            fastify.log.warn({ path }, `${path} is readable by other users; tokens belong in a 0700 folder and a 0600 file`);
        }
        await openFile(fastify, fileStores.file);
        stores = fileStores;
    }
    else if (config.store === 'redis') {
        redis = await connectRedis(fastify, config.redisUrl);
        await warnUnlessDurable(fastify, redis);
        stores = new RedisTokenStores(redis, { keyPrefix: config.storeKey, namespaced });
    }
    else {
        stores = new MemoryTokenStores({ namespaced });
    }
    fastify.decorate('tokenStores', stores);
    fastify.decorate('tokenStore', stores.forCredential(DEFAULT_CREDENTIAL));
    fastify.decorate('redis', redis);
    fastify.addHook('onClose', async () => {
        await stores.close();
        if (redis !== null)
            await redis.quit().catch(() => { redis.disconnect(); });
    });
}
/**
 * Locks the token file for this gateway, then deals with what interrupted writes left. A lock held
 * by another live gateway stops start-up; one that cannot be made (a read-only or full disk,
 * where saves fail too) is taken by the first save that can.
 */
async function openFile(fastify, file) {
    try {
        await file.lock();
    }
    catch (err) {
        if (err instanceof StoreLockedError) {
            throw new ConfigError([{
                    variable: 'TOKEN_STORE_PATH',
                    message: `${file.path} is in use by another gateway (${err.holder}; lock file ${err.lockPath}): stop that gateway, or give this one a TOKEN_STORE_PATH of its own`
                }]);
        }
        fastify.log.warn({ path: file.path }, `${err.message}: starting without the lock; the first save that can takes it`);
        return;
    }
    try {
        const { adopted, movedAside, removed } = await file.recoverTempFiles();
        if (adopted !== null) {
            fastify.log.warn({ path: file.path, adopted, movedAside }, `Adopted ${adopted} as the token file: an interrupted write had saved newer tokens in it`);
        }
        if (removed.length > 0) {
            fastify.log.warn({ paths: removed }, `Removed ${removed.length} temp file(s) an interrupted write left beside the token file`);
        }
    }
    catch (err) {
        await file.close();
        throw new ConfigError([{ variable: 'TOKEN_STORE_PATH', message: err.message }]);
    }
}
async function connectRedis(fastify, url) {
    // Loaded only for this store: ioredis adds about 8 MB to the resident memory of a gateway
    // that never talks to Redis.
    const { Redis } = await import('ioredis');
    const client = new Redis(url, {
        lazyConnect: true,
        // Fail commands at once while disconnected: a request must never hang on Redis, the cached
        // token serves meanwhile. ioredis keeps reconnecting in the background.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
        retryStrategy: (times) => Math.min(times * 200, 2_000)
    });
    // Without a listener ioredis prints every connection error to the console.
    let reported = false;
    client.on('error', (err) => {
        if (reported)
            return;
        reported = true;
        fastify.log.warn({ code: err.code }, 'Redis connection error; retrying in the background');
    });
    client.on('ready', () => { reported = false; });
    try {
        await client.connect();
    }
    catch (err) {
        client.disconnect();
        throw new ConfigError([{
                variable: 'REDIS_URL',
                message: `cannot connect to Redis at ${redactedRedisUrl(url)} (${err.code ?? err.message})`
            }]);
    }
    return client;
}
/**
 * Says at start-up when Redis may lose an acknowledged write (src/stores/redisDurability.ts):
 * a warning when its settings say so, an info line when they cannot be read.
 */
async function warnUnlessDurable(fastify, redis) {
    const durability = await redisDurability(redis);
    if (durability.durable)
        return;
    if (durability.known)
        fastify.log.warn(durability.message);
    else
        fastify.log.info(durability.message);
}
export default fp(storePlugin, { name: 'tokengate-store', fastify: '5.x', dependencies: ['tokengate-config'] });
