// WebSocket upgrades through the gateway, with a real ws client and a real ws upstream: the
// upstream sees our bearer (never the client's), and messages flow both ways; an upgrade pipelined
// behind a request, or reset while it waits, leaves the gateway serving.
import type { IncomingHttpHeaders } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { rawConnection } from '../helpers/rawClient.js'
import { identityProvider, waitFor } from '../helpers/servers.js'

interface WsUpstream { url: string, upgrades: Array<{ url: string, headers: IncomingHttpHeaders }>, messages: string[] }

/** `refuse` answers a handshake's Authorization header with a status to refuse it with, or null. */
async function wsUpstream (t: Test, refuse: (authorization: string | undefined) => number | null = () => null): Promise<WsUpstream> {
  const state: WsUpstream = { url: '', upgrades: [], messages: [] }
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, accept) => {
      const status = refuse(info.req.headers.authorization)
      if (status === null) accept(true)
      else accept(false, status)
    }
  })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  wss.on('connection', (socket, req) => {
    state.upgrades.push({ url: req.url ?? '', headers: req.headers })
    socket.send('hello from upstream')
    socket.on('message', (data) => {
      state.messages.push(data.toString())
      socket.send(`echo:${data.toString()}`)
    })
  })
  t.teardown(async () => {
    for (const client of wss.clients) client.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  state.url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`
  return state
}

function nextMessage (socket: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data) => resolve(data.toString()))
    socket.once('error', reject)
  })
}

t.test('an upgrade is proxied with the bearer header; messages flow both ways', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await wsUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, { UPSTREAM_URL: `${upstream.url}/v2`, AUTH_TOKEN: token })
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/chat?room=7`, {
    headers: { authorization: 'Bearer client-token', 'x-api-key': 'client-key', cookie: 'session=abc' }
  })
  t.teardown(() => client.terminate())
  const greeting = nextMessage(client)
  await new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject) })
  t.equal(await greeting, 'hello from upstream', 'upstream → client')

  const [upgrade] = upstream.upgrades
  t.equal(upgrade.url, '/v2/chat?room=7', 'path prefix and query as for HTTP')
  t.equal(upgrade.headers.authorization, `Bearer ${token}`, 'the upstream sees the gateway token')
  t.equal(upgrade.headers.cookie, 'session=abc', 'the cookie is carried over')
  t.notOk('x-api-key' in upgrade.headers, 'gateway credentials are not passed on')

  const reply = nextMessage(client)
  client.send('ping-1')
  t.equal(await reply, 'echo:ping-1', 'client → upstream → client')
  t.same(upstream.messages, ['ping-1'])
  client.close()

  const plain = new WebSocket(`${gw.url.replace('http', 'ws')}/plain`)
  t.teardown(() => plain.terminate())
  t.equal(await nextMessage(plain), 'hello from upstream')
  t.equal(upstream.upgrades[1].headers.authorization, `Bearer ${token}`)
  t.notOk('cookie' in upstream.upgrades[1].headers, 'no cookie invented')
  plain.close()
})

t.test('an upgrade without a usable token is refused with 503 before the upstream is called', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await wsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60) })
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/chat`)
  const status = await new Promise<number>((resolve) => {
    client.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
      req.destroy()
    })
  })
  t.equal(status, 503)
  t.equal(upstream.upgrades.length, 0)
})

function closeOf (socket: WebSocket): Promise<{ code: number, opened: boolean }> {
  let opened = false
  socket.once('open', () => { opened = true })
  return new Promise((resolve) => socket.once('close', (code) => resolve({ code, opened })))
}

function warnings (gw: TestGateway): Array<{ level: number, msg: string, statusCode?: number, code?: string }> {
  return gw.logs.map((line) => JSON.parse(line) as { level: number, msg: string }).filter((entry) => entry.level === 40)
}

t.test('an upgrade the upstream refuses with 401 renews the token; the next attempt carries the new one', async (t) => {
  const idp = await identityProvider(t)
  const revoked = idp.mint(3600)
  const upstream = await wsUpstream(t, (authorization) => authorization === `Bearer ${revoked}` ? 401 : null)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: revoked, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl })

  const refused = await closeOf(new WebSocket(`${gw.url.replace('http', 'ws')}/chat`))
  t.equal(refused.code, 1011, 'the client\'s socket is closed as an upstream failure')
  t.equal(upstream.upgrades.length, 0, 'the upstream opened nothing')
  await waitFor(() => idp.issued.length === 1, 5000, 'the refresh the 401 started')
  t.equal(idp.calls.length, 1)
  t.match(warnings(gw), [{ msg: /Upstream refused a WebSocket upgrade with 401.*renewing the token/ }])
  t.equal(warnings(gw).filter((w) => /WebSocket/.test(w.msg)).length, 1, 'one line, no second one for the same refusal')

  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/chat`)
  t.teardown(() => client.terminate())
  t.equal(await nextMessage(client), 'hello from upstream')
  t.same(upstream.upgrades.map((u) => u.headers.authorization), [`Bearer ${idp.issued[0]}`])
  t.equal(idp.calls.length, 1, 'no second refresh')
  client.close()
  t.notMatch(gw.logText(), revoked, 'the refused token is not logged')
  t.notMatch(gw.logText(), idp.issued[0], 'nor the new one')
})

t.test('a 401 on the handshake with no way to renew the token says so', async (t) => {
  const idp = await identityProvider(t)
  const revoked = idp.mint(3600)
  const upstream = await wsUpstream(t, () => 401)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: revoked })
  t.equal((await closeOf(new WebSocket(`${gw.url.replace('http', 'ws')}/chat`))).code, 1011)
  await waitFor(() => warnings(gw).length >= 2, 5000, 'both log lines')
  t.match(warnings(gw).map((w) => w.msg).slice(-2), [
    /Upstream refused a WebSocket upgrade with 401/,
    /No new token could be obtained after the WebSocket 401/
  ])
  t.equal(idp.calls.length, 0, 'nothing to refresh with')
})

t.test('concurrent upgrades refused with 401 share one refresh', async (t) => {
  const idp = await identityProvider(t, { delayMs: 200 })
  const revoked = idp.mint(3600)
  const upstream = await wsUpstream(t, (authorization) => authorization === `Bearer ${revoked}` ? 401 : null)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: revoked, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl })
  const closes = await Promise.all(Array.from({ length: 10 }, () => closeOf(new WebSocket(`${gw.url.replace('http', 'ws')}/chat`))))
  t.same(closes.map((c) => c.code), Array(10).fill(1011))
  await waitFor(() => idp.issued.length === 1, 5000, 'the refresh')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(idp.calls.length, 1, 'one identity-provider call for ten refusals')
})

t.test('other refusals and failed connections are logged; they start no refresh', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await wsUpstream(t, () => 403)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl })
  t.equal((await closeOf(new WebSocket(`${gw.url.replace('http', 'ws')}/chat`))).code, 1011)
  await waitFor(() => warnings(gw).length > 0, 5000, 'the log line')
  t.match(warnings(gw), [{ msg: /Upstream refused a WebSocket upgrade; closing it/, statusCode: 403 }])

  // A port nothing listens on: the connection itself fails.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const closedPort = (probe.address() as AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  const gone = await startGateway(t, { UPSTREAM_URL: `http://127.0.0.1:${closedPort}`, AUTH_TOKEN: idp.mint(3600), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl })
  t.equal((await closeOf(new WebSocket(`${gone.url.replace('http', 'ws')}/chat`))).code, 1011)
  await waitFor(() => warnings(gone).length > 0, 5000, 'the log line')
  t.match(warnings(gone), [{ msg: /Upstream WebSocket connection failed/, code: 'ECONNREFUSED' }])
  t.equal(idp.calls.length, 0)
})

const HANDSHAKE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

t.test('an upgrade pipelined behind a request waits for that request\'s answer', async (t) => {
  const idp = await identityProvider(t)
  // ws's server answers a plain request itself: 426 Upgrade Required.
  const upstream = await wsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const { socket, received } = await rawConnection(t, gw.url)
  // Node hands the upgrade over as soon as it is parsed; answering it then threw
  // ERR_HTTP_SOCKET_ASSIGNED out of the server and stopped the process.
  socket.write(`GET /first HTTP/1.1\r\nHost: gateway\r\n\r\nGET /live HTTP/1.1\r\nHost: gateway\r\n${HANDSHAKE}\r\n`)
  await waitFor(() => /101 Switching Protocols/.test(received()), 3000, 'the upgrade')
  // The 426's body has no line end: the next answer follows it on the same line.
  t.same(received().match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 426', 'HTTP/1.1 101'], 'the first request\'s answer, then the upgrade\'s')
  await waitFor(() => upstream.upgrades.length === 1, 3000, 'the upstream connection')
  const health = await request(`${gw.url}/health/live`)
  t.equal(health.statusCode, 200, 'the gateway is still up')
  await health.body.dump()
})

t.test('a client that resets its connection while its upgrade waits for the token does not take the gateway down', async (t) => {
  const idp = await identityProvider(t, { delayMs: 500 })
  const upstream = await wsUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  const { socket } = await rawConnection(t, gw.url)
  socket.write(`GET /live HTTP/1.1\r\nHost: gateway\r\n${HANDSHAKE}\r\n`)
  await new Promise((resolve) => setTimeout(resolve, 100))
  // An error on a socket Node has handed over, with no listener: it used to stop the process.
  socket.resetAndDestroy()
  await waitFor(() => idp.issued.length === 1, 5000, 'the refresh the upgrade waited for')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(upstream.upgrades.length, 0, 'nothing was relayed for it')
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/chat`)
  t.teardown(() => client.terminate())
  t.equal(await nextMessage(client), 'hello from upstream', 'the next upgrade is served')
  client.close()
})
