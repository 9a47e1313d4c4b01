// The demo's identity provider and echo upstream answer like the real things they stand for.
import t from 'tap'
import { request } from 'undici'
import { REFRESH_PATH } from '../../src/demo/identityProvider.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

t.test('the identity provider: 404 elsewhere, invalid_grant for an unreadable body, expiresIn when asked, no rotation when told', async (t) => {
  const lines: string[] = []
  const idp = await identityProvider(t, { sendExpiresIn: true, rotate: false, tokenTtlSeconds: 120, log: (line) => lines.push(line) })
  const elsewhere = await request(`${idp.url}/other`, { method: 'POST' })
  t.equal(elsewhere.statusCode, 404)
  await elsewhere.body.dump()
  const get = await request(`${idp.url}${REFRESH_PATH}`)
  t.equal(get.statusCode, 404)
  await get.body.dump()
  const garbage = await request(`${idp.url}${REFRESH_PATH}`, { method: 'POST', body: 'not json' })
  t.equal(garbage.statusCode, 400)
  t.same(await garbage.body.json(), { error: 'invalid_grant', error_description: 'refresh token invalid or already used' })
  const before = idp.validRefreshToken
  const ok = await request(`${idp.url}${REFRESH_PATH}`, { method: 'POST', body: JSON.stringify({ refreshToken: before }) })
  const body = await ok.body.json() as { accessToken: string, expiresIn: number, refreshToken?: string }
  t.equal(body.expiresIn, 120)
  t.notOk('refreshToken' in body, 'no rotation: no refresh token in the answer')
  t.equal(idp.validRefreshToken, before, 'and the old one stays valid')
  t.same(lines, [
    '[identity provider] refused a refresh token that is not the current one (invalid_grant)',
    '[identity provider] refresh #1: issued a 120-second access token'
  ])
})

t.test('the echo upstream ends an event stream by itself after the gap (1 s unless told)', async (t) => {
  for (const [options, atLeastMs] of [[{ eventGapMs: 50 }, 40], [{}, 900]] as const) {
    const upstream = await echoUpstream(t, options)
    const started = Date.now()
    const res = await request(`${upstream.url}/events`)
    const text = await res.body.text()
    t.match(text, /"n":1,"authorization":null/, 'a request without Authorization is echoed as null')
    t.match(text, /"n":2/)
    t.ok(Date.now() - started >= atLeastMs, `the second event came after the gap (${Date.now() - started} ms)`)
  }
})

t.test('the echo upstream echoes a plain request without Authorization as null', async (t) => {
  const upstream = await echoUpstream(t)
  const res = await request(`${upstream.url}/plain?x=1`)
  const body = await res.body.json() as { authorization: null, url: string, method: string }
  t.equal(body.authorization, null)
  t.equal(body.url, '/plain?x=1')
  t.equal(body.method, 'GET')
})

t.test('closing the echo upstream ends a held event stream; the identity provider logs rotations', async (t) => {
  const upstream = await echoUpstream(t)
  const res = await request(`${upstream.url}/events?hold=1`)
  await upstream.close()
  t.match(await res.body.text(), /"n":2/, 'the held stream got its last event and ended')

  const lines: string[] = []
  const idp = await identityProvider(t, { log: (line) => lines.push(line) })
  const ok = await request(`${idp.url}${REFRESH_PATH}`, { method: 'POST', body: JSON.stringify({ refreshToken: idp.validRefreshToken }) })
  await ok.body.dump()
  t.same(lines, ['[identity provider] refresh #1: issued a 60-second access token and rotated the refresh token (the old one is now dead)'])
})
