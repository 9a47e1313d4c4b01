// A local upstream API that answers every request with what it received, so a caller can see
// the Authorization header the gateway sent. Also serves a server-sent-events stream.
import { createServer } from 'node:http';
export class EchoUpstream {
    received = [];
    url = '';
    server;
    options;
    /** Resolving this lets GET /events send its last event and end. */
    releaseStream = null;
    constructor(options = {}) {
        this.options = options;
        this.server = createServer((req, res) => { this.handle(req, res); });
    }
    async listen() {
        await new Promise((resolve) => this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve));
        this.url = `http://127.0.0.1:${this.server.address().port}`;
        return this;
    }
    async close() {
        this.releaseStream?.();
        this.server.closeAllConnections();
        await new Promise((resolve) => this.server.close(() => resolve()));
    }
    /** Lets an open /events?hold=1 stream finish. */
    finishStream() {
        this.releaseStream?.();
    }
    handle(req, res) {
        const chunks = [];
        req.on('data', (chunk) => chunks.push(chunk));
        req.on('end', () => {
            // A server's requests always carry a method and a URL.
            const received = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
            this.received.push(received);
            const path = received.url.split('?')[0];
            if (path.endsWith('/events'))
                return this.stream(received, res);
            const status = /\/status\/(\d{3})$/.exec(path);
            const body = JSON.stringify({
                method: received.method,
                url: received.url,
                authorization: req.headers.authorization ?? null,
                headers: req.headers,
                body: received.body
            });
            res.writeHead(status ? Number(status[1]) : 200, { 'content-type': 'application/json', 'x-echo': 'tokengate-demo' }).end(body);
        });
    }
    // Two events: the first at once, the second when released (hold=1) or after the gap.
    stream(received, res) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(`data: ${JSON.stringify({ n: 1, authorization: received.headers.authorization ?? null })}\n\n`);
        const finish = () => {
            this.releaseStream = null;
            res.end(`data: ${JSON.stringify({ n: 2 })}\n\n`);
        };
        if (received.url.includes('hold=1')) {
            this.releaseStream = finish;
        }
        else {
            setTimeout(finish, this.options.eventGapMs ?? 1000);
        }
    }
}
export async function startEchoUpstream(options = {}) {
    return new EchoUpstream(options).listen();
}
