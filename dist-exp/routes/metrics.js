export default async function metricsRoutes(fastify) {
    const { registry } = fastify.metrics;
    // A scrape every few seconds would drown the access log; failures still show at warn.
    fastify.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
        reply.header('content-type', registry.contentType).header('cache-control', 'no-store');
        return registry.metrics();
    });
}
