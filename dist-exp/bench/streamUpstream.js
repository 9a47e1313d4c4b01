// The streams bench's upstream: every GET answers a chat-completion-shaped event stream, a chunk
// of about 100 bytes every 20–50 ms (CHUNKS of them, then `data: [DONE]`), each carrying the
// moment it was written (performance.timeOrigin + performance.now(), in ms) so the client can
// tell how long it took to arrive. GET /__seen answers with the Authorization header it was sent.
import { createServer } from 'node:http';
import { answerSeenAuthorization } from './seenAuthorization.js';
const CHUNKS = Number(process.env.CHUNKS ?? 200);
const MIN_GAP_MS = 20;
const MAX_GAP_MS = 50;
const WORDS = ['Sure', ' here', ' is', ' the', ' answer', ' you', ' asked', ' for', ':', ' tokens', ' flow', ' one', ' by', ' one'];
const server = createServer((req, res) => {
    if (answerSeenAuthorization(req, res))
        return;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let sent = 0;
    let timer = null;
    const next = () => {
        if (sent === CHUNKS) {
            res.end('data: [DONE]\n\n');
            return;
        }
        const content = WORDS[sent % WORDS.length];
        const t = performance.timeOrigin + performance.now();
        res.write(`data: {"id":"chatcmpl-bench","i":${sent},"t":${t.toFixed(3)},"choices":[{"delta":{"content":${JSON.stringify(content)}}}]}\n\n`);
        sent++;
        timer = setTimeout(next, MIN_GAP_MS + Math.random() * (MAX_GAP_MS - MIN_GAP_MS));
    };
    res.on('close', () => { if (timer !== null)
        clearTimeout(timer); });
    next();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address();
    process.stdout.write(`stream upstream listening at http://127.0.0.1:${port} (${CHUNKS} chunks a stream)\n`);
});
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
