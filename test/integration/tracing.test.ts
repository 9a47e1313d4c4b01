// OpenTelemetry, against a real OTLP/HTTP receiver started here and decoded as it arrives: one
// span per proxied request (continuing the client's trace), a child span for the refresh that
// request waited for, the W3C trace context carried to the identity provider and the upstream,
// and never a token, a key or a query string in what is exported. Off (no
// OTEL_EXPORTER_OTLP_ENDPOINT), the proxy passes the client's traceparent as it came.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { startGateway } from '../helpers/app.js'
import { rawConnection } from '../helpers/rawClient.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

interface OtlpValue { stringValue?: string, intValue?: string | number, doubleValue?: number, boolValue?: boolean }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: Array<{ key: string, value: OtlpValue }>
  status?: { code?: number }
}
interface OtlpExport {
  resourceSpans: Array<{ resource: { attributes: Array<{ key: string, value: OtlpValue }> }, scopeSpans: Array<{ spans: OtlpSpan[] }> }>
}

async function otlpReceiver (t: Test): Promise<{ url: string, bodies: string[], spans: () => OtlpSpan[], exports: () => OtlpExport[] }> {
  const bodies: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      if (req.method === 'POST' && req.url!.endsWith('/v1/traces')) bodies.push(Buffer.concat(chunks).toString('utf8'))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const exports = (): OtlpExport[] => bodies.map((body) => JSON.parse(body) as OtlpExport)
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    exports,
    spans: () => exports().flatMap((e) => e.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
  }
}

const attributes = (span: OtlpSpan): Record<string, unknown> =>
  Object.fromEntries(span.attributes.map(({ key, value }) => [key, value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue ?? value.boolValue)]))

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'

/** 401 for the token it is told to refuse, else the echo of what it got (its headers included). */
async function refusingUpstream (t: Test): Promise<{ url: string, refuse: { token: string }, received: Array<Record<string, unknown>> }> {
  const state = { url: '', refuse: { token: '' }, received: [] as Array<Record<string, unknown>> }
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      state.received.push(req.headers)
      const refused = req.headers.authorization === `Bearer ${state.refuse.token}`
      res.writeHead(refused ? 401 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ refused }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return state
}

t.test('a request whose token the upstream refuses: one trace from the client through the refresh and the identity provider to the upstream', async (t) => {
  const receiver = await otlpReceiver(t)
  const idp = await identityProvider(t, { tokenTtlSeconds: 3600 })
  const upstream = await refusingUpstream(t)
  const revoked = idp.mint(3600)
  upstream.refuse.token = revoked
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: revoked,
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    GATEWAY_ADMIN_KEY: 'admin-key-tracing',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url
  })
  t.equal(gw.app.tracingEnabled, true)
  const res = await request(`${gw.url}/v1/items?key=query-secret`, {
    headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, authorization: 'Bearer client-secret-token' }
  })
  t.equal(res.statusCode, 200, 'refused once, refreshed, replayed')
  await res.body.dump()
  // A client that goes away in the middle: its span ends, marked.
  const abandoned = await rawConnection(t, gw.url)
  abandoned.socket.write('POST /slow HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\npart')
  await new Promise((resolve) => setTimeout(resolve, 100))
  abandoned.socket.destroy()
  await new Promise((resolve) => setTimeout(resolve, 100))
  await gw.app.close() // flushes the batch

  const spans = receiver.spans()
  const requestSpan = spans.find((span) => span.name === 'GET /')
  const refreshSpan = spans.find((span) => span.name === 'token refresh')
  t.ok(requestSpan && refreshSpan, `a request span and a refresh span (${spans.map((s) => s.name).join(', ')})`)
  t.equal(requestSpan!.traceId, CLIENT_TRACE, 'the client\'s trace continues')
  t.equal(requestSpan!.parentSpanId, CLIENT_SPAN)
  t.equal(requestSpan!.kind, 2, 'a server span')
  t.same(attributes(requestSpan!), {
    'http.request.method': 'GET',
    'http.route': '/',
    'url.path': '/v1/items',
    'tokengate.credential': 'default',
    'http.response.status_code': 200,
    'tokengate.upstream_latency_ms': attributes(requestSpan!)['tokengate.upstream_latency_ms']
  })
  t.type(attributes(requestSpan!)['tokengate.upstream_latency_ms'], 'number', 'with the upstream\'s latency')
  t.equal(refreshSpan!.traceId, CLIENT_TRACE)
  t.equal(refreshSpan!.parentSpanId, requestSpan!.spanId, 'the refresh is the request\'s child')
  t.same(attributes(refreshSpan!), {
    'tokengate.credential': 'default',
    'tokengate.grant': 'json',
    'tokengate.refresh.trigger': 'upstream-401',
    'tokengate.refresh.outcome': 'success',
    'tokengate.refresh.attempts': 1
  })
  t.equal(idp.calls.at(-1)?.traceparent, `00-${CLIENT_TRACE}-${refreshSpan!.spanId}-01`, 'the identity provider got the refresh span\'s context')
  t.same(upstream.received.map((headers) => headers.traceparent), [`00-${CLIENT_TRACE}-${requestSpan!.spanId}-01`, `00-${CLIENT_TRACE}-${requestSpan!.spanId}-01`],
    'the upstream got the request span\'s, the refused try and the replay alike')
  const abortedSpan = spans.find((span) => span.name === 'POST /')
  t.equal(abortedSpan?.status?.code, 2, 'a request whose client went away ends its span in error')
  const resource = receiver.exports()[0].resourceSpans[0].resource.attributes
  t.ok(resource.some(({ key, value }) => key === 'service.name' && value.stringValue === 'tokengate'), 'service.name is tokengate')

  const exported = receiver.bodies.join('\n')
  for (const secret of [revoked, ...idp.issued, idp.validRefreshToken, ...idp.calls.map((c) => String(c.refreshToken)), 'admin-key-tracing', 'client-secret-token', 'query-secret']) {
    t.notOk(exported.includes(secret), `nothing exported holds ${secret.slice(0, 10)}…`)
  }
  t.match(gw.logText(), /Exporting traces to http:\/\/127\.0\.0\.1:\d+\/v1\/traces/)
})

t.test('a background refresh that fails is a trace of its own, with its reason and attempts', async (t) => {
  const receiver = await otlpReceiver(t)
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  idp.failNext('invalid_grant')
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(3600),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`,
    OTEL_SERVICE_NAME: 'gateway-eu'
  })
  await gw.app.tokenService.refreshAccessToken('admin').catch(() => {})
  await gw.app.close()
  const [refresh] = receiver.spans().filter((span) => span.name === 'token refresh')
  t.equal(refresh.parentSpanId ?? '', '', 'no parent')
  t.match(attributes(refresh), { 'tokengate.refresh.trigger': 'admin', 'tokengate.refresh.outcome': 'failure', 'tokengate.refresh.reason': 'invalid_grant', 'tokengate.refresh.attempts': 1 })
  t.equal(refresh.status?.code, 2, 'an error status')
  t.ok(receiver.exports()[0].resourceSpans[0].resource.attributes.some(({ key, value }) => key === 'service.name' && value.stringValue === 'gateway-eu'))
})

t.test('an answer of 5xx is a span in error; an upgrade, which leaves Fastify\'s lifecycle, has none', async (t) => {
  const receiver = await otlpReceiver(t)
  const gw = await startGateway(t, { UPSTREAM_URL: 'http://127.0.0.1:9/otlp-path', AUTH_TOKEN: 'opaque-token', OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/collector` })
  const res = await request(`${gw.url}/x`)
  t.equal(res.statusCode, 502, 'the upstream cannot be reached')
  await res.body.dump()
  // A spelling of /admin/ the proxy scope refuses before any route is matched: a span without a route.
  const admin = await request(`${gw.url}/admin%2Fx`)
  t.equal(admin.statusCode, 404)
  await admin.body.dump()
  const socket = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`)
  await new Promise((resolve) => { socket.once('close', resolve); socket.once('error', resolve) })
  await gw.app.close()
  t.match(gw.logText(), `Exporting traces to ${receiver.url}/collector/v1/traces`, 'OTLP\'s path under the endpoint\'s own')
  const spans = receiver.spans()
  t.same(spans.map((span) => [span.name, attributes(span)['http.response.status_code'], span.status?.code, attributes(span)['http.route']]),
    [['GET /', 502, 2, '/'], ['GET', 404, 0, undefined]], 'a span in error, one without a route; none for the upgrade')
})

// The token hook runs inside the request's span; an upgrade has none, and waits for its refresh all the same.
t.test('an upgrade whose token has expired waits for the refresh, still without a span of its own', async (t) => {
  const receiver = await otlpReceiver(t)
  // Slow enough that the start-up refresh is still in flight when the upgrade arrives.
  const idp = await identityProvider(t, { delayMs: 300 })
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(-60),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`
  })
  const socket = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`)
  await new Promise((resolve) => { socket.once('close', resolve); socket.once('error', resolve) })
  t.equal(idp.calls.length, 1, 'one refresh, the start-up one, which the upgrade waited for')
  t.equal(upstream.received.length, 1, 'then the upgrade went upstream')
  t.equal(upstream.received[0].headers.authorization, `Bearer ${idp.issued[0]}`, 'with the new token')
  await gw.app.close()
  t.same(receiver.spans().filter((span) => span.kind === 2).map((span) => span.name), [], 'no server span for the upgrade')
})

t.test('off: no span, no trace context of the gateway\'s own; the client\'s passes as it came', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl })
  t.equal(gw.app.tracingEnabled, false)
  const res = await request(`${gw.url}/x`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } })
  await res.body.dump()
  t.equal(upstream.received.at(-1)?.headers.traceparent, `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`)
  t.equal(idp.calls.at(-1)?.traceparent, undefined, 'the identity provider gets none')
})
