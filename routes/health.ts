// Operators' view of the token: GET /health/token (200 while a usable token is held or can be
// had, 503 when none can) and GET /health/live. Neither ever shows a token, a secret or an email.
import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/health/token', async (_request, reply) => {
    let body = fastify.tokenHealth()
    // No usable token: a readiness probe must not take the gateway out of service while a
    // refresh would give it one. The probe waits on the same refresh as requests do (or starts
    // it); it fails at once when no refresh can run (none configured, refused, backing off).
    if (body.status === 'expired') {
      await fastify.getValidAccessToken().catch(() => {})
      body = fastify.tokenHealth()
    }
    reply.code(body.status === 'expired' ? 503 : 200).header('cache-control', 'no-store')
    return body
  })

  fastify.get('/health/live', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return { status: 'ok' }
  })
}
