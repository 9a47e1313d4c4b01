// Creates the token store chosen by TOKEN_STORE (file by default, locked for this gateway, memory,
// or Redis with a client this plugin owns) and closes it last, after the refresh job and any
// refresh in flight.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { redactedRedisUrl } from '../src/config/startupSummary.js'
import { ConfigError, StoreLockedError, type StoreError } from '../src/errors.js'
import { FileTokenStore } from '../src/stores/fileTokenStore.js'
import { MemoryTokenStore } from '../src/stores/memoryTokenStore.js'
import { RedisTokenStore } from '../src/stores/redisTokenStore.js'
import type { TokenStore } from '../src/stores/tokenStore.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenStore: TokenStore
    /** The Redis client of the redis store; null with the other stores. */
    redis: Redis | null
  }
}

export const REDIS_CONNECT_TIMEOUT_MS = 5_000

async function storePlugin (fastify: FastifyInstance): Promise<void> {
  const config = fastify.gatewayConfig
  let store: TokenStore
  let redis: Redis | null = null
  if (config.store === 'file') {
    const fileStore = new FileTokenStore(config.storePath, {
      lock: { onLost: (message) => { fastify.log.error({ path: config.storePath }, `Lost the lock on the token file: ${message}; each save takes it again first, and fails while another gateway holds it`) } }
    })
    for (const path of await fileStore.exposedPaths()) {
      fastify.log.warn({ path }, `${path} is readable by other users; tokens belong in a 0700 folder and a 0600 file`)
    }
    await openFileStore(fastify, fileStore)
    store = fileStore
  } else if (config.store === 'redis') {
    redis = await connectRedis(fastify, config.redisUrl)
    store = new RedisTokenStore(redis, { keyPrefix: config.storeKey })
  } else {
    store = new MemoryTokenStore()
  }
  fastify.decorate('tokenStore', store)
  fastify.decorate('redis', redis)
  fastify.addHook('onClose', async () => {
    await store.close()
    if (redis !== null) await redis.quit().catch(() => { redis!.disconnect() })
  })
}

/**
 * Locks the token file for this gateway, then deals with what interrupted writes left. A lock held
 * by another live gateway stops start-up; one that cannot be made (a read-only or full disk,
 * where saves fail too) is taken by the first save that can.
 */
async function openFileStore (fastify: FastifyInstance, store: FileTokenStore): Promise<void> {
  try {
    await store.lock()
  } catch (err) {
    if (err instanceof StoreLockedError) {
      throw new ConfigError([{
        variable: 'TOKEN_STORE_PATH',
        message: `${store.path} is in use by another gateway (${err.holder}; lock file ${err.lockPath}): stop that gateway, or give this one a TOKEN_STORE_PATH of its own`
      }])
    }
    fastify.log.warn({ path: store.path }, `${(err as StoreError).message}: starting without the lock; the first save that can takes it`)
    return
  }
  try {
    const { adopted, movedAside, removed } = await store.recoverTempFiles()
    if (adopted !== null) {
      fastify.log.warn({ path: store.path, adopted, movedAside }, `Adopted ${adopted} as the token file: an interrupted write had saved newer tokens in it`)
    }
    if (removed.length > 0) {
      fastify.log.warn({ paths: removed }, `Removed ${removed.length} temp file(s) an interrupted write left beside the token file`)
    }
  } catch (err) {
    await store.close()
    throw new ConfigError([{ variable: 'TOKEN_STORE_PATH', message: (err as StoreError).message }])
  }
}

async function connectRedis (fastify: FastifyInstance, url: string): Promise<Redis> {
  // Loaded only for this store: ioredis adds about 8 MB to the resident memory of a gateway
  // that never talks to Redis.
  const { Redis } = await import('ioredis')
  const client = new Redis(url, {
    lazyConnect: true,
    // Fail commands at once while disconnected: a request must never hang on Redis, the cached
    // token serves meanwhile. ioredis keeps reconnecting in the background.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(times * 200, 2_000)
  })
  // Without a listener ioredis prints every connection error to the console.
  let reported = false
  client.on('error', (err: Error) => {
    if (reported) return
    reported = true
    fastify.log.warn({ code: (err as NodeJS.ErrnoException).code }, 'Redis connection error; retrying in the background')
  })
  client.on('ready', () => { reported = false })
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw new ConfigError([{
      variable: 'REDIS_URL',
      message: `cannot connect to Redis at ${redactedRedisUrl(url)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
    }])
  }
  return client
}

export default fp(storePlugin, { name: 'tokengate-store', fastify: '5.x', dependencies: ['tokengate-config'] })
