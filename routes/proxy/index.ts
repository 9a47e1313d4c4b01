// The proxy scope: every path not served locally goes to the upstream of its route (the longest
// matching prefix) with the bearer token of the route's credential; a path no route matches is
// answered 404 no_route. Its pieces are plugins registered here in the order their hooks run
// (request span, route, API key, token), then @fastify/http-proxy with the handler that holds an
// upstream slot, replays after a 401 and hands upgrades to the WebSocket relay. They live in this
// one encapsulated scope, so health and admin routes never run the token hook.
import { METHODS } from 'node:http'
import { rootCertificates } from 'node:tls'
import fastifyHttpProxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Agent, type Dispatcher } from 'undici'
import type { GatewayRoute } from '../../plugins/routing.js'
import { RouteTable } from '../../src/routing/routeTable.js'
import { ByteBudget } from '../../src/utils/byteBudget.js'
import { ConnectionSlots } from '../../src/utils/connectionSlots.js'
import { isCertificateError } from '../../src/utils/tlsErrors.js'
import apiKeys from './api-keys.js'
import { sendUpstreamBusy, withUpstreamSlot } from './capacity.js'
import unauthorizedReplay from './replay.js'
import routeMatch from './route-match.js'
import requestSpans from './tracing.js'
import { UpstreamDispatchers, taggedDispatcher } from './upstream-dispatchers.js'
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

// Credentials meant for the gateway itself; the upstream never sees them (the client's
// authorization is replaced by the gateway's bearer token).
const GATEWAY_KEY_HEADERS = ['x-api-key', 'x-admin-key'] as const
// Hop-by-hop headers a plain request may carry that undici refuses to send (the request would
// fail as a 502 blamed on the upstream): Node has already answered Expect: 100-continue itself,
// and an Upgrade that reaches this path is no WebSocket upgrade (those take the upgrade path).
const CONSUMED_HEADERS = ['expect', 'keep-alive', 'upgrade'] as const
// Every method Node's parser knows is proxied (WebDAV, PURGE, QUERY, …) but CONNECT, which asks
// for a tunnel, and TRACE, which would echo the request's headers back, credentials included.
const REFUSED_METHODS = new Set(['CONNECT', 'TRACE'])
export const PROXIED_METHODS = METHODS.filter((method) => !REFUSED_METHODS.has(method))

export default async function proxyRoutes (fastify: FastifyInstance): Promise<void> {
  const config = fastify.gatewayConfig
  // UPSTREAM_CA_FILE adds a private CA to the system's; it never turns verification off.
  const ca = config.upstreamCa === null ? undefined : [...rootCertificates, config.upstreamCa]
  // Our own dispatcher: reply-from's default turns TLS verification off. It keeps one pool per
  // upstream origin. bodyTimeout 0 lets a started stream (server-sent events) run as long as the
  // upstream keeps it open; reply-from sets the route's timeout as both its headers and body
  // timeout, so the body's is taken off again for every request.
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
  const dispatcher = agent.compose((dispatch: Dispatcher['dispatch']) => (options, handler) => {
    options.bodyTimeout = 0
    const own = taggedDispatcher(options)
    return own === undefined ? dispatch(options, handler) : own.dispatch(options, handler)
  })
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

  await fastify.register(unauthorizedReplay, { budget: replayBudget })
  const forward = withUpstreamSlot(slots, fastify.unauthorizedReplay)
  // @fastify/http-proxy's own WebSocket support relays without backpressure: ours takes the
  // upgrades, after the same hooks and the same check of the destination as any request.
  await fastify.register(webSocketProxy, { ca, maxMessageBytes: config.wsMaxMessageBytes, clientCertificateOf: (route) => routePools.pairOf(route) })
  const webSockets = fastify.webSocketProxy

  await fastify.register(fastifyHttpProxy, {
    // No upstream of its own: each request goes to its route's (getUpstream below), its path
    // rewritten from the route's prefix to the upstream's in the handler.
    upstream: '',
    undici: dispatcher,
    // A transparent proxy: the upstream's 503 goes to the client as it came, never replayed.
    retryMethods: [],
    httpMethods: PROXIED_METHODS,
    disableRequestLogging: true,
    // Called with the request's path, already checked (no '..' segments); the route's prefix is
    // replaced by its upstream's path.
    handler: (request, reply, dest, options) => {
      const upstreamDest = upstreamPathOf(request.gatewayRoute!, dest)
      return webSockets.isUpgrade(request)
        ? webSockets.relay(request, reply, upstreamDest)
        : spans.within(request, () => forward(request, reply, upstreamDest, options))
    },
    websocket: false,
    replyOptions: {
      getUpstream: (request) => (request as FastifyRequest).gatewayRoute!.upstreamOrigin,
      rewriteRequestHeaders: (request, headers) => {
        request.upstreamSentAt = performance.now()
        for (const name of CONSUMED_HEADERS) delete headers[name]
        spans.inject(request, headers)
        return withBearer(request.upstreamToken, routePools.tag(request.gatewayRoute!, headers))
      },
      // Called when the upstream's response headers arrive, before the body streams. reply-from
      // always passes the request; its type leaves it optional.
      rewriteHeaders: (headers, request) => {
        request!.upstreamLatencyMs = performance.now() - request!.upstreamSentAt
        return withoutConnectionHeaders(headers)
      },
      onError: (reply, { error }) => upstreamFailed(reply, error)
    }
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

// The upstream's Connection and Keep-Alive describe its connection to the gateway, not the
// client's (RFC 9110 §7.6.1): passed on, its "keep-alive" would hold open a socket the client
// asked to close, and its "close" would close one the client wants to keep.
function withoutConnectionHeaders<H extends Record<string, unknown>> (headers: H): H {
  const connection = headers.connection
  if (connection === undefined && headers['keep-alive'] === undefined && headers['proxy-connection'] === undefined) return headers
  // Every response passes here: the usual "keep-alive" / "close" needs no list of its own.
  const listed = typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close'
    ? new Set(connection.split(',').map((name) => name.trim().toLowerCase()))
    : null
  // A new object rather than `delete`: an object that lost properties turns into a slow
  // dictionary, and the proxy goes over every header of it twice more (sanitised, then copied).
  const kept: Record<string, unknown> = {}
  for (const name in headers) {
    if (name === 'connection' || name === 'keep-alive' || name === 'proxy-connection' || listed?.has(name) === true) continue
    kept[name] = headers[name]
  }
  return kept as H
}

function withBearer<H extends Record<string, unknown>> (token: string, headers: H): H {
  // The client's authorization is overwritten, not deleted first: deleting would turn the object
  // into a slow dictionary for the rest of the request.
  for (const name of GATEWAY_KEY_HEADERS) {
    if (headers[name] !== undefined) delete headers[name]
  }
  return Object.assign(headers, { authorization: `Bearer ${token}` })
}

// The gateway's own shortage, not the upstream's fault: no descriptor left for a new connection.
const OUT_OF_DESCRIPTORS = new Set(['EMFILE', 'ENFILE'])

function upstreamFailed (reply: FastifyReply<any, any>, error: Error & { statusCode?: number }): void {
  const timedOut = error.statusCode === 504
  // reply-from wraps the undici error (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, a TLS code) as the cause.
  const code = (error.cause as { code?: string } | undefined)?.code
  /* c8 ignore start -- needs a process out of descriptors: test/integration/capacity.test.ts runs the built gateway under `ulimit -n` (child processes are not counted) */
  if (code !== undefined && OUT_OF_DESCRIPTORS.has(code)) {
    reply.log.warn({ code }, 'No file descriptor left for an upstream connection; answering 503')
    sendUpstreamBusy(reply)
    return
  }
  /* c8 ignore stop */
  reply.log.warn({ code }, timedOut
    ? 'Upstream did not answer in time'
    : isCertificateError(code)
      ? 'Upstream TLS certificate not trusted; answering 502 (a private CA can be trusted with UPSTREAM_CA_FILE)'
      : 'Upstream unreachable')
  if (timedOut) {
    reply.code(504).send({ error: 'upstream_timeout', message: 'the upstream did not send its response headers in time' })
  } else {
    reply.code(502).send({ error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  }
}
