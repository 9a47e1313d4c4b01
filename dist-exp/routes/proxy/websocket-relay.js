import { WebSocket } from 'ws';
/**
 * Bytes read from one side and not yet written to the other's socket above which the gateway stops
 * reading that side; its peer then fills its own buffers, not the gateway's memory.
 */
export const WS_RELAY_HIGH_WATER_BYTES = 1024 * 1024;
/** Reading starts again once what is held has been written out down to this. */
export const WS_RELAY_LOW_WATER_BYTES = 256 * 1024;
// What ws reports for a message over maxPayload; it has already closed that side with 1009.
const MESSAGE_TOO_BIG = new Set(['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH']);
/**
 * `client` is open (accepted by the gateway); `upstream` is still connecting. What the client sends
 * meanwhile is held, within the same bound, and delivered once the upstream is open.
 */
export class WebSocketRelay {
    /** Settles once both sides are closed (or the upstream never opened). */
    ended;
    client;
    upstream;
    options;
    clientClosed = false;
    upstreamGone = false;
    onEnded;
    constructor(client, upstream, options) {
        this.client = client;
        this.upstream = upstream;
        this.options = options;
        this.ended = new Promise((resolve) => { this.onEnded = resolve; });
        const toUpstream = new Direction(client, upstream);
        const toClient = new Direction(upstream, client);
        forwardFrames(client, toUpstream);
        forwardFrames(upstream, toClient);
        upstream.on('open', () => { toUpstream.release(); });
        client.on('close', (code, reason) => {
            this.clientClosed = true;
            this.closeSide(upstream, liftCloseCode(code), reason);
            this.checkEnded();
        });
        upstream.on('close', (code, reason) => {
            this.upstreamGone = true;
            this.closeSide(client, liftCloseCode(code), reason);
            this.checkEnded();
        });
        client.on('error', (err) => { this.failed('client', err, upstream); });
        upstream.on('error', (err) => { this.failed('upstream', err, client); });
        // The upstream refused the handshake (logged by watchUpstreamHandshake, which also ends that
        // request): no 'close' follows for it.
        upstream.on('unexpected-response', () => {
            this.upstreamGone = true;
            this.closeSide(client, 1011, 'upstream refused the connection');
            this.checkEnded();
        });
    }
    /** Starts the closing handshake on both sides (1001 at shutdown). */
    close(code, reason) {
        this.closeSide(this.client, code, reason);
        this.closeSide(this.upstream, code, reason);
    }
    /** Cuts both sockets: for peers that did not answer close() in time (the upstream is no longer connecting by then). */
    terminate() {
        this.client.terminate();
        this.upstream.terminate();
    }
    closeSide(socket, code, reason) {
        if (socket.readyState === WebSocket.CONNECTING) {
            // Only the upstream can be connecting: the client left first, which is nothing to report.
            socket.removeAllListeners('error').on('error', () => { });
            socket.terminate();
            return;
        }
        if (socket.readyState === WebSocket.OPEN)
            socket.close(code, reason);
        // A side paused for backpressure must read again to see its peer's answering close frame.
        socket.resume();
    }
    failed(side, err, other) {
        if (MESSAGE_TOO_BIG.has(err.code)) {
            this.options.log.warn({ from: side, maxMessageBytes: this.options.maxMessageBytes }, 'WebSocket message larger than WS_MAX_MESSAGE; closing the connection (1009)');
            this.closeSide(other, 1009, 'message too big');
            return;
        }
        // ws closed the failing side itself (a protocol error) or will report its 'close' (a connection
        // that failed; watchUpstreamHandshake logs those of the upstream).
        this.closeSide(other, 1011, side === 'client' ? 'client connection failed' : 'upstream connection failed');
    }
    checkEnded() {
        if (this.clientClosed && this.upstreamGone)
            this.onEnded();
    }
}
function forwardFrames(from, direction) {
    // The default binaryType hands every message over as one Buffer.
    from.on('message', (data, binary) => { direction.forward({ kind: 'message', data: data, binary }); });
    from.on('ping', (data) => { direction.forward({ kind: 'ping', data }); });
    from.on('pong', (data) => { direction.forward({ kind: 'pong', data }); });
}
/** One way through the relay, with its own count of bytes in the gateway's hands. */
class Direction {
    from;
    to;
    /** Bytes read from `from` and not yet written to `to`'s socket (held ones included). */
    pending = 0;
    /** Frames that arrived while `to` was still connecting. */
    held = [];
    constructor(from, to) {
        this.from = from;
        this.to = to;
    }
    forward(frame) {
        if (this.to.readyState === WebSocket.OPEN) {
            this.count(frame.data.length);
            this.write(frame);
        }
        else if (this.to.readyState === WebSocket.CONNECTING) {
            this.count(frame.data.length);
            this.held.push(frame);
        }
        // Otherwise `to` is closing: nothing more can be delivered to it.
    }
    /** `to` has opened: what it missed goes first, in order. */
    release() {
        const held = this.held;
        this.held = [];
        for (const frame of held)
            this.write(frame);
    }
    count(bytes) {
        this.pending += bytes;
        // A closing side is never paused: it must go on reading to see its peer's close frame.
        if (this.pending > WS_RELAY_HIGH_WATER_BYTES && this.from.readyState === WebSocket.OPEN)
            this.from.pause();
    }
    write(frame) {
        const bytes = frame.data.length;
        // ws calls back once the frame has been written to the socket, or failed because it closed.
        const written = () => {
            this.pending -= bytes;
            if (this.pending <= WS_RELAY_LOW_WATER_BYTES && this.from.isPaused)
                this.from.resume();
        };
        if (frame.kind === 'message')
            this.to.send(frame.data, { binary: frame.binary }, written);
        else if (frame.kind === 'ping')
            this.to.ping(frame.data, undefined, written);
        else
            this.to.pong(frame.data, undefined, written);
    }
}
/** 1005 (no code) and 1006 (no close frame) cannot be sent; they are passed on as 4005 and 4006. */
function liftCloseCode(code) {
    return code === 1005 || code === 1006 ? 3000 + code : code;
}
