// Operators' view of the token: GET /health/token (200 while a usable token is held, 503 when
// none is) and GET /health/live. Neither ever shows a token, a secret or an email.
import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/health/token', async (_request, reply) => {
    const body = fastify.tokenHealth()
    reply.code(body.status === 'expired' ? 503 : 200).header('cache-control', 'no-store')
    return body
  })

  fastify.get('/health/live', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return { status: 'ok' }
  })
}
