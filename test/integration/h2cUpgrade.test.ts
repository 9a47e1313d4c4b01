// Clients that offer HTTP/2 over cleartext (Java's HttpClient by default, `curl --http2`) send
// `Connection: Upgrade, HTTP2-Settings` and `Upgrade: h2c` with their first request. The gateway
// ignores the offer and answers over HTTP/1.1, as HTTP allows; it used to answer 400, because
// Node hands every upgrade to the WebSocket proxy's listener. WebSocket upgrades are untouched
// (test/integration/websocket.test.ts).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { rawConnection } from '../helpers/rawClient.js'
import { echoUpstream, waitFor } from '../helpers/servers.js'

const TOKEN = 'opaque-token-for-h2c'
const SETTINGS = 'AAMAAABkAARAAAAAAAIAAAAA'
const OFFER = `Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: ${SETTINGS}\r\n`

const responses = (text: string): string[] => text.match(/^HTTP\/1\.1 \d{3}/gm) ?? []

t.test('a GET offering h2c is answered over HTTP/1.1, and the connection stays open for the next request', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket, received } = await rawConnection(t, gw.url)

  socket.write(`GET /v1/items?page=2 HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: ${SETTINGS}\r\nX-Trace: abc\r\n\r\n`)
  await waitFor(() => responses(received()).length === 1 && upstream.received.length === 1, 3000, 'the first response')
  t.match(received(), /^HTTP\/1\.1 200 OK\r\n/)
  t.notMatch(received(), /\r\nupgrade:/i, 'no upgrade is accepted')
  t.notMatch(received(), /101 Switching Protocols/)

  socket.write('GET /v1/second HTTP/1.1\r\nHost: gateway\r\n\r\n')
  await waitFor(() => responses(received()).length === 2, 3000, 'the second response on the same connection')
  t.same(responses(received()), ['HTTP/1.1 200', 'HTTP/1.1 200'])

  t.equal(upstream.received.length, 2)
  const [first] = upstream.received
  t.equal(first.url, '/v1/items?page=2')
  t.equal(first.headers.authorization, `Bearer ${TOKEN}`, 'the bearer token is set as on any request')
  t.equal(first.headers['x-trace'], 'abc', 'the other headers pass')
  t.equal(first.headers.upgrade, undefined, 'the offer does not reach the upstream')
  t.equal(first.headers['http2-settings'], undefined)
  t.notMatch(String(first.headers.connection ?? ''), /upgrade/i)
})

t.test('a POST offering h2c reaches the upstream with its body', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket, received } = await rawConnection(t, gw.url)

  const body = JSON.stringify({ order: 42, note: 'x'.repeat(2000) })
  // Connection names only the upgrade: nothing of it is left to send on.
  socket.write(`POST /v1/orders HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
  // The body follows in a later packet, as a slow client would send it.
  await new Promise((resolve) => setTimeout(resolve, 50))
  socket.write(body)
  await waitFor(() => upstream.received.length === 1 && responses(received()).length === 1, 3000, 'the forwarded POST')
  t.match(received(), /^HTTP\/1\.1 200 OK\r\n/)
  const [forwarded] = upstream.received
  t.equal(forwarded.method, 'POST')
  t.equal(forwarded.body, body, 'the body arrives whole')
  t.equal(forwarded.headers.authorization, `Bearer ${TOKEN}`)
  t.notMatch(String(forwarded.headers.connection ?? ''), /upgrade/i)
  t.equal(forwarded.headers.upgrade, undefined)
})

t.test('bytes that came with the offer are kept: a body in the same packet, and a pipelined request behind it', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket, received } = await rawConnection(t, gw.url)

  const body = 'name=first&size=3'
  socket.write(`POST /v1/forms HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: ${SETTINGS}\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
    'GET /v1/after HTTP/1.1\r\nHost: gateway\r\n\r\n')
  await waitFor(() => responses(received()).length === 2 && upstream.received.length === 2, 3000, 'both responses')
  t.same(responses(received()), ['HTTP/1.1 200', 'HTTP/1.1 200'])
  // Both are forwarded as soon as they are read, so the upstream may see them in either order.
  const seen = upstream.received.map((r) => [r.method, r.url, r.body]).sort((a, b) => a[1].localeCompare(b[1]))
  t.same(seen, [['GET', '/v1/after', ''], ['POST', '/v1/forms', body]])
  const [forms, after] = [received().indexOf('"/v1/forms'), received().indexOf('"/v1/after')]
  t.ok(forms > 0 && after > forms, 'the client gets the answers in the order it asked')
})

t.test('an Upgrade that does not list websocket (`not-websocket`) is a plain request too', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket, received } = await rawConnection(t, gw.url)
  socket.write('GET /not HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: not-websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  await waitFor(() => upstream.received.length === 1 && responses(received()).length === 1, 3000, 'the plain answer')
  t.match(received(), /^HTTP\/1\.1 200 OK\r\n/, 'answered as HTTP, not switched')
  t.equal(upstream.received[0].url, '/not')
  t.equal(upstream.received[0].headers.upgrade, undefined, 'the upstream sees no upgrade')
  t.notMatch(String(upstream.received[0].headers.connection ?? ''), /upgrade/i)
})

/** An upstream that answers /slow after `slowMs`, cuts /mid-body after its first bytes, and answers other paths at once. */
async function pacedUpstream (t: Test, slowMs: number): Promise<{ url: string, paths: string[] }> {
  const paths: string[] = []
  const server = createServer((req, res) => {
    paths.push(req.url!)
    if (req.url === '/mid-body') {
      res.writeHead(200, { 'content-length': '100000' }).write('partial')
      setTimeout(() => { req.socket.destroy() }, 10)
      return
    }
    setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url })) }, req.url === '/slow' ? slowMs : 0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths }
}

t.test('an offer pipelined behind other requests, in one packet, is answered in its turn', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket, received } = await rawConnection(t, gw.url)

  // Node hands the offer over as soon as it is parsed, while the answer to /a is still on its way.
  socket.write(`GET /a HTTP/1.1\r\nHost: gateway\r\n\r\nGET /b HTTP/1.1\r\nHost: gateway\r\n${OFFER}\r\nGET /c HTTP/1.1\r\nHost: gateway\r\n\r\n`)
  await waitFor(() => responses(received()).length === 3, 3000, 'three answers')
  t.same(responses(received()), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200'])
  const order = ['/a', '/b', '/c'].map((path) => received().indexOf(`"url":"${path}"`))
  t.ok(order[0] > 0 && order[1] > order[0] && order[2] > order[1], 'in the order they were asked')
  const offered = upstream.received.find((r) => r.url === '/b')!
  t.equal(offered.headers.upgrade, undefined, 'the offer does not reach the upstream')
  t.equal(offered.headers['http2-settings'], undefined)

  socket.write('GET /d HTTP/1.1\r\nHost: gateway\r\n\r\n')
  await waitFor(() => responses(received()).length === 4, 3000, 'the next request on the same connection')
})

t.test('an offer waiting behind a slow answer: the keep-alive timer that answer set does not cut it', async (t) => {
  const upstream = await pacedUpstream(t, 1800)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  // Node adds a second to it: the connection would be cut 1.1 s after the first answer, while the
  // offered request is still upstream.
  gw.app.server.keepAliveTimeout = 100
  const { socket, received } = await rawConnection(t, gw.url)
  socket.write(`GET /a HTTP/1.1\r\nHost: gateway\r\n\r\nGET /slow HTTP/1.1\r\nHost: gateway\r\n${OFFER}\r\n`)
  await waitFor(() => responses(received()).length === 2 || socket.destroyed, 5000, 'both answers')
  t.same(responses(received()), ['HTTP/1.1 200', 'HTTP/1.1 200'])
  t.match(received(), /"url":"\/slow"/)
})

t.test('an offer whose connection ends while it waits is not served', async (t) => {
  const upstream = await pacedUpstream(t, 0)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket } = await rawConnection(t, gw.url)
  // The upstream cuts the first answer mid-body, so the gateway cuts the client's connection.
  socket.write(`GET /mid-body HTTP/1.1\r\nHost: gateway\r\n\r\nGET /b HTTP/1.1\r\nHost: gateway\r\n${OFFER}\r\n`)
  await new Promise((resolve) => socket.once('close', resolve))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(upstream.paths, ['/mid-body'], 'the offered request never reached the upstream')
})

t.test('a client that resets its connection while its offer waits does not take the gateway down', async (t) => {
  const upstream = await pacedUpstream(t, 300)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket } = await rawConnection(t, gw.url)
  socket.write(`GET /slow HTTP/1.1\r\nHost: gateway\r\n\r\nGET /b HTTP/1.1\r\nHost: gateway\r\n${OFFER}\r\n`)
  await waitFor(() => upstream.paths.length === 1, 3000, 'the first request upstream')
  socket.resetAndDestroy()
  // The slow answer is written to the reset connection.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(upstream.paths, ['/slow'], 'the offered request was dropped with its connection')
  const res = await request(`${gw.url}/after`)
  t.equal(res.statusCode, 200, 'the gateway still serves')
  await res.body.dump()
})
