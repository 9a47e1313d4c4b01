// The proxy path as a client sees it: bearer injection, what passes through unchanged, streaming,
// and the gateway's own error answers.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

t.test('forwards with our bearer and replaces the client Authorization header', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })

  const res = await request(`${gw.url}/v1/things?limit=5&q=a%20b`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer client-supplied',
      'x-api-key': 'client-key',
      'x-admin-key': 'admin-key',
      'x-custom': 'kept',
      'content-type': 'application/json'
    },
    body: JSON.stringify({ hello: 'world' })
  })
  t.equal(res.statusCode, 200)
  const echoed = await res.body.json() as { method: string, url: string, authorization: string, headers: Record<string, string>, body: string }
  t.equal(echoed.authorization, `Bearer ${token}`, 'the upstream sees the gateway token, not the client one')
  t.equal(echoed.method, 'POST')
  t.equal(echoed.url, '/v1/things?limit=5&q=a%20b', 'path and query pass unchanged')
  t.equal(echoed.headers['x-custom'], 'kept', 'other headers pass')
  t.notOk('x-api-key' in echoed.headers, 'x-api-key is not passed on')
  t.notOk('x-admin-key' in echoed.headers, 'x-admin-key is not passed on')
  t.same(JSON.parse(echoed.body), { hello: 'world' }, 'the body passes')
  t.equal(upstream.received.length, 1)
})

t.test('a client Connection header naming authorization cannot strip the bearer', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })

  const res = await request(`${gw.url}/x`, { headers: { connection: 'keep-alive, authorization', authorization: 'Bearer nope' } })
  const echoed = await res.body.json() as { authorization: string }
  t.equal(echoed.authorization, `Bearer ${token}`)
  t.equal(upstream.received[0].headers.authorization, `Bearer ${token}`)
})

t.test('a path in UPSTREAM_URL is a prefix', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: `${upstream.url}/v2/`, AUTH_TOKEN: idp.mint(3600) })
  const res = await request(`${gw.url}/chat?x=1`)
  const echoed = await res.body.json() as { url: string }
  t.equal(echoed.url, '/v2/chat?x=1')
})

t.test('upstream status and body pass unchanged; a 503 is not replayed', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  for (const status of [201, 404, 418, 500, 503]) {
    const before = upstream.received.length
    const res = await request(`${gw.url}/status/${status}`)
    t.equal(res.statusCode, status, `status ${status} passes`)
    t.equal(res.headers['x-echo'], 'tokengate-demo', 'upstream headers pass')
    await res.body.dump()
    t.equal(upstream.received.length, before + 1, `status ${status}: the upstream was called exactly once`)
  }
})

t.test('server-sent events reach the client before the stream ends', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })
  const res = await request(`${gw.url}/events?hold=1`)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/event-stream/)
  const reader = res.body[Symbol.asyncIterator]()
  const first = await reader.next()
  const text = Buffer.from(first.value as Buffer).toString('utf8')
  t.match(text, /"n":1/, 'the first event arrived while the upstream still holds the stream open')
  t.match(text, JSON.stringify(`Bearer ${token}`).slice(1, -1), 'the stream was opened with our bearer')
  t.notMatch(text, /"n":2/)
  upstream.finishStream()
  let rest = ''
  for (let next = await reader.next(); next.done !== true; next = await reader.next()) rest += Buffer.from(next.value as Buffer).toString('utf8')
  t.match(rest, /"n":2/, 'the second event follows when the upstream sends it')
})

t.test('upstream unreachable → 502 upstream_unreachable', async (t) => {
  const idp = await identityProvider(t)
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise((resolve) => closed.close(resolve))
  const gw = await startGateway(t, { UPSTREAM_URL: `http://127.0.0.1:${port}`, AUTH_TOKEN: idp.mint(3600) })
  const res = await request(`${gw.url}/anything`)
  t.equal(res.statusCode, 502)
  t.same(await res.body.json(), { error: 'upstream_unreachable', message: 'the upstream could not be reached' })
})

t.test('upstream slower than UPSTREAM_TIMEOUT → 504 upstream_timeout; a started stream is not cut', async (t) => {
  const idp = await identityProvider(t)
  const slow = createServer((req, res) => {
    if (req.url === '/slow-headers') {
      setTimeout(() => res.end('late'), 1500)
      return
    }
    // Headers at once, then a body that takes longer than the timeout.
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('start ')
    setTimeout(() => res.end('end'), 700)
  })
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { slow.closeAllConnections(); slow.close() })
  const gw = await startGateway(t, {
    UPSTREAM_URL: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
    AUTH_TOKEN: idp.mint(3600),
    UPSTREAM_TIMEOUT: '300'
  })
  const res = await request(`${gw.url}/slow-headers`)
  t.equal(res.statusCode, 504)
  t.same(await res.body.json(), { error: 'upstream_timeout', message: 'the upstream did not send its response headers in time' })

  const streamed = await request(`${gw.url}/slow-body`)
  t.equal(streamed.statusCode, 200)
  t.equal(await streamed.body.text(), 'start end', 'a body that started within the timeout runs to its end')
})

t.test('health and live routes are answered locally, never proxied', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const live = await request(`${gw.url}/health/live`)
  t.equal(live.statusCode, 200)
  t.same(await live.body.json(), { status: 'ok' })
  const health = await request(`${gw.url}/health/token`)
  t.equal(health.statusCode, 200)
  await health.body.dump()
  t.equal(upstream.received.length, 0, 'the upstream saw none of them')
})

t.test('an upstream status the gateway cannot send back becomes 502', async (t) => {
  const idp = await identityProvider(t)
  // A raw socket: node:http refuses to send such a status itself.
  const { createServer: createTcpServer } = await import('node:net')
  const odd = createTcpServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 999 Odd\r\ncontent-length: 2\r\n\r\nok'))
  })
  await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve))
  t.teardown(() => odd.close())
  const gw = await startGateway(t, { UPSTREAM_URL: `http://127.0.0.1:${(odd.address() as AddressInfo).port}`, AUTH_TOKEN: idp.mint(3600) })
  const res = await request(`${gw.url}/x`)
  t.equal(res.statusCode, 502)
  t.equal((await res.body.json() as { error: string }).error, 'upstream_unreachable')
})
