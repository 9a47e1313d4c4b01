// Upstream capacity for the proxy scope: a request holds one of UPSTREAM_MAX_CONNECTIONS slots
// from the moment it is handed to the upstream until its response ends (a stream holds it for
// its whole length). With every slot held, a request waits in line up to the route's timeout and
// then gets 503 upstream_busy with Retry-After: never an endless wait behind long streams.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ConnectionSlots, ReleaseSlot } from '../../src/utils/connectionSlots.js'

type ProxyHandler = (request: FastifyRequest, reply: FastifyReply, dest: string) => unknown

// A slot frees up whenever any response ends; a client should come back soon, not in minutes.
const UPSTREAM_BUSY_RETRY_AFTER_S = 1

export function withUpstreamSlot (slots: ConnectionSlots, handler: ProxyHandler): ProxyHandler {
  return (request, reply, dest) => {
    // The common case takes a free slot without a promise on the hot path.
    const release = slots.tryAcquire()
    if (release !== null) return forward(release, handler, request, reply, dest)
    return slots.acquire(request.gatewayRoute!.timeoutMs, (cancel) => { reply.raw.once('close', cancel) }).then((granted) => {
      if (granted !== null) {
        forward(granted, handler, request, reply, dest)
        // Fastify waits for the reply to end (it is thenable) rather than answering an empty one.
        return reply
      }
      // The wait ended because the client left: nothing to answer.
      if (reply.raw.destroyed) return
      request.log.warn({ inUse: slots.inUse, waiting: slots.waiting },
        'No upstream connection free within the route\'s timeout (UPSTREAM_MAX_CONNECTIONS in use); answering 503')
      return sendUpstreamBusy(reply)
    })
  }
}

/** 503 upstream_busy: no upstream connection to be had now (every slot held, or no descriptor left). */
export function sendUpstreamBusy (reply: FastifyReply<any, any>): FastifyReply<any, any> {
  return reply.code(503).header('retry-after', String(UPSTREAM_BUSY_RETRY_AFTER_S))
    .send({ error: 'upstream_busy', message: 'every upstream connection is in use; try again shortly' })
}

function forward (release: ReleaseSlot, handler: ProxyHandler, request: FastifyRequest, reply: FastifyReply, dest: string): unknown {
  // 'close' comes when the response has ended or the client has gone, whichever is first; a
  // client that left while its request waited (for a token, say) has had its 'close' already.
  if (reply.raw.destroyed) {
    release()
    return
  }
  reply.raw.once('close', release)
  return handler(request, reply, dest)
}
