// The proxy scope: every path not served locally goes to the upstream of its route (the longest
// matching prefix) with the bearer token of the route's credential; a path no route matches is
// answered 404 no_route. Its pieces are plugins registered here in the order their hooks run
// (request span, route, API key, token), then @fastify/http-proxy with the handler that holds an
// upstream slot, forwards on undici's dispatch API (forward.ts), replays after a 401 and hands
// upgrades to the WebSocket relay. They live in this one encapsulated scope, so health and admin
// routes never run the token hook.
import { METHODS } from 'node:http'
import { rootCertificates } from 'node:tls'
import fastifyHttpProxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Agent, type Dispatcher } from 'undici'
import type { GatewayRoute } from '../../plugins/routing.js'
import { RouteTable } from '../../src/routing/routeTable.js'
import { ByteBudget } from '../../src/utils/byteBudget.js'
import { ConnectionSlots } from '../../src/utils/connectionSlots.js'
import apiKeys from './api-keys.js'
import { withUpstreamSlot } from './capacity.js'
import { createForward } from './forward.js'
import unauthorizedReplay from './replay.js'
import routeMatch from './route-match.js'
import requestSpans from './tracing.js'
import { UpstreamDispatchers } from './upstream-dispatchers.js'
import upstreamToken from './upstream-token.js'
import webSocketProxy from './websocket.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request was handed to the upstream. */
    upstreamSentAt: number
    /** Until the upstream's response headers, in ms; null while (or when never) answered. */
    upstreamLatencyMs: number | null
  }
}

// Every method Node's parser knows is proxied (WebDAV, PURGE, QUERY, …) but CONNECT, which asks
// for a tunnel, and TRACE, which would echo the request's headers back, credentials included.
const REFUSED_METHODS = new Set(['CONNECT', 'TRACE'])
export const PROXIED_METHODS = METHODS.filter((method) => !REFUSED_METHODS.has(method))

export default async function proxyRoutes (fastify: FastifyInstance): Promise<void> {
  const config = fastify.gatewayConfig
  // UPSTREAM_CA_FILE adds a private CA to the system's; it never turns verification off.
  const ca = config.upstreamCa === null ? undefined : [...rootCertificates, config.upstreamCa]
  // Our own dispatcher, which always verifies TLS, with one pool per upstream origin. bodyTimeout 0 lets a started stream (server-sent events) run as long as the
  // upstream keeps it open (forward.ts sends each request with its route's headers timeout).
  const agentWith = (clientCertificate: { cert: string, key: string } | null): Agent => new Agent({
    headersTimeout: config.upstreamTimeoutMs,
    // As many connections as requests may be in flight: a server-sent-events stream holds its
    // connection for its whole length, so a small pool would let long streams starve every
    // other request. The slots below bound the requests; undici never queues beyond them.
    connections: config.upstreamMaxConnections,
    bodyTimeout: 0,
    keepAliveTimeout: 60_000,
    connect: { rejectUnauthorized: true, ca, ...clientCertificate }
  })
  const agent = agentWith(null)
  // Routes with a client certificate (mutual TLS) each have a pool of their own (upstream-dispatchers.ts).
  const routePools = new UpstreamDispatchers({ build: agentWith, log: fastify.log })
  fastify.gatewayRoutes.onInstall((routes) => { routePools.retain(routes) })
  fastify.addHook('onClose', async () => { await Promise.all([agent.close(), routePools.close()]) })
  // The one place that says which dispatcher reaches a route's upstream.
  const dispatcherOf = (route: GatewayRoute): Dispatcher => routePools.of(route) ?? agent
  const slots = new ConnectionSlots(config.upstreamMaxConnections)
  const replayBudget = new ByteBudget(config.replayBufferTotalBytes)
  fastify.metrics.trackProxyCapacity(() => ({ upstreamInUse: slots.inUse, upstreamWaiting: slots.waiting, replayBufferBytes: replayBudget.inUse }))

  // First of all: the request's span (tracing on) covers what every other hook does. Then the
  // route, the client's key, the route's token.
  await fastify.register(requestSpans)
  await fastify.register(routeMatch)
  await fastify.register(apiKeys)
  await fastify.register(upstreamToken)
  const spans = fastify.requestSpans

  for (const method of PROXIED_METHODS) {
    if (!fastify.supportedMethods.includes(method)) fastify.addHttpMethod(method, { hasBody: true })
  }

  // Metrics and the access log: what the client got, and how long the upstream took to answer.
  fastify.decorateRequest('upstreamSentAt', 0)
  fastify.decorateRequest('upstreamLatencyMs', null)
  fastify.addHook('onResponse', (request, reply, done) => {
    request.gatewayRoute?.metrics.observe(reply.statusCode, request.upstreamLatencyMs)
    done()
  })

  const forward = createForward({ dispatcherOf, spans })
  await fastify.register(unauthorizedReplay, { budget: replayBudget, forward })
  const slotted = withUpstreamSlot(slots, fastify.unauthorizedReplay)
  // @fastify/http-proxy's own WebSocket support relays without backpressure: ours takes the
  // upgrades, after the same hooks and the same check of the destination as any request.
  await fastify.register(webSocketProxy, { ca, maxMessageBytes: config.wsMaxMessageBytes, clientCertificateOf: (route) => routePools.pairOf(route) })
  const webSockets = fastify.webSocketProxy

  await fastify.register(fastifyHttpProxy, {
    // No upstream of its own: each request goes to its route's (forward.ts), its path rewritten
    // from the route's prefix to the upstream's in the handler.
    upstream: '',
    // reply-from, which the plugin registers, is never called (the handler forwards); given
    // the gateway's dispatcher, it opens none of its own.
    undici: agent,
    httpMethods: PROXIED_METHODS,
    disableRequestLogging: true,
    // The plugin is given the path alone: the query goes upstream as the client sent it, taken
    // from the request (forward.ts, websocket.ts), so the plugin need not parse and re-encode it
    // for every request.
    preRewrite: (url) => {
      const query = url.indexOf('?')
      return query === -1 ? url : url.slice(0, query)
    },
    // Called with the request's path, already checked (no '..' segments); the route's prefix is
    // replaced by its upstream's path.
    handler: (request, reply, dest) => {
      const upstreamDest = upstreamPathOf(request.gatewayRoute!, dest)
      return webSockets.isUpgrade(request)
        ? webSockets.relay(request, reply, upstreamDest)
        : spans.within(request, () => slotted(request, reply, upstreamDest))
    },
    websocket: false,
    // Where the plugin checks the path stays (the handler forwards to the same origin).
    replyOptions: { getUpstream: (request) => (request as FastifyRequest).gatewayRoute!.upstreamOrigin }
  })
}

/**
 * The path at the upstream: the route's prefix replaced by the upstream's path. A request target
 * that is no path (`*`, as OPTIONS may send) stays under the upstream's path as a segment of its
 * own, never glued to it (`/v2*` would be outside `/v2`).
 */
export function upstreamPathOf (route: GatewayRoute, dest: string): string {
  const rest = RouteTable.rest(route, dest)
  if (rest === '') return route.upstreamPath === '' ? '/' : route.upstreamPath
  return rest.startsWith('/') ? `${route.upstreamPath}${rest}` : `${route.upstreamPath}/${rest}`
}
