// GATEWAY_API_KEYS: proxied requests and WebSocket upgrades need x-api-key, the health routes do
// not; a refused caller costs neither an upstream call nor a token; keys never travel on or get
// logged. Binding beyond loopback without keys is warned about at start-up.
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { createKeyMatcher, isLoopbackHost } from '../../src/utils/apiKeys.js'
import { startGateway } from '../helpers/app.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

const KEYS = 'tg_key_alpha_4d7f1c,tg_key_beta_9e2b6a'

t.test('the key matcher: any configured key, exactly; nothing else', async (t) => {
  const matches = createKeyMatcher(['alpha', 'beta'])
  t.equal(matches('alpha'), true)
  t.equal(matches('beta'), true)
  t.equal(matches('alph'), false)
  t.equal(matches('alpha '), false)
  t.equal(matches(''), false)
  t.equal(matches(undefined), false)
  t.equal(matches(['alpha', 'alpha']), false, 'a header sent twice is no key')
  t.equal(createKeyMatcher([])('anything'), false)
})

t.test('loopback hosts', async (t) => {
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) t.equal(isLoopbackHost(host), true, host)
  for (const host of ['0.0.0.0', '::', '10.0.0.7', 'gateway.internal', '127.0.0.1.example.com']) t.equal(isLoopbackHost(host), false, host)
})

t.test('proxied requests need a configured key; health stays open', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, GATEWAY_API_KEYS: KEYS })
  const refused = [{}, { 'x-api-key': 'tg_key_alpha_4d7f1' }, { 'x-api-key': 'TG_KEY_ALPHA_4D7F1C' }, { authorization: 'Bearer tg_key_alpha_4d7f1' },
    { authorization: 'Basic tg_key_alpha_4d7f1c' }, { authorization: 'Bearer tg_key_alpha_4d7f1c extra' }, { authorization: 'tg_key_alpha_4d7f1c' }]
  for (const headers of refused) {
    const res = await request(`${gw.url}/v1/things`, { method: 'POST', headers, body: '{}' })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.same(await res.body.json(), { error: 'invalid_api_key', message: 'a valid API key is required: x-api-key: <key> or Authorization: Bearer <key>' })
  }
  t.equal(upstream.received.length, 0, 'the upstream was not called')

  for (const key of KEYS.split(',')) {
    // As x-api-key, and as the bearer token chat SDKs send their API key as.
    for (const headers of [{ 'x-api-key': key }, { authorization: `Bearer ${key}` }, { authorization: `bearer  ${key}` }]) {
      const res = await request(`${gw.url}/v1/things`, { headers })
      t.equal(res.statusCode, 200, JSON.stringify(headers))
      const echoed = await res.body.json() as { authorization: string, headers: Record<string, string> }
      t.equal(echoed.authorization, `Bearer ${token}`, 'the upstream sees the gateway\'s token')
      t.notOk('x-api-key' in echoed.headers, 'the key is not passed on')
      t.notMatch(JSON.stringify(echoed), key, 'in no header')
    }
  }
  for (const path of ['/health/live', '/health/token']) {
    const res = await request(`${gw.url}${path}`)
    t.equal(res.statusCode, 200, `${path} needs no key`)
    await res.body.dump()
  }
  const logs = gw.logText()
  t.match(logs, /Missing or unknown API key \(x-api-key or Authorization: Bearer\)/)
  for (const key of [...KEYS.split(','), 'tg_key_alpha_4d7f1']) t.notOk(logs.includes(key), 'no key in the logs')
  t.notMatch(logs, /GATEWAY_API_KEYS is not set/)
})

t.test('the key is checked before the token: a caller without one learns nothing of the token state', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), GATEWAY_API_KEYS: KEYS })
  const without = await request(`${gw.url}/x`)
  t.equal(without.statusCode, 401, 'not the 503 of the token hook')
  await without.body.dump()
  const withKey = await request(`${gw.url}/x`, { headers: { 'x-api-key': 'tg_key_alpha_4d7f1c' } })
  t.equal(withKey.statusCode, 503)
  t.equal((await withKey.body.json() as { error: string }).error, 'token_unavailable')
})

t.test('WebSocket upgrades need the key too', async (t) => {
  const idp = await identityProvider(t)
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  const handshakes: Array<Record<string, unknown>> = []
  wss.on('connection', (socket, req) => { handshakes.push(req.headers); socket.send('hi') })
  t.teardown(async () => {
    for (const client of wss.clients) client.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  const gw = await startGateway(t, {
    UPSTREAM_URL: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, AUTH_TOKEN: idp.mint(3600), GATEWAY_API_KEYS: KEYS
  })
  const wsUrl = `${gw.url.replace('http', 'ws')}/stream`

  const refused = new WebSocket(wsUrl)
  const status = await new Promise<number>((resolve) => {
    refused.once('unexpected-response', (req, res) => { resolve(res.statusCode ?? 0); res.resume(); req.destroy() })
  })
  t.equal(status, 401)
  t.equal(handshakes.length, 0)

  const allowed = new WebSocket(wsUrl, { headers: { 'x-api-key': 'tg_key_beta_9e2b6a' } })
  t.teardown(() => allowed.terminate())
  const first = await new Promise<string>((resolve, reject) => {
    allowed.once('message', (data) => resolve(data.toString()))
    allowed.once('error', reject)
  })
  t.equal(first, 'hi')
  t.notOk('x-api-key' in handshakes[0])
  allowed.close()

  // The key as a bearer token, as chat SDKs send it: accepted, and replaced by the gateway's.
  const bearer = new WebSocket(wsUrl, { headers: { authorization: 'Bearer tg_key_alpha_4d7f1c' } })
  t.teardown(() => bearer.terminate())
  t.equal(await new Promise<string>((resolve, reject) => {
    bearer.once('message', (data) => resolve(data.toString()))
    bearer.once('error', reject)
  }), 'hi')
  t.match(handshakes[1].authorization, /^Bearer eyJ/, 'the upstream sees the gateway\'s token')
  t.notMatch(JSON.stringify(handshakes[1]), 'tg_key_alpha', 'and never the key')
  bearer.close()
})

t.test('binding beyond loopback without keys logs a warning at start-up', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const open = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600), HOST: '0.0.0.0' })
  const warning = open.logs.map((line) => JSON.parse(line) as { level: number, msg: string })
    .find((line) => /GATEWAY_API_KEYS is not set/.test(line.msg))
  t.equal(warning?.level, 40, 'a warn line')
  t.match(warning?.msg, /^HOST=0\.0\.0\.0 is reachable from other machines and GATEWAY_API_KEYS is not set/)

  const guarded = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600), HOST: '0.0.0.0', GATEWAY_API_KEYS: KEYS })
  t.notMatch(guarded.logText(), /GATEWAY_API_KEYS is not set/, 'no warning with keys')
  const local = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  t.notMatch(local.logText(), /GATEWAY_API_KEYS is not set/, 'no warning on 127.0.0.1')
})
