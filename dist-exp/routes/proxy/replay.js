// Upstream 401 recovery for the proxy scope: a token revoked before its expiry shows up only as
// a 401. Such a request gets one forced refresh (shared by every concurrent 401) and is sent
// once more with the new token. Only requests without a body, or with a body of at most
// MAX_REPLAY_BODY_BYTES, can be sent twice: those bodies are read into memory here, in the proxy
// scope only, while the bodies held by all requests together fit in REPLAY_BUFFER_TOTAL; larger
// ones, and any beyond that budget, stream through untouched and their 401 reaches the client as
// it came. The refresh itself goes straight to the identity provider, never through this proxy.
import { PassThrough, pipeline, Readable } from 'node:stream';
import fp from 'fastify-plugin';
export const MAX_REPLAY_BODY_BYTES = 1024 * 1024;
/** Adds the body buffering to the proxy scope and decorates it with the handler that replays. */
async function unauthorizedReplayPlugin(fastify, options) {
    fastify.decorate('unauthorizedReplay', setupUnauthorizedReplay(fastify, options));
}
export default fp(unauthorizedReplayPlugin, { name: 'tokengate-proxy-unauthorized-replay', fastify: '5.x' });
function setupUnauthorizedReplay(fastify, { budget, forward }) {
    fastify.decorateRequest('replayBody', null);
    fastify.decorateRequest('replayable', true);
    fastify.decorateRequest('replayReservedBytes', 0);
    // preHandler: @fastify/http-proxy's parser hands the body over as the raw stream. A request
    // without a body (most of them) passes at once, without the cost of an async hook.
    fastify.addHook('preHandler', (request, reply, done) => {
        if (!(request.body instanceof Readable)) {
            done();
            return;
        }
        readSmallBody(request, reply, request.body, budget).then(() => done(), done);
    });
    const watchFor401 = (dest) => (request, reply, held) => {
        const service = request.gatewayRoute.credential.service;
        if (!request.replayable) {
            // Too large to send twice, but the token was refused: renew it for the requests that
            // follow (in the background; recoverFromUnauthorized never rejects).
            service.recoverFromUnauthorized(request.upstreamToken);
            held.passOn();
            return;
        }
        replayOnce(service, forward, request, reply, held, dest)
            /* c8 ignore next -- nothing in replayOnce throws; a bug there must not become an unhandled rejection */
            .catch((err) => { reply.send(err); });
    };
    return (request, reply, dest) => {
        forward(request, reply, dest, watchFor401(dest));
    };
}
async function replayOnce(service, forward, request, reply, held, dest) {
    const token = await service.recoverFromUnauthorized(request.upstreamToken);
    if (token === null) {
        request.log.warn('Upstream answered 401 and no new token could be obtained; passing the 401 on');
        held.passOn();
        return;
    }
    // The 401's body is not needed.
    held.discard();
    // The client left, or was answered, while the token was renewed: nothing to send again.
    if (reply.sent || reply.raw.destroyed)
        return;
    request.log.info('Upstream answered 401; sending the request once more with a new token');
    request.upstreamToken = token;
    // Without a watch: whatever the second answer is, a 401 included, goes to the client.
    forward(request, reply, dest, null);
}
async function readSmallBody(request, reply, body, budget) {
    const declared = Number(request.headers['content-length']);
    // A declared length over the limit streams at once, without reading a byte; one within it is
    // reserved whole before a byte is read (a client that stalls half-way holds what it announced).
    if (declared > MAX_REPLAY_BODY_BYTES || (declared > 0 && !reserve(request, reply, budget, declared))) {
        request.replayable = false;
        return;
    }
    // A chunked body reserves as it arrives.
    const accept = declared > 0 ? null : (bytes) => reserve(request, reply, budget, bytes);
    const { chunks, complete } = await readUpTo(body, MAX_REPLAY_BODY_BYTES, accept);
    if (complete) {
        // Sent from memory, as many times as needed (forward.ts prefers it to the body stream).
        request.replayBody = Buffer.concat(chunks);
        return;
    }
    // A chunked body that outgrew the limit or the budget: what was read goes first, the rest streams behind it.
    request.replayable = false;
    const rest = new PassThrough();
    for (const chunk of chunks)
        rest.write(chunk);
    pipeline(body, rest, () => { });
    request.body = rest;
}
/** Takes `bytes` from the budget for this request; the whole reservation is given back when its response closes. */
function reserve(request, reply, budget, bytes) {
    if (!budget.tryReserve(bytes))
        return false;
    if (request.replayReservedBytes === 0)
        reply.raw.once('close', () => { budget.release(request.replayReservedBytes); });
    request.replayReservedBytes += bytes;
    return true;
}
/**
 * Reads until the end or until more than `limit` bytes arrived (or `accept` refuses a chunk),
 * leaving the rest unread.
 */
function readUpTo(stream, limit, accept) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        const done = () => {
            stream.off('data', onData);
            stream.off('end', onEnd);
            stream.off('error', onGone);
            stream.off('close', onGone);
        };
        const onData = (chunk) => {
            chunks.push(chunk);
            size += chunk.length;
            if (size > limit || (accept !== null && !accept(chunk.length))) {
                done();
                stream.pause();
                resolve({ chunks, complete: false });
            }
        };
        const onEnd = () => {
            done();
            resolve({ chunks, complete: true });
        };
        // A client that goes away mid-body ('error', then 'close'): nothing more will come.
        const onGone = () => {
            done();
            reject(new Error('the client closed the connection before its request body ended'));
        };
        stream.on('data', onData);
        stream.on('end', onEnd);
        stream.on('error', onGone);
        stream.on('close', onGone);
    });
}
