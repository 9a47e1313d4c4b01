// WebSocket upgrades through the gateway, with a real ws client and a real ws upstream: the
// upstream sees our bearer (never the client's), and messages flow both ways.
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { startGateway } from '../helpers/app.js'
import { identityProvider } from '../helpers/servers.js'

interface WsUpstream { url: string, upgrades: Array<{ url: string, headers: IncomingHttpHeaders }>, messages: string[] }

async function wsUpstream (t: Test): Promise<WsUpstream> {
  const state: WsUpstream = { url: '', upgrades: [], messages: [] }
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
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
