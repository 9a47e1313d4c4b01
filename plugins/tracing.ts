// OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then the Node SDK's tracer
// provider is registered (its context manager, the W3C trace-context propagator) with a batching
// OTLP/HTTP exporter, and the core's spans (a token refresh, the call to the identity provider)
// and the proxy's (one per request) go to it. Off, the SDK is never loaded and no hook is added.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** True when traces are exported. */
    tracingEnabled: boolean
  }
}

async function tracingPlugin (fastify: FastifyInstance): Promise<void> {
  const { otelEndpoint, otelServiceName } = fastify.gatewayConfig
  fastify.decorate('tracingEnabled', otelEndpoint !== null)
  if (otelEndpoint === null) return
  // Loaded only when on: the SDK and its exporter add some 10 MB to a gateway that never traces.
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, api] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/api')
  ])
  // OTLP's path under the endpoint, whether or not the endpoint names a path of its own.
  const url = new URL('v1/traces', otelEndpoint.href.replace(/\/?$/, '/')).href
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': otelServiceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))]
  })
  provider.register()
  fastify.log.info({ endpoint: url }, `Exporting traces to ${url}`)
  fastify.addHook('onClose', async () => {
    // Flushes what is batched, then lets another app of this process register its own.
    await provider.shutdown()
    api.trace.disable()
    api.context.disable()
    api.propagation.disable()
  })
}

export default fp(tracingPlugin, { name: 'tokengate-tracing', fastify: '5.x', dependencies: ['tokengate-config'] })
