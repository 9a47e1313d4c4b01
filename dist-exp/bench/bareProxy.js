// The anchor: a bare @fastify/http-proxy in front of the same upstream, with its defaults, the
// same logger level as the gateway (LOG_LEVEL) and the same two request log lines per request
// (disableRequestLogging only silences reply-from's own two extra lines, see docs/benchmarks.md).
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';
const upstream = process.env.UPSTREAM_URL;
if (!upstream) {
    process.stderr.write('bare proxy: UPSTREAM_URL is required\n');
    process.exit(1);
}
const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } });
await app.register(fastifyHttpProxy, { upstream, disableRequestLogging: true });
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)); });
