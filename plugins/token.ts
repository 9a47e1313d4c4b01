// Wires the token engine into Fastify: loads the tokens (store, then environment, by seed
// fingerprint), builds the TokenRefreshService over the store, and decorates the instance with
// getValidAccessToken for the proxy's onRequest hook and tokenHealth for the health routes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AUTH_TOKEN_REQUIRED } from '../src/config/gatewayConfig.js'
import { defaultRefreshUrlWarning } from '../src/config/startupSummary.js'
import { ConfigError, StoreError } from '../src/errors.js'
import { createGrant } from '../src/grants/createGrant.js'
import { TokenRefreshService, type TokenHealth } from '../src/services/tokenRefreshService.js'
import { FileTokenStore } from '../src/stores/fileTokenStore.js'
import { RedisTokenStore } from '../src/stores/redisTokenStore.js'
import { chooseStartupTokens } from '../src/stores/seedFingerprint.js'
import { isSharedTokenStore, type TokenRecord, type TokenStore, type TokenStoreKind } from '../src/stores/tokenStore.js'
import type { Logger } from '../src/utils/logger.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenService: TokenRefreshService
    getValidAccessToken: () => Promise<string>
    /** The /health/token body. */
    tokenHealth: () => TokenHealthBody
  }
}

/** The /health/token body: the service's health and the kind of store. */
export interface TokenHealthBody extends TokenHealth {
  store: TokenStoreKind
}

async function tokenPlugin (fastify: FastifyInstance): Promise<void> {
  const config = fastify.gatewayConfig
  const store = fastify.tokenStore
  const stored = await loadStored(fastify, store)
  const start = chooseStartupTokens(stored, config.authToken, config.refreshToken)
  // client_credentials fetches its first token at start-up; every other grant starts from one.
  if (start.accessToken === null && config.tokenGrant !== 'client_credentials') {
    throw new ConfigError([{ variable: 'AUTH_TOKEN', message: AUTH_TOKEN_REQUIRED }])
  }
  if (start.source === 'store') {
    fastify.log.info({ store: store.kind, version: start.version }, 'Using the tokens from the token store (the environment is the one they were seeded from)')
  } else if (stored !== null) {
    fastify.log.info({ store: store.kind }, 'AUTH_TOKEN / REFRESH_TOKEN differ from the ones the store was seeded from: using the environment\'s')
  }

  const record = (tokens: Omit<TokenRecord, 'seedFingerprint' | 'updatedAt'>): TokenRecord =>
    ({ ...tokens, seedFingerprint: start.fingerprint, updatedAt: new Date().toISOString() })

  // Environment tokens that win become the store's next version.
  const version = start.source === 'environment' ? start.version + 1 : start.version
  const service = new TokenRefreshService(
    start.accessToken,
    start.refreshToken,
    config.refreshUrl,
    async (accessToken, refreshToken, update) => {
      await store.save(record({ accessToken, refreshToken, expiresAtMs: update.expiresAtMs, version: update.version }))
    },
    {
      grant: createGrant({ style: config.refreshStyle, url: config.refreshUrl, oauthClient: config.oauthClient, timeoutMs: config.refreshTimeoutMs }),
      bufferMs: config.expiryBufferMs,
      checkIntervalMs: config.refreshIntervalMs,
      refreshTimeoutMs: config.refreshTimeoutMs,
      maxAccessTokenBytes: config.accessTokenMaxBytes,
      expiresAtMs: start.expiresAtMs,
      version,
      shared: isSharedTokenStore(store) ? store : undefined,
      logger: fastify.log as Logger
    }
  )

  const defaultUrl = defaultRefreshUrlWarning(config, service.refreshEnabled)
  if (defaultUrl !== null) fastify.log.warn(defaultUrl)

  // New environment tokens are written at once, so the store forgets the ones they replace.
  const seeded = service.currentRecord()
  if (start.source === 'environment' && seeded !== null) {
    try {
      await store.save(record(seeded))
    } catch (err) {
      service.reportStoreError((err as Error).message)
      fastify.log.error({ err: { message: (err as Error).message } }, 'Could not save the tokens to the store; serving them from memory')
    }
  }

  if (fastify.redis !== null && store instanceof RedisTokenStore) {
    const redis = fastify.redis
    // Versions stored by other replicas are announced; take them as soon as they are.
    const subscriber = redis.duplicate()
    subscriber.on('error', () => {})
    subscriber.on('message', () => { service.pullFromSharedStore() })
    await subscriber.connect()
    await subscriber.subscribe(store.updatesChannel)
    fastify.addHook('onClose', async () => { subscriber.disconnect() })
    redis.on('close', () => { service.reportStoreError('Redis unavailable (connection lost)') })
    // After a reconnect: take a newer record, or write ours back if Redis lost it.
    redis.on('ready', () => {
      resync().catch((err: Error) => { service.reportStoreError(err.message) })
    })
    const resync = async (): Promise<void> => {
      const lock = await store.acquireRefreshLock()
      if (lock === null) return service.pullFromSharedStore()
      try {
        const latest = await store.load()
        const snapshot = service.currentRecord()
        if (snapshot !== null && (latest === null || latest.version < snapshot.version)) {
          await store.save(record(snapshot))
          fastify.log.info({ version: snapshot.version }, 'Redis is back; wrote the cached tokens back to it')
        } else if (latest !== null) {
          service.adoptRecord(latest)
        }
        service.reportStoreError(null)
      } finally {
        await lock.release().catch(() => {})
      }
    }
  }

  fastify.decorate('tokenService', service)
  fastify.decorate('getValidAccessToken', () => service.getValidAccessToken())
  fastify.decorate('tokenHealth', (): TokenHealthBody => {
    const health = service.getHealth()
    // Field order follows the contract, so operators reading it raw see what the README shows.
    return {
      status: health.status,
      tokenType: health.tokenType,
      expiresAt: health.expiresAt,
      expiresInSeconds: health.expiresInSeconds,
      refreshEnabled: health.refreshEnabled,
      refreshStyle: health.refreshStyle,
      store: store.kind,
      lastRefreshAt: health.lastRefreshAt,
      lastRefreshError: health.lastRefreshError,
      consecutiveFailures: health.consecutiveFailures,
      refreshTokenRejected: health.refreshTokenRejected,
      refreshCount: health.refreshCount,
      nextCheckAt: health.nextCheckAt,
      subject: health.subject,
      issuer: health.issuer,
      storeError: health.storeError
    }
  })
  // Listening does not wait for this refresh: a still-valid token serves meanwhile.
  fastify.addHook('onReady', async () => { service.refreshIfDue('startup') })
  fastify.addHook('onClose', async () => { await service.close() })
}

/**
 * The stored record, or null. An unreadable token file is never overwritten silently: with
 * environment tokens to start from it is moved aside (kept for the operator), without them
 * start-up fails naming the file.
 */
async function loadStored (fastify: FastifyInstance, store: TokenStore): Promise<TokenRecord | null> {
  try {
    return await store.load()
  } catch (err) {
    const config = fastify.gatewayConfig
    if (!(store instanceof FileTokenStore)) {
      throw new ConfigError([{ variable: 'REDIS_URL', message: `cannot read the stored tokens: ${(err as Error).message}` }])
    }
    if (config.authToken === null) {
      throw new ConfigError([{
        variable: 'TOKEN_STORE_PATH',
        message: `${store.path} cannot be used (${(err as StoreError).message}) and no AUTH_TOKEN is set to start from: repair or remove the file`
      }])
    }
    let aside: string
    try {
      aside = await store.moveAside()
    } catch (moveErr) {
      throw new ConfigError([{
        variable: 'TOKEN_STORE_PATH',
        message: `${store.path} cannot be used (${(err as StoreError).message}) nor moved aside (${(moveErr as NodeJS.ErrnoException).code})`
      }])
    }
    fastify.log.warn({ path: store.path, movedTo: aside }, `The token file ${store.path} cannot be used (${(err as StoreError).message}); moved it to ${aside} and starting from AUTH_TOKEN`)
    return null
  }
}

export default fp(tokenPlugin, { name: 'tokengate-token', fastify: '5.x', dependencies: ['tokengate-config', 'tokengate-store'] })
