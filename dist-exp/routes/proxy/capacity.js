// A slot frees up whenever any response ends; a client should come back soon, not in minutes.
const UPSTREAM_BUSY_RETRY_AFTER_S = 1;
export function withUpstreamSlot(slots, handler) {
    return (request, reply, dest) => {
        // The common case takes a free slot without a promise on the hot path.
        const release = slots.tryAcquire();
        if (release !== null)
            return forward(release, handler, request, reply, dest);
        return slots.acquire(request.gatewayRoute.timeoutMs, (cancel) => { reply.raw.once('close', cancel); }).then((granted) => {
            if (granted !== null) {
                forward(granted, handler, request, reply, dest);
                // Fastify waits for the reply to end (it is thenable) rather than answering an empty one.
                return reply;
            }
            // The wait ended because the client left: nothing to answer.
            if (reply.raw.destroyed)
                return;
            request.log.warn({ inUse: slots.inUse, waiting: slots.waiting }, 'No upstream connection free within the route\'s timeout (UPSTREAM_MAX_CONNECTIONS in use); answering 503');
            return sendUpstreamBusy(reply);
        });
    };
}
/** 503 upstream_busy: no upstream connection to be had now (every slot held, or no descriptor left). */
export function sendUpstreamBusy(reply) {
    return reply.code(503).header('retry-after', String(UPSTREAM_BUSY_RETRY_AFTER_S))
        .send({ error: 'upstream_busy', message: 'every upstream connection is in use; try again shortly' });
}
function forward(release, handler, request, reply, dest) {
    // 'close' comes when the response has ended or the client has gone, whichever is first; a
    // client that left while its request waited (for a token, say) has had its 'close' already.
    if (reply.raw.destroyed) {
        release();
        return;
    }
    reply.raw.once('close', release);
    return handler(request, reply, dest);
}
