// The benchmark's upstream: a plain node:http server answering every request with the same
// ~1 KB JSON body, run in its own process so it never shares an event loop with the load
// generator. GET /__seen answers with the Authorization header it was sent (a sanity check).
import { createServer } from 'node:http';
import { answerSeenAuthorization } from './seenAuthorization.js';
export const UPSTREAM_BODY_BYTES = 1024;
// A realistic-looking list answer, padded to exactly UPSTREAM_BODY_BYTES.
function makeBody() {
    const items = Array.from({ length: 8 }, (_, i) => ({ id: `item_${String(i).padStart(4, '0')}`, name: `Item number ${i}`, price: 10 + i, tags: ['a', 'b'] }));
    const base = JSON.stringify({ items, next: null, padding: '' });
    return Buffer.from(JSON.stringify({ items, next: null, padding: 'x'.repeat(Math.max(0, UPSTREAM_BODY_BYTES - base.length)) }));
}
const body = makeBody();
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const server = createServer((req, res) => {
    if (answerSeenAuthorization(req, res))
        return;
    // Request bodies are drained so a POST cannot stall the connection.
    req.resume();
    res.writeHead(200, headers).end(body);
});
// Idle pooled connections of the proxies survive the pauses between runs.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address();
    process.stdout.write(`upstream listening at http://127.0.0.1:${port} (${body.length}-byte JSON body)\n`);
});
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
