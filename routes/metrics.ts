// GET /metrics: the Prometheus text format, answered locally and never proxied. Open like
// /health/*: it holds no token, secret or email.
import type { FastifyInstance } from 'fastify'

export default async function metricsRoutes (fastify: FastifyInstance): Promise<void> {
  const { registry } = fastify.metrics
  // A scrape every few seconds would drown the access log; failures still show at warn.
  fastify.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    reply.header('content-type', registry.contentType).header('cache-control', 'no-store')
    return registry.metrics()
  })
}
