// Wires the token engine into Fastify: loads the tokens, builds the TokenRefreshService over the
// store, and decorates the instance with getValidAccessToken for the proxy's onRequest hook.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ConfigError } from '../src/errors.js'
import { createGrant } from '../src/grants/createGrant.js'
import { TokenRefreshService } from '../src/services/tokenRefreshService.js'
import type { Logger } from '../src/utils/logger.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenService: TokenRefreshService
    getValidAccessToken: () => Promise<string>
  }
}

async function tokenPlugin (fastify: FastifyInstance): Promise<void> {
  const config = fastify.gatewayConfig
  const store = fastify.tokenStore
  const stored = await store.load()
  const accessToken = stored?.accessToken ?? config.authToken
  // client_credentials fetches its first token at start-up; every other grant starts from one.
  if (accessToken === null && config.tokenGrant !== 'client_credentials') {
    throw new ConfigError([{ variable: 'AUTH_TOKEN', message: 'is required (the initial access token, JWT or opaque)' }])
  }
  let version = stored?.version ?? 0
  const service = new TokenRefreshService(
    accessToken,
    stored?.refreshToken ?? config.refreshToken,
    config.refreshUrl,
    async (newAccessToken, newRefreshToken, update) => {
      version++
      await store.save({
        accessToken: newAccessToken,
        refreshToken: newRefreshToken,
        expiresAtMs: update.expiresAtMs,
        version,
        seedFingerprint: stored?.seedFingerprint ?? null,
        updatedAt: new Date().toISOString()
      })
    },
    {
      grant: createGrant({ style: config.refreshStyle, url: config.refreshUrl, oauthClient: config.oauthClient, timeoutMs: config.refreshTimeoutMs }),
      bufferMs: config.expiryBufferMs,
      checkIntervalMs: config.refreshIntervalMs,
      refreshTimeoutMs: config.refreshTimeoutMs,
      expiresAtMs: stored?.expiresAtMs ?? null,
      logger: fastify.log as Logger
    }
  )
  fastify.decorate('tokenService', service)
  fastify.decorate('getValidAccessToken', () => service.getValidAccessToken())
  // Listening does not wait for this refresh: a still-valid token serves meanwhile.
  fastify.addHook('onReady', async () => { service.refreshIfDue('startup') })
  fastify.addHook('onClose', async () => { await service.close() })
}

export default fp(tokenPlugin, { name: 'tokengate-token', fastify: '5.x', dependencies: ['tokengate-config', 'tokengate-store'] })
