// The headers that make the offer; Connection keeps its other tokens.
const OFFER_HEADERS = new Set(['upgrade', 'http2-settings']);
/**
 * Installs the server's one 'upgrade' listener: WebSocket upgrades go to `onWebSocket`, anything
 * else is served as plain HTTP. Either happens only once the connection has answered every request
 * it carried before the upgrade.
 */
export function routeUpgrades(server, onWebSocket) {
    // Node emits 'upgrade' as soon as it has parsed the request's head, even while the answers to
    // earlier requests pipelined on the same connection are still being written: the socket would
    // change hands under a response in flight (a new parser's answer queued where the old one never
    // looks, or a second response assigned to the socket). Responses on a connection finish in the
    // order of their requests, so the last one started tells when the connection is free.
    const lastResponse = new WeakMap();
    server.on('request', (request, response) => { lastResponse.set(request.socket, response); });
    server.on('upgrade', (request, socket, head) => {
        // Node took its own listeners off the socket: until a new owner adds one, a client that resets
        // the connection (an error on a write of the earlier response) must not go unhandled.
        socket.on('error', destroySocket);
        whenAnswered(socket, lastResponse.get(socket), () => {
            if (isWebSocketUpgrade(request)) {
                onWebSocket(request, socket, head);
            }
            else {
                serveAsHttp(server, request, socket, head);
            }
        });
    });
}
/** True when the Upgrade header lists the `websocket` protocol (RFC 6455 §4.1), in any case. */
export function isWebSocketUpgrade(request) {
    // Node emits 'upgrade' only for a request that has an Upgrade header; several are joined with ", ".
    return request.headers.upgrade.split(',').some((protocol) => protocol.trim().toLowerCase() === 'websocket');
}
function whenAnswered(socket, last, proceed) {
    // A response's 'close' comes after the server has let go of the socket ('finish'), or when the
    // connection is gone.
    if (last === undefined || last.destroyed) {
        proceed();
        return;
    }
    const done = () => {
        last.off('close', done);
        socket.off('close', done);
        // A connection that closed meanwhile, or whose last answer ended it (`Connection: close`),
        // takes no further request.
        if (!socket.writable) {
            socket.destroy();
            return;
        }
        proceed();
    };
    last.once('close', done);
    socket.once('close', done);
}
function serveAsHttp(server, request, socket, head) {
    socket.off('error', destroySocket);
    // The keep-alive timer an earlier response's end set would cut this request once it ran idle:
    // Node clears it when a request arrives, as this one does again.
    socket.setTimeout(server.timeout);
    socket.unshift(Buffer.concat([Buffer.from(requestHeadWithoutOffer(request), 'latin1'), head]));
    server.emit('connection', socket);
}
function destroySocket() {
    this.destroy();
}
/** The request line and headers as the client sent them, less the upgrade offer. */
export function requestHeadWithoutOffer(request) {
    let head = `${request.method} ${request.url} HTTP/${request.httpVersion}\r\n`;
    const raw = request.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i];
        const lower = name.toLowerCase();
        if (OFFER_HEADERS.has(lower))
            continue;
        let value = raw[i + 1];
        if (lower === 'connection') {
            value = value.split(',').map((token) => token.trim()).filter((token) => !OFFER_HEADERS.has(token.toLowerCase())).join(', ');
            if (value === '')
                continue;
        }
        head += `${name}: ${value}\r\n`;
    }
    return `${head}\r\n`;
}
