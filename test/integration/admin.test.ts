// The admin routes as an operator uses them: guarded by GATEWAY_ADMIN_KEY, never proxied.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { emptyWorkdir } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

const KEY = 'the-admin-key'

t.test('without GATEWAY_ADMIN_KEY the admin routes answer 404 and are not proxied', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque' })
  for (const [method, path] of [['POST', '/admin/token/refresh'], ['PUT', '/admin/token'], ['GET', '/admin/token'], ['DELETE', '/admin/anything']] as const) {
    const res = await request(`${gw.url}${path}`, { method, headers: { 'x-admin-key': KEY } })
    t.equal(res.statusCode, 404, `${method} ${path}`)
    t.equal((await res.body.json() as { error: string }).error, 'not_found')
  }
  t.equal(upstream.received.length, 0)
})

t.test('a missing or wrong x-admin-key gets 401 JSON', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', GATEWAY_ADMIN_KEY: KEY })
  for (const headers of [{}, { 'x-admin-key': 'wrong' }, { 'x-admin-key': `${KEY}x` }, { 'x-admin-key': KEY.slice(0, -1) }]) {
    const res = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers })
    t.equal(res.statusCode, 401)
    t.same(await res.body.json(), { error: 'unauthorized', message: 'x-admin-key is missing or wrong' })
  }
  const other = await request(`${gw.url}/admin/elsewhere`, { headers: { 'x-admin-key': KEY } })
  t.equal(other.statusCode, 404, 'unknown admin paths are not proxied either')
  await other.body.dump()
  t.equal(upstream.received.length, 0)
})

t.test('POST /admin/token/refresh forces a refresh and answers with the health body', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl, GATEWAY_ADMIN_KEY: KEY
  })
  const res = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': KEY } })
  t.equal(res.statusCode, 200)
  const body = await res.body.json() as Record<string, unknown>
  t.equal(body.refreshCount, 1)
  t.equal(body.status, 'ok')
  t.type(body.lastRefreshAt, 'string')
  t.equal(idp.calls.length, 1)
  const proxied = await request(`${gw.url}/x`)
  t.equal((await proxied.body.json() as { authorization: string }).authorization, `Bearer ${idp.issued[0]}`)
  t.notMatch(JSON.stringify(body), idp.issued[0].split('.')[1])

  idp.failNext('invalid_grant')
  const refused = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': KEY } })
  t.equal(refused.statusCode, 502, 'a failed forced refresh says so')
  const failed = await refused.body.json() as Record<string, unknown>
  t.match(failed.lastRefreshError, /^invalid_grant: /)
  t.equal(failed.refreshTokenRejected, true)
})

t.test('PUT /admin/token replaces the tokens, persisted like a refresh', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const path = join(emptyWorkdir(), 'tokens.json')
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(-30),
    REFRESH_TOKEN: 'rt_dead',
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_STORE: 'file',
    TOKEN_STORE_PATH: path,
    GATEWAY_ADMIN_KEY: KEY
  })
  const dead = await request(`${gw.url}/x`)
  t.equal(dead.statusCode, 503, 'the expired token cannot be refreshed with a dead refresh token')
  await dead.body.dump()

  const fresh = idp.mint(3600)
  const res = await request(`${gw.url}/admin/token`, {
    method: 'PUT',
    headers: { 'x-admin-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ accessToken: fresh, refreshToken: idp.validRefreshToken })
  })
  t.equal(res.statusCode, 200)
  const body = await res.body.json() as Record<string, unknown>
  t.equal(body.status, 'ok')
  t.equal(body.refreshTokenRejected, false, 'new tokens clear the rejected state')
  t.equal(body.lastRefreshError, null)
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { accessToken: string, refreshToken: string }
  t.equal(stored.accessToken, fresh, 'persisted')
  t.equal(stored.refreshToken, idp.validRefreshToken)
  const proxied = await request(`${gw.url}/x`)
  t.equal((await proxied.body.json() as { authorization: string }).authorization, `Bearer ${fresh}`)

  const keepRefresh = idp.mint(1800)
  const second = await request(`${gw.url}/admin/token`, {
    method: 'PUT', headers: { 'x-admin-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify({ accessToken: keepRefresh })
  })
  t.equal(second.statusCode, 200)
  await second.body.dump()
  t.equal((JSON.parse(readFileSync(path, 'utf8')) as { refreshToken: string }).refreshToken, idp.validRefreshToken, 'no refresh token given keeps the old one')

  const empty = await request(`${gw.url}/admin/token`, { method: 'PUT', headers: { 'x-admin-key': KEY } })
  t.equal(empty.statusCode, 400, 'no body at all')
  await empty.body.dump()
  for (const bad of [JSON.stringify({ accessToken: 'x'.repeat(8193) }), '{}', '{"accessToken": ""}', '{"accessToken": "has space"}', '{"accessToken": 5}', '{"accessToken": "a", "extra": 1}', '[]', '{"accessToken": "a", "refreshToken": ""}', 'not json']) {
    const rejected = await request(`${gw.url}/admin/token`, {
      method: 'PUT', headers: { 'x-admin-key': KEY, 'content-type': 'application/json' }, body: bad
    })
    t.equal(rejected.statusCode, 400, `rejects ${bad}`)
    const text = await rejected.body.text()
    t.equal(JSON.parse(text).error, 'bad_request')
    t.notMatch(text, /has space/, 'the body is not echoed')
    t.match(JSON.parse(text).message, /at most 8192 bytes \(ACCESS_TOKEN_MAX_SIZE\)/, 'the limit is named')
  }
})
