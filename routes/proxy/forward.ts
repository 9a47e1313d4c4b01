// The proxy's forwarding: one request handed to undici's dispatch API and the upstream's answer
// written to the client's socket as it comes, chunk by chunk (a server-sent-events stream is never
// held back), with backpressure both ways: the client's request body streams to the upstream at
// the upstream's pace, and a client that reads slowly pauses the upstream's body. It replaces
// @fastify/reply-from on the hot path and keeps what that did: hop-by-hop headers (and those a
// Connection header names) stay on their hop both ways, Host names the upstream, the route's
// timeout bounds the wait for the response headers (504), a failure before them is a 502.
import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import type { GatewayRoute } from '../../plugins/routing.js'
import { isCertificateError } from '../../src/utils/tlsErrors.js'
import { sendUpstreamBusy } from './capacity.js'
import type { RequestSpans } from './tracing.js'

/** A 401 the upstream sent, its body held back until the watcher says what becomes of it. */
export interface HeldAnswer {
  /** Sends the 401 on to the client as it came. */
  passOn: () => void
  /** Discards it: the upstream's body is aborted, nothing reaches the client. */
  discard: () => void
}

/** Decides what becomes of a 401 (replay.ts); it must call passOn or discard exactly once. */
export type UnauthorizedWatch = (request: FastifyRequest, reply: FastifyReply, held: HeldAnswer) => void

/** Sends the request to `dest` at its route's upstream; `watch`, when given, receives a 401 instead of the client. */
export type Forward = (request: FastifyRequest, reply: FastifyReply, dest: string, watch: UnauthorizedWatch | null) => void

export interface ForwardOptions {
  /** The undici dispatcher that reaches the route's upstream. */
  dispatcherOf: (route: GatewayRoute) => Dispatcher
  spans: RequestSpans
}

// Credentials meant for the gateway itself; the upstream never sees them (the client's
// authorization is replaced by the gateway's bearer token).
const GATEWAY_KEY_HEADERS = ['x-api-key', 'x-admin-key'] as const
// Hop-by-hop headers a plain request may carry that undici refuses to send (the request would
// fail as a 502 blamed on the upstream): Node has already answered Expect: 100-continue itself,
// an Upgrade that reaches this path is no WebSocket upgrade (those take the upgrade path), and
// the body is framed anew for the upstream (Transfer-Encoding).
const CONSUMED_HEADERS = ['connection', 'expect', 'keep-alive', 'upgrade', 'transfer-encoding'] as const
// What the upstream is never sent as the client sent it (Host and Authorization are the gateway's).
const NOT_FORWARDED = new Set<string>([...CONSUMED_HEADERS, ...GATEWAY_KEY_HEADERS, 'host', 'authorization'])
// The upstream's headers that describe its connection to the gateway, not the client's
// (RFC 9110 §7.6.1): passed on, its "keep-alive" would hold open a socket the client asked to
// close, and its "close" would close one the client wants to keep. Node frames the body to the
// client itself (Transfer-Encoding).
const UPSTREAM_HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding'])
// A path made of these characters, with no '.' or '/' segment (no "./", no "//"), is what the
// URL parser would make of it: sent as it is, without parsing it on the hot path.
const PLAIN_PATH = /^(?:\/[\w\-~!$&'()*+,;=:@][\w\-~!$&'()*+,;=:@.]*)*\/?$/
const NONE_LISTED: readonly string[] = []
// The code undici gave its own headers timeout, kept for the logs.
const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT'
// The gateway's own shortage, not the upstream's fault: no descriptor left for a new connection.
const OUT_OF_DESCRIPTORS = new Set(['EMFILE', 'ENFILE'])

/** Makes the proxy's forwarding function; the upstream of each request is its route's. */
export function createForward ({ dispatcherOf, spans }: ForwardOptions): Forward {
  // The Host each upstream is sent, as its URL spells it (no default port): made once per route.
  const hosts = new WeakMap<GatewayRoute, string>()
  const hostOf = (route: GatewayRoute): string => {
    let host = hosts.get(route)
    if (host === undefined) {
      host = new URL(route.upstreamOrigin).host
      hosts.set(route, host)
    }
    return host
  }

  return (request, reply, dest, watch) => {
    const route = request.gatewayRoute!
    const headers = upstreamHeaders(request, hostOf(route))
    spans.inject(request, headers)
    const raw = request.raw
    const queryAt = raw.url!.indexOf('?')
    // As relative to the origin ('./'), a path that starts with '//' stays a path, never a host.
    const path = (PLAIN_PATH.test(dest) ? dest : new URL(`.${dest}`, `${route.upstreamOrigin}/`).pathname) +
      (queryAt > 0 ? raw.url!.slice(queryAt) : '')
    const body = request.replayBody ?? bodyOf(request, headers)
    const exchange = new UpstreamExchange(request, reply, watch, route.timeoutMs, body)
    request.upstreamSentAt = performance.now()
    // What undici refuses to send (a header value, say) comes back as onResponseError: a 502.
    dispatcherOf(route).dispatch({
      origin: route.upstreamOrigin,
      path,
      method: raw.method as Dispatcher.HttpMethod,
      headers,
      body,
      // The route's timeout is the exchange's own timer: undici's is one of its fast timers,
      // which outlive the request by up to a second and so reach V8's old generation, a third
      // of what each request left there (bench/ measured 28.5 MB promoted against 18.7 MB).
      headersTimeout: 0,
      // A started stream (server-sent events) runs as long as the upstream keeps it open.
      bodyTimeout: 0
    }, exchange)
  }
}

/**
 * What is sent as the request's body. @fastify/http-proxy's parser hands bodies over as the
 * client's stream, which streams on; Fastify's own text/plain parser has read the body into a
 * string, sent with its length and its media type without parameters, as reply-from sent it.
 */
function bodyOf (request: FastifyRequest, headers: IncomingHttpHeaders): Readable | string {
  const body = request.body
  if (typeof body === 'string' && body !== '') {
    headers['content-length'] = String(Buffer.byteLength(body))
    headers['content-type'] = headers['content-type']!.split(';', 1)[0].trim().toLowerCase()
    return body
  }
  return body instanceof Readable ? body : ''
}

/** The headers sent upstream: the client's, without hop-by-hop ones and the gateway's keys, with the bearer. */
function upstreamHeaders (request: FastifyRequest, host: string): IncomingHttpHeaders {
  const client = request.raw.headers
  // A header the client names in Connection stays on its hop; the gateway's own are set after
  // the copy, so a client cannot strip them by naming them.
  const listed = namesListedIn(client.connection)
  // A copy of what is kept rather than a spread with the rest set to undefined: the spread of
  // Node's header object, with properties added and blanked, cost 4–5 µs a request (0.1–0.2 µs so).
  const headers: IncomingHttpHeaders = {}
  for (const name in client) {
    if (NOT_FORWARDED.has(name) || listed.includes(name)) continue
    headers[name] = client[name]
  }
  headers.host = host
  headers.authorization = `Bearer ${request.upstreamToken}`
  return headers
}

/** The header names a Connection header lists; none for the usual `keep-alive` and `close`. */
function namesListedIn (connection: string | string[] | undefined): readonly string[] {
  return typeof connection !== 'string' || connection === 'keep-alive' || connection === 'close'
    ? NONE_LISTED
    : connection.toLowerCase().split(',').map((name) => name.trim())
}

/**
 * One request's exchange with the upstream, as an undici dispatch handler: the answer's head is
 * written when it comes, its chunks as they come, and the client's departure aborts it.
 */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null
  /** Set once the response's head has gone to the client (the reply is then hijacked). */
  private streaming = false
  /** Set when this exchange no longer speaks for the client (its 401 discarded, the client gone). */
  private done = false
  private readonly onClientClose = (): void => {
    if (this.raw.writableFinished) return
    this.done = true
    this.stopHeadersTimer()
    this.controller?.abort(new Error('the client closed the connection'))
  }

  private readonly onDrain = (): void => { this.controller?.resume() }

  private readonly raw: FastifyReply['raw']
  /** Until the response's head: the route's timeout, counted from when the request's body was sent. */
  private headersTimer: NodeJS.Timeout | null
  private readonly onHeadersTimeout = (): void => {
    this.headersTimer = null
    const timeout = Object.assign(new Error('the upstream did not send its response headers in time'), { code: HEADERS_TIMEOUT })
    // Not yet on a connection (still connecting): answered now, the request aborted once it starts.
    if (this.controller === null) this.onResponseError(null, timeout)
    else this.controller.abort(timeout)
  }

  constructor (private readonly request: FastifyRequest, private readonly reply: FastifyReply, private readonly watch: UnauthorizedWatch | null,
    timeoutMs: number, body: Readable | Buffer | string) {
    this.raw = reply.raw
    this.raw.once('close', this.onClientClose)
    this.headersTimer = setTimeout(this.onHeadersTimeout, timeoutMs)
    // As undici counted it: the wait for the answer starts again once the whole body is sent.
    if (body instanceof Readable) body.once('end', () => { this.headersTimer?.refresh() })
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.controller = controller
    // The client left, or the timeout passed, before the request was sent.
    if (this.done) controller.abort(new Error('the client closed the connection'))
  }

  onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // An informational answer (103 Early Hints) comes before the real one: not passed on, as
    // reply-from did not either.
    if (statusCode < 200) return
    this.stopHeadersTimer()
    const request = this.request
    request.upstreamLatencyMs = performance.now() - request.upstreamSentAt
    // The client was already answered (cut with 408 for a body that stalled, its cut crossing
    // this head on the way): the answer has nowhere to go.
    /* c8 ignore next 4 -- a race of the 408 and the upstream's head that no test can order */
    if (this.reply.sent) {
      this.finish(controller)
      return
    }
    if (statusCode > 599) {
      this.finish(controller)
      upstreamFailed(this.reply, { code: undefined, statusCode: 502 })
      return
    }
    if (statusCode === 401 && this.watch !== null) {
      controller.pause()
      this.watch(request, this.reply, {
        passOn: () => {
          // The client left, or the upstream broke off, while the watcher waited: nothing to pass on.
          if (this.done) return
          this.sendHead(statusCode, headers)
          controller.resume()
        },
        discard: () => { this.finish(controller) }
      })
      return
    }
    this.sendHead(statusCode, headers)
  }

  // An aborted exchange gets no more data nor its end (undici's promise): no check for them here.
  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // The client's socket is full: the upstream waits until it drains.
    if (!this.raw.write(chunk)) {
      controller.pause()
      this.raw.once('drain', this.onDrain)
    }
  }

  onResponseEnd (): void {
    this.done = true
    this.raw.end()
  }

  onResponseError (_controller: Dispatcher.DispatchController | null, error: Error & { code?: string }): void {
    if (this.done) return
    this.done = true
    this.stopHeadersTimer()
    this.raw.off('close', this.onClientClose)
    // The head is out: the client learns of the broken body only by its connection closing.
    if (this.streaming) {
      this.raw.destroy()
      return
    }
    // The client was answered already (408 for a body that stalled, which is what broke this
    // request off) or is gone: nothing more to say to it.
    if (this.reply.sent || this.raw.destroyed) return
    const timedOut = error.code === HEADERS_TIMEOUT || error.code === 'UND_ERR_CONNECT_TIMEOUT'
    upstreamFailed(this.reply, { code: error.code, statusCode: timedOut ? 504 : 502 })
  }

  /** Stops listening for this exchange and aborts what is left of the upstream's answer. */
  private finish (controller: Dispatcher.DispatchController): void {
    this.done = true
    this.stopHeadersTimer()
    this.raw.off('close', this.onClientClose)
    controller.abort(new Error('the upstream\'s answer is not needed'))
  }

  private stopHeadersTimer (): void {
    if (this.headersTimer === null) return
    clearTimeout(this.headersTimer)
    this.headersTimer = null
  }

  private sendHead (statusCode: number, upstream: IncomingHttpHeaders): void {
    const headers: Record<string, string | string[]> = {}
    const listed = namesListedIn(upstream.connection)
    // undici's parser refuses a value with a control character (a 502): what comes is fit to send.
    for (const name in upstream) {
      if (UPSTREAM_HOP_HEADERS.has(name) || listed.includes(name)) continue
      headers[name] = upstream[name]!
    }
    // An HTTP/1 connection cannot carry another request until this one's body has been read:
    // the client's is closed when the upstream answered before the body ended.
    if (!this.request.raw.complete) headers.connection = 'close'
    this.reply.hijack()
    this.streaming = true
    this.raw.writeHead(statusCode, headers)
  }
}

/** Answers a request the upstream never answered: 504 for a timeout, 503 without a descriptor, else 502. */
export function upstreamFailed (reply: FastifyReply, { code, statusCode }: { code: string | undefined, statusCode: number }): void {
  /* c8 ignore start -- needs a process out of descriptors: test/integration/capacity.test.ts runs the built gateway under `ulimit -n` (child processes are not counted) */
  if (code !== undefined && OUT_OF_DESCRIPTORS.has(code)) {
    reply.log.warn({ code }, 'No file descriptor left for an upstream connection; answering 503')
    sendUpstreamBusy(reply)
    return
  }
  /* c8 ignore stop */
  const timedOut = statusCode === 504
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
