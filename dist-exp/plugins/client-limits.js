import fp from 'fastify-plugin';
// Node checks the head's deadline on this period: a quarter of the timeout keeps the cut close to
// it, within bounds that neither spin nor wait long.
const MIN_CHECK_INTERVAL_MS = 100;
const MAX_CHECK_INTERVAL_MS = 30_000;
async function clientLimitsPlugin(fastify) {
    const { clientTimeoutMs, clientKeepAliveTimeoutMs, clientMaxRequestsPerConnection } = fastify.gatewayConfig;
    // connectionsCheckingInterval is read when the server starts listening; Node's types omit it.
    const server = fastify.server;
    // The whole head (request line and headers) within CLIENT_TIMEOUT: a client that trickles
    // header bytes gets 408 from Node. The whole request is not bounded: a large upload may take
    // long, as long as it keeps sending.
    server.headersTimeout = clientTimeoutMs;
    server.connectionsCheckingInterval = Math.min(MAX_CHECK_INTERVAL_MS, Math.max(MIN_CHECK_INTERVAL_MS, Math.floor(clientTimeoutMs / 4)));
    server.keepAliveTimeout = clientKeepAliveTimeoutMs;
    // Node's 0 is "no limit", as ours is.
    server.maxRequestsPerSocket = clientMaxRequestsPerConnection;
    fastify.addHook('onRequest', (request, reply, done) => {
        if (hasBody(request))
            watchBody(request, reply, clientTimeoutMs);
        done();
    });
}
function hasBody(request) {
    const length = request.headers['content-length'];
    return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}
/**
 * Cuts a client that sends nothing for `timeoutMs` before its body has ended: the connection's
 * inactivity timer runs while the body comes in, and stops once it has.
 */
function watchBody(request, reply, timeoutMs) {
    const raw = request.raw;
    // Node emits 'timeout' on the request while it is incomplete; with a listener it leaves the
    // socket to us.
    raw.setTimeout(timeoutMs, () => {
        request.log.warn({ clientTimeoutMs: timeoutMs }, 'The client sent nothing for CLIENT_TIMEOUT in the middle of its request body; cutting it');
        // Destroying the body (and with it the connection) is what ends a body already streaming
        // upstream: once a response has finished, Node no longer aborts an unfinished body itself.
        const cut = () => { raw.destroy(new Error('the client sent nothing for CLIENT_TIMEOUT')); };
        if (reply.sent || reply.raw.headersSent) {
            cut();
            return;
        }
        reply.raw.once('finish', cut);
        reply.code(408).header('connection', 'close').send({ error: 'client_timeout', message: 'the request body stalled; send it again' });
    });
    raw.once('end', () => {
        // Once the response has finished, Node's keep-alive timer owns the socket's timeout.
        if (!reply.raw.writableFinished)
            raw.socket.setTimeout(0);
    });
    // Answered before its body ended (a refused key, an unknown admin route): Node has just set
    // its keep-alive timer on the connection; while the body is still due, ours applies.
    reply.raw.once('finish', () => {
        if (!raw.complete)
            raw.setTimeout(timeoutMs);
    });
}
export default fp(clientLimitsPlugin, { name: 'tokengate-client-limits', fastify: '5.x', dependencies: ['tokengate-config'] });
