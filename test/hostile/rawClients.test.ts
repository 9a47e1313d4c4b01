// Hostile clients over raw TCP against the gateway as a child process: thousands of requests with
// malformed or oversized headers, odd methods, encoded path tricks, absolute-form targets, '@'
// in paths, smuggling attempts and forged credentials. What reaches the upstream is checked, not
// only the status codes: only the upstream's host and path prefix, only the gateway's own bearer,
// never a client's Authorization, x-api-key or x-admin-key; a canary server on another port
// receives nothing; the gateway never crashes.
import { randomBytes } from 'node:crypto'
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http'
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'

const GATEWAY_TOKEN = `gateway-token-${randomBytes(8).toString('hex')}`
const API_KEY = `client-key-${randomBytes(6).toString('hex')}`
const ADMIN_KEY = `admin-key-${randomBytes(6).toString('hex')}`
const CLIENT_SECRET = `client-bearer-${randomBytes(6).toString('hex')}`
const PROXY_CREDENTIAL = `proxy-credential-${randomBytes(6).toString('hex')}`
const GENERATED = 4000
const CONCURRENCY = 24
const SOCKET_TIMEOUT_MS = 1500

interface Received { method: string, url: string, headers: IncomingHttpHeaders, rawHeaders: string[] }

async function recordingUpstream (t: Test): Promise<{ port: number, received: Received[], parseErrors: () => number }> {
  const received: Received[] = []
  let parseErrors = 0
  const server = createHttpServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders })
    req.resume()
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"upstream":true}') })
  })
  server.on('clientError', (_err, socket) => { parseErrors++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as AddressInfo).port, received, parseErrors: () => parseErrors }
}

/** A plain TCP listener that must never be connected to. */
async function canary (t: Test): Promise<{ port: number, connections: () => number }> {
  let connections = 0
  const server = createTcpServer((socket) => { connections++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as AddressInfo).port, connections: () => connections }
}

let timeouts = 0

/** Writes raw bytes to the gateway and collects what comes back until it closes or time runs out. */
function sendRaw (port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1')
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const timer = setTimeout(() => { timeouts++; done() }, SOCKET_TIMEOUT_MS)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('close', done)
    socket.on('error', done)
    socket.write(bytes)
  })
}

async function inBatches<T, R> (items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index])
    }
  }))
  return results
}

t.test('hostile clients: nothing but the upstream is reached, no client credential is forwarded, the gateway stays up', async (t) => {
  const upstream = await recordingUpstream(t)
  const bird = await canary(t)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: `http://127.0.0.1:${upstream.port}/v2`,
    AUTH_TOKEN: GATEWAY_TOKEN,
    GATEWAY_API_KEYS: `${API_KEY},second-key`,
    GATEWAY_ADMIN_KEY: ADMIN_KEY
  })
  const gatewayPort = Number(new URL(gw.url).port)
  const C = `127.0.0.1:${bird.port}`
  const U = `127.0.0.1:${upstream.port}`

  // Request targets that try to leave the upstream's host or its /v2 prefix.
  const targets = [
    '/', '/x', '/v2/x', '/..', '/../x', '/..%2f..%2fetc/passwd', '/..%2F', '/%2e%2e/%2e%2e/x', '/.%2e/x', '/%2e%2e%2fx', '/x/../../y',
    '/./x', '/x/..;/y', `//${C}/x`, `///${C}/x`, `/\\${C}/x`, `/%2f%2f${C}/x`, `/%5c%5c${C}/x`, `http://${C}/x`, `https://${C}/x`,
    `http://${U}/x`, `http://${C}@${U}/x`, `http://${U}@${C}/x`, `http://user:pass@${C}/`, `/@${C}/x`, `/x@${C}`, `@${C}/x`, `${C}`,
    `${C}/x`, '*', '/%00', '/%', '/%zz', '/%E0%A4%A', '/%C0%AE%C0%AE/x', '/a?u=http://' + C, `/a?@${C}`, '/a#frag', '/a b', '/\t',
    `/${'a'.repeat(9000)}`, '/admin/token/refresh', '/admin/../x', '/admin%2ftoken%2frefresh', '/ADMIN/token', '/health/../admin/token',
    '/health/token/../../x', '/health%2ftoken', '/;@' + C, '/\u00ff', '/x?q=\u00e9', 'x', '', '/x\r\nHost: ' + C
  ]
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'MKCOL', 'PURGE',
    'LINK', 'get', 'G ET', 'X-CUSTOM', 'M'.repeat(300), '', 'GET\u0000', 'DELETE /x HTTP/1.1\r\nX:']
  const versions = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 extra', 'HTTP/1.12', '']
  // Headers a hostile client sends: forged credentials in every spelling, host confusion and
  // hop-by-hop tricks (well-formed, so they reach the proxy), then smuggling, sizes past the
  // limits and bytes a header cannot hold (refused by the parser).
  const forged: string[][] = [
    [`Authorization: Bearer ${CLIENT_SECRET}`],
    [`authorization: Bearer ${CLIENT_SECRET}`, `AUTHORIZATION: Basic ${CLIENT_SECRET}`],
    [`X-Admin-Key: ${ADMIN_KEY}`],
    [`x-admin-key: ${ADMIN_KEY}`, `X-API-KEY: ${API_KEY}`],
    [`x-api-key: ${API_KEY}, second-key`],
    ['Connection: close, authorization, x-api-key'],
    ['Connection: close, x-forwarded-for'],
    // Meant for a proxy, not one of the gateway's credentials: it passes through (see docs/security.md).
    [`Proxy-Authorization: Basic ${PROXY_CREDENTIAL}`],
    [`Host: ${C}`], [`Host: ${C}@${U}`], [`X-Forwarded-Host: ${C}`], [`Forwarded: host=${C};proto=https`],
    [`X-Original-URL: http://${C}/x`], [`X-Rewrite-URL: //${C}/x`], ['X-HTTP-Method-Override: DELETE'],
    ['Expect: 100-continue'], ['Keep-Alive: timeout=5, max=100'], ['Upgrade: websocket'],
    ['Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'], ['TE: trailers'],
    Array.from({ length: 300 }, (_, i) => `X-Many-${i}: ${i}`), ['X-Probe-Only: yes']
  ]
  const malformed: string[][] = [
    [`Host: ${C}`, `Host: ${U}`], ['Host:'],
    ['Transfer-Encoding: chunked', 'Content-Length: 5'], ['Transfer-Encoding: chunked, identity'], ['Transfer-Encoding: xchunked'],
    ['Content-Length: 5', 'Content-Length: 6'], ['Content-Length: -1'], ['Content-Length: 99999999999999999999'],
    [`X-Big: ${'b'.repeat(20_000)}`], ['X-Bad: a\rb'], ['X-Nul: a\u0000b'], ['Bad Name: x'], ['X-Fold: a', ' folded'], [':authority: x'], ['X-Utf8: \u00e9\u00ff']
  ]
  const headerSets = [...forged, ...malformed]

  type Spec = { method: string, target: string, version: string, headers: string[], key: 'valid' | 'none' | 'wrong', body: string }
  const spec: fc.Arbitrary<Spec> = fc.record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
      { weight: 2, arbitrary: fc.constantFrom(...methods) }, fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,12}$/)),
    target: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...targets) },
      fc.string({ maxLength: 40 }).map((s) => `/${s}`),
      { weight: 2, arbitrary: fc.stringMatching(/^(\/(%[0-9a-fA-F]{2}|\.{1,2}|[@:;\\a-z]){0,6}){1,4}$/) }),
    version: fc.oneof({ weight: 6, arbitrary: fc.constant('HTTP/1.1') }, fc.constantFrom(...versions)),
    headers: fc.tuple(fc.array(fc.constantFrom(...forged), { maxLength: 3 }), fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.constantFrom(...malformed)))
      .map(([sets, bad]) => [...sets.flat(), ...(bad ?? [])]),
    key: fc.constantFrom('valid', 'valid', 'valid', 'none', 'wrong'),
    body: fc.constantFrom('', '', 'hello', `0\r\n\r\nGET /v2/smuggled-inner HTTP/1.1\r\nHost: ${U}\r\nAuthorization: Bearer ${CLIENT_SECRET}\r\n\r\n`)
  })
  // The hand-written list once each, with a valid key, then generated combinations.
  const fixed: Spec[] = [
    ...targets.map((target) => ({ method: 'GET', target, version: 'HTTP/1.1', headers: [`Authorization: Bearer ${CLIENT_SECRET}`], key: 'valid' as const, body: '' })),
    ...headerSets.map((headers) => ({ method: 'POST', target: '/v2/h', version: 'HTTP/1.1', headers, key: 'valid' as const, body: 'hello' })),
    ...methods.map((method) => ({ method, target: '/m', version: 'HTTP/1.1', headers: [`X-Admin-Key: ${ADMIN_KEY}`], key: 'valid' as const, body: '' }))
  ]
  const specs = [...fixed, ...fc.sample(spec, { numRuns: GENERATED, seed: 20_260_301 })]

  const raw = (s: Spec, probe: number): Buffer => {
    const lines = [`${s.method} ${s.target} ${s.version}`.trimEnd()]
    if (!s.headers.some((h) => /^host:/i.test(h))) lines.push(`Host: 127.0.0.1:${gatewayPort}`)
    if (s.key === 'valid') lines.push(`x-api-key: ${API_KEY}`)
    if (s.key === 'wrong') lines.push('x-api-key: not-a-key')
    lines.push(...s.headers, `X-Probe: ${probe}`)
    if (!s.headers.some((h) => /^connection:/i.test(h))) lines.push('Connection: close')
    if (s.body !== '' && !s.headers.some((h) => /^(content-length|transfer-encoding):/i.test(h))) lines.push(`Content-Length: ${Buffer.byteLength(s.body)}`)
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${s.body}`, 'latin1')
  }

  const started = performance.now()
  const responses = await inBatches(specs.map((s, i) => ({ s, i })), CONCURRENCY, ({ s, i }) => sendRaw(gatewayPort, raw(s, i)))
  const elapsedMs = performance.now() - started

  const statuses = new Map<string, number>()
  for (const response of responses) {
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 'closed'
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
  }
  t.comment(`${specs.length} hostile requests in ${Math.round(elapsedMs)} ms; statuses: ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`)
  t.comment(`the upstream received ${upstream.received.length} requests; ${timeouts} sockets were still open after ${SOCKET_TIMEOUT_MS} ms`)

  t.equal(bird.connections(), 0, 'the canary on another port was never connected to')
  t.equal(upstream.parseErrors(), 0, 'everything the gateway sent the upstream was well-formed HTTP')
  t.ok(upstream.received.length > 400, 'many requests were proxied: the checks below are not vacuous')
  const probes = new Set<string>()
  const problems: string[] = []
  for (const r of upstream.received) {
    const where = `${r.method} ${r.url} (probe ${String(r.headers['x-probe'])})`
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())
    if (r.headers.authorization !== `Bearer ${GATEWAY_TOKEN}` || names.filter((n) => n === 'authorization').length !== 1) {
      problems.push(`${where}: authorization ${JSON.stringify(r.headers.authorization)}`)
    }
    if (names.includes('x-api-key') || names.includes('x-admin-key')) problems.push(`${where}: a gateway key was forwarded`)
    if (r.rawHeaders.some((value) => value.includes(CLIENT_SECRET) || value.includes(API_KEY) || value.includes(ADMIN_KEY))) {
      const carrying = r.rawHeaders.filter((_, i) => i % 2 === 0 && [CLIENT_SECRET, API_KEY, ADMIN_KEY].some((secret) => r.rawHeaders[i + 1].includes(secret)))
      problems.push(`${where}: a client credential reached the upstream in ${carrying.join(', ')}`)
    }
    if (r.headers.host !== U) problems.push(`${where}: host ${JSON.stringify(r.headers.host)}`)
    const path = new URL(r.url, `http://${U}`).pathname
    if (!(r.url === '/v2' || r.url.startsWith('/v2/') || r.url.startsWith('/v2?')) || !(path === '/v2' || path.startsWith('/v2/'))) {
      problems.push(`${where}: left the /v2 prefix`)
    }
    if (r.url.includes('smuggled-inner')) problems.push(`${where}: a smuggled request arrived on its own`)
    const probe = String(r.headers['x-probe'])
    if (probes.has(probe) || r.headers['x-probe'] === undefined) problems.push(`${where}: not exactly one upstream request per client request`)
    probes.add(probe)
  }
  t.same(problems.slice(0, 20), [], 'every request the upstream received is the gateway\'s own')

  const live = await request(`${gw.url}/health/live`)
  t.equal(live.statusCode, 200, 'the gateway still answers')
  await live.body.dump()
  const ok = await request(`${gw.url}/after`, { headers: { 'x-api-key': API_KEY } })
  t.equal(ok.statusCode, 200, 'and still proxies')
  await ok.body.dump()
  t.equal(gw.child.exitCode, null, 'it never exited')
  t.notMatch(gw.output(), /"level":60|uncaught|unhandled/i, 'no fatal or uncaught error in its log')
})
