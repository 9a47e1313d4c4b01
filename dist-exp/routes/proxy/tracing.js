// A span per proxied request when tracing is on (plugins/tracing.ts): from the first hook to the
// response's end, with the route, the status and the upstream's latency, continuing a trace the
// client started (traceparent) and continued at the upstream (traceparent replaced by this span's).
// A refresh the request waits for is its child. Off, nothing is added to the proxy's hot path.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import fp from 'fastify-plugin';
const OFF = { within: (_request, fn) => fn(), inject: () => { } };
/** Adds the span hooks to the proxy scope (register it before its other hooks) and decorates it with the helpers. */
async function requestSpansPlugin(fastify) {
    fastify.decorate('requestSpans', setupRequestSpans(fastify));
}
export default fp(requestSpansPlugin, { name: 'tokengate-proxy-request-spans', fastify: '5.x' });
function setupRequestSpans(fastify) {
    if (!fastify.tracingEnabled)
        return OFF;
    const tracer = trace.getTracer('tokengate');
    fastify.decorateRequest('span', null);
    fastify.addHook('onRequest', (request, _reply, done) => {
        // An upgrade leaves Fastify's lifecycle when the relay takes it: no response to end a span with.
        if (request.raw.headers.upgrade === undefined) {
            const parent = propagation.extract(ROOT_CONTEXT, request.headers);
            // Named after its route once the route is known (the next hook matches it).
            request.span = tracer.startSpan(request.method, {
                kind: SpanKind.SERVER,
                attributes: {
                    'http.request.method': request.method,
                    // The path only: a query string may carry what is not ours to record.
                    'url.path': request.url.split('?', 1)[0]
                }
            }, parent);
        }
        done();
    });
    fastify.addHook('onResponse', (request, reply, done) => {
        const span = request.span;
        if (span !== null) {
            nameAfterRoute(request);
            span.setAttribute('http.response.status_code', reply.statusCode);
            if (request.upstreamLatencyMs !== null)
                span.setAttribute('tokengate.upstream_latency_ms', Math.round(request.upstreamLatencyMs * 100) / 100);
            if (reply.statusCode >= 500)
                span.setStatus({ code: SpanStatusCode.ERROR });
            span.end();
        }
        done();
    });
    fastify.addHook('onRequestAbort', (request, done) => {
        if (request.span !== null)
            nameAfterRoute(request);
        request.span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the client went away' });
        request.span?.end();
        done();
    });
    return {
        within: (request, fn) => request.span === null ? fn() : context.with(trace.setSpan(context.active(), request.span), fn),
        inject: (request, headers) => {
            if (request.span !== null)
                propagation.inject(trace.setSpan(ROOT_CONTEXT, request.span), headers);
        }
    };
}
function nameAfterRoute(request) {
    const route = request.gatewayRoute;
    if (route === null)
        return;
    request.span.updateName(`${request.method} ${route.path}`);
    request.span.setAttributes({ 'http.route': route.path, 'tokengate.credential': route.credential.name });
}
