// Several upstreams with the gateway in this process (buildApp over a TOKENGATE_CONFIG file):
// health of every credential, the admin routes' ?credential=, reloads applied, refused and
// rolled back, and the route and credential labels of the metrics.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { seedFingerprint } from '../../src/stores/seedFingerprint.js'
import { startGateway } from '../helpers/app.js'
import { startLocalServer } from '../helpers/localServer.js'
import { emptyWorkdir } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'
import { openClient, startWsUpstream } from '../helpers/webSockets.js'

const ADMIN_KEY = 'admin-key-in-process'

function credential (name: string): string {
  const upper = name.toUpperCase()
  return `
  ${name}:
    tokenUrl: \${${upper}_TOKEN_URL}
    accessToken: \${${upper}_AUTH_TOKEN}
    refreshToken: \${${upper}_REFRESH_TOKEN}`
}

function route (path: string, upstream: string, name: string): string {
  return `
  - path: ${path}
    upstream: ${upstream}
    credential: ${name}`
}

async function setup (t: Test): Promise<{ url: string, file: string, write: (yaml: string) => void, env: Record<string, string>, gw: Awaited<ReturnType<typeof startGateway>>, a: Awaited<ReturnType<typeof identityProvider>>, b: Awaited<ReturnType<typeof identityProvider>>, upstream: Awaited<ReturnType<typeof echoUpstream>> }> {
  const a = await identityProvider(t)
  const b = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const file = join(emptyWorkdir(), 'tokengate.yaml')
  const write = (yaml: string): void => { writeFileSync(file, yaml) }
  write(`credentials:${credential('a')}${credential('b')}\nroutes:${route('/a', `${upstream.url}/a-up`, 'a')}${route('/b', `${upstream.url}/b-up`, 'b')}\n`)
  const env = {
    TOKENGATE_CONFIG: file,
    GATEWAY_ADMIN_KEY: ADMIN_KEY,
    A_TOKEN_URL: a.refreshUrl,
    A_AUTH_TOKEN: a.mint(3600),
    A_REFRESH_TOKEN: a.validRefreshToken,
    B_TOKEN_URL: b.refreshUrl,
    B_AUTH_TOKEN: b.mint(3600),
    B_REFRESH_TOKEN: b.validRefreshToken
  }
  const gw = await startGateway(t, env)
  return { url: gw.url, file, write, env, gw, a, b, upstream }
}

t.test('health: every credential with its routes; one of them; an unknown name', async (t) => {
  const { url, gw, env } = await setup(t)
  const all = await request(`${url}/health/token`)
  t.equal(all.statusCode, 200)
  t.equal(all.headers['cache-control'], 'no-store')
  const body = await all.body.json() as { status: string, credentials: Record<string, { status: string, routes: string[], store: string }> }
  t.equal(body.status, 'ok')
  t.match(body.credentials, { a: { status: 'ok', routes: ['/a'], store: 'memory' }, b: { status: 'ok', routes: ['/b'] } })
  const one = await request(`${url}/health/token/b`)
  t.equal(one.statusCode, 200)
  const oneBody = await one.body.json() as Record<string, unknown>
  t.equal(oneBody.status, 'ok')
  t.notOk('routes' in oneBody, 'one credential\'s body is the single-credential body')
  const unknown = await request(`${url}/health/token/${'x'.repeat(30)}`)
  t.equal(unknown.statusCode, 404)
  t.same(await unknown.body.json(), { error: 'unknown_credential', message: 'this gateway has no credential of that name' }, 'the name sent is not echoed')
  t.equal(gw.app.tokenHealth().status, 'ok', 'tokenHealth: the first credential')
  t.equal(await gw.app.getValidAccessToken('b'), env.B_AUTH_TOKEN, 'a credential by name')
  t.equal(await gw.app.getValidAccessToken(), env.A_AUTH_TOKEN, 'without a name: the first')
  await t.rejects(gw.app.getValidAccessToken('zz'), { code: 'TOKENGATE_UNKNOWN_CREDENTIAL' })
})

t.test('health waits on a refresh that can give an expired credential a token', async (t) => {
  const { url, gw, b } = await setup(t)
  await gw.app.credentials.get('b')!.service.replaceTokens(b.mint(-60), null)
  const res = await request(`${url}/health/token`)
  t.equal(res.statusCode, 200, 'b\'s refresh gave it a token while the probe waited')
  t.equal(b.calls.length, 1)
  await gw.app.credentials.get('a')!.service.replaceTokens(b.mint(-60), 'rt_refused')
  const down = await request(`${url}/health/token/a`)
  t.equal(down.statusCode, 503)
  const worst = await request(`${url}/health/token`)
  t.equal(worst.statusCode, 503)
  t.match(await worst.body.json(), { status: 'expired', credentials: { a: { status: 'expired' }, b: { status: 'ok' } } })
})

t.test('admin: ?credential= is required with several, checked, and acts on that credential only', async (t) => {
  const { url, a, b } = await setup(t)
  const headers = { 'x-admin-key': ADMIN_KEY, 'content-type': 'application/json' }
  const put = (query: string, accessToken: string): ReturnType<typeof request> =>
    request(`${url}/admin/token${query}`, { method: 'PUT', headers, body: JSON.stringify({ accessToken }) })
  const required = await put('', 'opaque-new')
  t.equal(required.statusCode, 400)
  t.same(await required.body.json(), { error: 'credential_required', message: '?credential= is required: this gateway has several (a, b)' })
  t.equal((await put('?credential=zz', 'opaque-new')).statusCode, 404)
  t.equal((await put('?credential=a&credential=b', 'opaque-new')).statusCode, 404, 'a repeated parameter names no credential')
  const replaced = await put('?credential=b', 'opaque-for-b')
  t.equal(replaced.statusCode, 200)
  t.match(await replaced.body.json(), { tokenType: 'opaque' })
  const seen = await (await request(`${url}/b/x`)).body.json() as { authorization: string, url: string }
  t.equal(seen.authorization, 'Bearer opaque-for-b')
  t.equal(seen.url, '/b-up/x')
  const other = await (await request(`${url}/a/x`)).body.json() as { authorization: string }
  t.not(other.authorization, 'Bearer opaque-for-b', 'a kept its own token')
  a.failNext('invalid_grant')
  const failed = await request(`${url}/admin/token/refresh?credential=a`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  t.equal(failed.statusCode, 502)
  t.match(await failed.body.json(), { refreshTokenRejected: true })
  t.equal(b.calls.length, 0)
})

t.test('reloads: applied, refused with the configuration kept, and rolled back when a credential cannot open', async (t) => {
  const { url, gw, write, upstream, env } = await setup(t)
  const app = gw.app
  write(`credentials:${credential('a')}\nroutes:${route('/a', `${upstream.url}/a-up`, 'a')}${route('/c', `${upstream.url}/c-up`, 'a')}\n`)
  const kept = app.credentials.get('a')
  const applied = await app.reloadConfiguration()
  t.same(applied, { applied: true, changes: { added: [], changed: [], removed: ['b'], kept: ['a'] } })
  t.equal(app.credentials.get('a'), kept, 'the unchanged credential is the same engine')
  t.equal((await request(`${url}/b/x`)).statusCode, 404)
  t.match(await (await request(`${url}/c/x`)).body.json(), { url: '/c-up/x' })
  t.match(gw.logText(), /Configuration reloaded from .*: removed b; kept a/)

  write('credentials: {}\nroutes: []\n')
  const refused = await app.reloadConfiguration()
  t.same(refused, { applied: false, changes: null })
  t.match(gw.logText(), /Configuration reload refused: routes: /)
  t.equal((await request(`${url}/c/x`)).statusCode, 200, 'the running configuration stays')

  // A credential that cannot be opened (no token to start from): nothing changes.
  write(`credentials:${credential('a')}\n  d:\n    tokenUrl: https://idp.example/token\nroutes:${route('/a', `${upstream.url}/a-up`, 'a')}${route('/d', `${upstream.url}/d-up`, 'd')}\n`)
  const rolledBack = await app.reloadConfiguration()
  t.equal(rolledBack.applied, false)
  t.match(gw.logText(), /Configuration reload refused: credentials\.d\.accessToken: is required/)
  t.equal((await request(`${url}/d/x`)).statusCode, 404)
  t.equal((await request(`${url}/c/x`)).statusCode, 200)
  t.equal(app.credentials.get('a'), kept)

  // Two reloads at once run one after the other.
  write(`credentials:${credential('a')}${credential('b')}\nroutes:${route('/a', `${upstream.url}/a-up`, 'a')}${route('/b', `${upstream.url}/b-up`, 'b')}\n`)
  const [first, second] = await Promise.all([app.reloadConfiguration(), app.reloadConfiguration()])
  t.same(first.changes?.added, ['b'])
  t.same(second.changes, { added: [], changed: [], removed: [], kept: ['a', 'b'] })
  t.ok(env.B_AUTH_TOKEN)
  const metrics = await (await request(`${url}/metrics`)).body.text()
  t.match(metrics, /^tokengate_token_expires_in_seconds\{credential="b"\} \d+$/m)
  t.match(metrics, /^tokengate_proxy_requests_total\{route="\/c",status_class="2xx"\} 3$/m)
  t.match(metrics, /^tokengate_proxy_requests_total\{route="\/b",status_class="4xx"\} 0$/m, 'a 404 no_route counts for no route')
})

t.test('without a file, SIGHUP is not taken over and the single-credential bodies stay', async (t) => {
  const upstream = await echoUpstream(t)
  const idp = await identityProvider(t)
  const before = process.listenerCount('SIGHUP')
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  t.equal(process.listenerCount('SIGHUP'), before)
  const body = await (await request(`${gw.url}/health/token`)).body.json() as Record<string, unknown>
  t.notOk('credentials' in body)
  t.equal(body.status, 'ok')
  t.match(await (await request(`${gw.url}/health/token/default`)).body.json(), { status: 'ok' })
  t.same(await gw.app.reloadConfiguration(), { applied: false, changes: null }, 'nothing to re-read')
})

t.test('WebSockets on a route: the prefix rewritten, the route\'s credential in the handshake', async (t) => {
  const a = await identityProvider(t)
  const ws = await startWsUpstream(t)
  const file = join(emptyWorkdir(), 'tokengate.yaml')
  writeFileSync(file, `credentials:${credential('a')}\nroutes:${route('/live', `${ws.url}/socket-api`, 'a')}\n`)
  const token = a.mint(3600)
  const gw = await startGateway(t, { TOKENGATE_CONFIG: file, A_TOKEN_URL: a.refreshUrl, A_AUTH_TOKEN: token, A_REFRESH_TOKEN: a.validRefreshToken })
  const client = await openClient(t, `${gw.url}/live/feed?room=7`)
  const upstream = await ws.connection(0)
  t.equal(ws.handshakeUrls[0], '/socket-api/feed?room=7')
  t.equal(ws.handshakes[0].authorization, `Bearer ${token}`)
  const received = new Promise<string>((resolve) => upstream.once('message', (data) => resolve(String(data))))
  client.send('hello through /live')
  t.equal(await received, 'hello through /live')
})

t.test('a credential without a refresh token: its refresh is off, and the start-up says so for it', async (t) => {
  const a = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const file = join(emptyWorkdir(), 'tokengate.yaml')
  writeFileSync(file, `credentials:\n  fixed:\n    tokenUrl: ${a.refreshUrl}\n    accessToken: \${FIXED_TOKEN}\nroutes:${route('/fixed', upstream.url, 'fixed')}\n`)
  const gw = await startGateway(t, { TOKENGATE_CONFIG: file, FIXED_TOKEN: a.mint(3600) })
  t.match(gw.logText(), /Token refresh is disabled for credential fixed: it has no refresh token/)
  t.match(await (await request(`${gw.url}/health/token/fixed`)).body.json(), { refreshEnabled: false, nextCheckAt: null })
})

t.test('SIGHUP in this process reloads; a reload that fails for another reason than the file changes nothing', async (t) => {
  const { url, gw, write, upstream } = await setup(t)
  write(`credentials:${credential('a')}\nroutes:${route('/a', `${upstream.url}/a-up`, 'a')}\n`)
  process.emit('SIGHUP', 'SIGHUP')
  for (let i = 0; i < 100 && !gw.logText().includes('Configuration reloaded'); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.match(gw.logText(), /SIGHUP: reloading the configuration/)
  t.match(gw.logText(), /Configuration reloaded from .*: removed b; kept a/)
  t.equal((await request(`${url}/b/x`)).statusCode, 404)

  gw.app.reloadGatewayDefinition = () => { throw Object.assign(new Error('cannot read {"refreshToken":"rt_leak"}'), { code: 'EIO' }) }
  t.same(await gw.app.reloadConfiguration(), { applied: false, changes: null })
  t.match(gw.logText(), /Configuration reload failed; the running configuration stays/)
  t.notOk(gw.logText().includes('rt_leak'), 'a foreign error\'s message is not logged')
  t.equal((await request(`${url}/a/x`)).statusCode, 200)
})

t.test('one token file: a damaged entry of one credential loses only itself', async (t) => {
  const { env } = await setup(t)
  const dir = emptyWorkdir()
  const tokens = join(dir, 'tokens.json')
  // Seeded from b's configured tokens, so the stored (rotated) ones win at start-up.
  const kept = { accessToken: 'opaque-kept-b', refreshToken: 'rt-kept-b', expiresAtMs: null, version: 4, seedFingerprint: seedFingerprint(env.B_AUTH_TOKEN, env.B_REFRESH_TOKEN), updatedAt: new Date().toISOString() }
  writeFileSync(tokens, JSON.stringify({ credentials: { a: { accessToken: 5 }, b: kept } }))
  const gw = await startGateway(t, { ...env, TOKEN_STORE: 'file', TOKEN_STORE_PATH: tokens })
  t.match(gw.logText(), /The stored tokens of credential a cannot be used .*; starting from credentials\.a\.accessToken, and its entry is replaced at the next save/)
  t.equal(await gw.app.getValidAccessToken('a'), env.A_AUTH_TOKEN, 'a starts from its configured token')
  t.equal(await gw.app.getValidAccessToken('b'), 'opaque-kept-b', 'b from its entry')
  await gw.app.close()

  // Without a token to start from, the damaged entry stops start-up, naming it.
  writeFileSync(tokens, JSON.stringify({ credentials: { a: { accessToken: 5 }, b: kept } }))
  const withoutToken = join(dir, 'no-token.yaml')
  writeFileSync(withoutToken, `credentials:\n  a:\n    tokenUrl: https://idp.example/token\nroutes:${route('/a', 'http://127.0.0.1:9', 'a')}\n`)
  await t.rejects(startGateway(t, { TOKENGATE_CONFIG: withoutToken, TOKEN_STORE: 'file', TOKEN_STORE_PATH: tokens }),
    { message: /TOKEN_STORE_PATH .* and no credentials\.a\.accessToken is set to start from: repair or remove the entry of credential a/ })
})

t.test('clientSecretFile: a rotated secret is used from the next token request on, without a reload', async (t) => {
  const secrets: string[] = []
  const tokenServer = await startLocalServer((req, res) => {
    secrets.push(decodeURIComponent(Buffer.from(String(req.headers.authorization).slice('Basic '.length), 'base64').toString().split(':')[1]))
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `opaque-${secrets.length}`, expires_in: 3600 }))
  })
  t.teardown(() => tokenServer.close())
  const upstream = await echoUpstream(t)
  const dir = emptyWorkdir()
  writeFileSync(join(dir, 'graph-secret'), 'first-secret\n')
  const file = join(dir, 'tokengate.yaml')
  writeFileSync(file, `credentials:\n  graph:\n    grant: client_credentials\n    tokenUrl: ${tokenServer.url}/token\n    clientId: gateway\n    clientSecretFile: graph-secret\nroutes:${route('/graph', upstream.url, 'graph')}\n`)
  const gw = await startGateway(t, { TOKENGATE_CONFIG: file, GATEWAY_ADMIN_KEY: ADMIN_KEY })
  t.match(await (await request(`${gw.url}/graph/x`)).body.json(), { authorization: 'Bearer opaque-1' })
  writeFileSync(join(dir, 'graph-secret'), 'second-secret')
  const forced = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  t.equal(forced.statusCode, 200)
  t.same(secrets, ['first-secret', 'second-secret'], 'the file read again at the next token request')
  t.notOk(gw.logText().includes('second-secret'), 'never logged')
})
