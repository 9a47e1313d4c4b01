import fp from 'fastify-plugin';
async function tracingPlugin(fastify) {
    const { otelEndpoint, otelServiceName } = fastify.gatewayConfig;
    fastify.decorate('tracingEnabled', otelEndpoint !== null);
    if (otelEndpoint === null)
        return;
    // Loaded only when on: the SDK and its exporter add some 10 MB to a gateway that never traces.
    const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, api] = await Promise.all([
        import('@opentelemetry/sdk-trace-node'),
        import('@opentelemetry/exporter-trace-otlp-http'),
        import('@opentelemetry/resources'),
        import('@opentelemetry/api')
    ]);
    // OTLP's path under the endpoint, whether or not the endpoint names a path of its own.
    const url = new URL('v1/traces', otelEndpoint.href.replace(/\/?$/, '/')).href;
    const provider = new NodeTracerProvider({
        resource: resourceFromAttributes({ 'service.name': otelServiceName }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))]
    });
    provider.register();
    fastify.log.info({ endpoint: url }, `Exporting traces to ${url}`);
    fastify.addHook('onClose', async () => {
        // Flushes what is batched, then lets another app of this process register its own.
        await provider.shutdown();
        api.trace.disable();
        api.context.disable();
        api.propagation.disable();
    });
}
export default fp(tracingPlugin, { name: 'tokengate-tracing', fastify: '5.x', dependencies: ['tokengate-config'] });
