// Operators' view of the token: GET /health/token (200 while a usable token is held, 503 when
// none is) and GET /health/live. Neither ever shows a token, a secret or an email.
import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/health/token', async (_request, reply) => {
    const health = fastify.tokenService.getHealth()
    reply.code(health.status === 'expired' ? 503 : 200).header('cache-control', 'no-store')
    // Field order follows the contract, so operators reading it raw see what the README shows.
    return {
      status: health.status,
      tokenType: health.tokenType,
      expiresAt: health.expiresAt,
      expiresInSeconds: health.expiresInSeconds,
      refreshEnabled: health.refreshEnabled,
      refreshStyle: health.refreshStyle,
      store: fastify.tokenStore.kind,
      lastRefreshAt: health.lastRefreshAt,
      lastRefreshError: health.lastRefreshError,
      consecutiveFailures: health.consecutiveFailures,
      refreshTokenRejected: health.refreshTokenRejected,
      refreshCount: health.refreshCount,
      nextCheckAt: health.nextCheckAt,
      subject: health.subject,
      issuer: health.issuer
    }
  })

  fastify.get('/health/live', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return { status: 'ok' }
  })
}
