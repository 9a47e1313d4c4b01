// The composition root: core capabilities as plugins first, then the routes that translate HTTP.
import Fastify from 'fastify';
import clientLimitsPlugin from '../plugins/client-limits.js';
import configPlugin from '../plugins/config.js';
import errorsPlugin from '../plugins/errors.js';
import metricsPlugin from '../plugins/metrics.js';
import tracingPlugin from '../plugins/tracing.js';
import refreshJobPlugin from '../plugins/refresh-job.js';
import reloadPlugin from '../plugins/reload.js';
import routingPlugin from '../plugins/routing.js';
import storePlugin from '../plugins/store.js';
import tokenPlugin from '../plugins/token.js';
import adminRoutes from '../routes/admin.js';
import healthRoutes from '../routes/health.js';
import metricsRoutes from '../routes/metrics.js';
import proxyRoutes from '../routes/proxy/index.js';
import { censorChildBindings, redactLogObject } from './utils/logRedaction.js';
// Credentials are censored by pino's log and bindings formatters (src/utils/logRedaction.ts): the
// token and secret fields, top level or one down, and the credential headers of headers / req.headers.
// Bodies of refresh answers are never logged.
export function loggerOptions(stream) {
    return {
        level: 'info',
        formatters: { log: redactLogObject, bindings: redactLogObject },
        serializers: { res: serializeReply },
        ...(stream ? { stream } : {})
    };
}
/**
 * The `res` of the access log ("request completed"): the status the client got and, when the
 * upstream answered, its status and how long its response headers took (ms). A 502, 503 or 504
 * of the gateway's own has no upstream fields.
 */
export function serializeReply(reply) {
    const latencyMs = reply.request?.upstreamLatencyMs;
    if (typeof latencyMs !== 'number')
        return { statusCode: reply.statusCode };
    return { statusCode: reply.statusCode, upstreamStatusCode: reply.statusCode, upstreamLatencyMs: Math.round(latencyMs * 100) / 100 };
}
export async function buildApp(options = {}) {
    const app = Fastify({
        logger: loggerOptions(options.logStream),
        // Proxied bodies are streamed, not parsed; this bounds only the gateway's own JSON routes.
        bodyLimit: 1024 * 1024,
        return503OnClosing: true
    });
    censorChildBindings(app.log);
    try {
        await app.register(configPlugin, { env: options.env });
        await app.register(errorsPlugin);
        await app.register(clientLimitsPlugin);
        await app.register(tracingPlugin);
        await app.register(storePlugin);
        await app.register(tokenPlugin);
        await app.register(refreshJobPlugin);
        await app.register(metricsPlugin);
        await app.register(routingPlugin);
        await app.register(reloadPlugin);
        await app.register(healthRoutes);
        await app.register(metricsRoutes);
        await app.register(adminRoutes);
        await app.register(proxyRoutes);
    }
    catch (err) {
        // What did start (a Redis connection) is closed, so a failed start leaves nothing open.
        await app.close().catch(() => { });
        throw err;
    }
    return app;
}
