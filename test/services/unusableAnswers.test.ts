// Answers the identity provider gives with status 200 that still cannot be used: a token already
// expired, a lifetime that means nothing for a token without exp, a token too large for a header.
// Each is a failed refresh (backoff, health), never a token sent upstream; a refresh token the
// answer rotated is kept. The real json grant parses the answers of a local server.
import t, { type Test } from 'tap'
import { createJsonRefreshGrant } from '../../src/grants/jsonRefreshGrant.js'
import { startLocalServer } from '../helpers/localServer.js'
import { harness, jwt, MINUTE, SECOND, service, type Harness } from '../helpers/serviceHarness.js'

/** A provider that answers every refresh with `body(n)` (n counts from 1), with its Date header on the harness clock. */
async function provider (t: Test, h: Harness, body: (n: number) => unknown): Promise<{ url: string, calls: () => number }> {
  let calls = 0
  const server = await startLocalServer((_req, res) => {
    calls++
    res.writeHead(200, { 'content-type': 'application/json', date: new Date(h.now()).toUTCString() }).end(JSON.stringify(body(calls)))
  })
  t.teardown(() => server.close())
  return { url: server.url, calls: () => calls }
}

t.test('a token that has already expired: one call for twenty waiting requests, never handed out, then backoff', async (t) => {
  const h = harness()
  const expiredByProvider = (): string => jwt(h, 60, { iat: Math.floor((h.now() - 10 * MINUTE) / 1000), exp: Math.floor((h.now() - 5 * MINUTE) / 1000) })
  const idp = await provider(t, h, (n) => ({ accessToken: expiredByProvider(), refreshToken: `rt_${n}` }))
  const current = jwt(h, 60)
  h.advance(2 * MINUTE) // the current token has expired: requests must wait for a refresh
  const svc = service(h, current, 'rt_0', { grant: createJsonRefreshGrant({ url: idp.url, now: h.now }) })
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => svc.getValidAccessToken()))
  t.equal(idp.calls(), 1, 'twenty requests, one call')
  t.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'TOKENGATE_TOKEN_UNAVAILABLE'),
    'every request is refused (503 at the proxy), none is given the expired token')
  const health = svc.getHealth()
  t.equal(health.lastRefreshError, 'bad_response: the access token has already expired')
  t.equal(health.status, 'expired')
  t.equal(health.consecutiveFailures, 1)
  t.equal(svc.currentRefreshToken, 'rt_1', 'the refresh token the answer rotated is kept')
  t.match(h.updates, [{ accessToken: current, refreshToken: 'rt_1' }], 'and saved')

  await Promise.allSettled(Array.from({ length: 20 }, () => svc.getValidAccessToken()))
  t.equal(idp.calls(), 1, 'twenty more requests within the backoff: no call')
  h.advance(2 * SECOND)
  await svc.getValidAccessToken().catch(() => {})
  t.equal(idp.calls(), 2, 'after the backoff, one more attempt')
})

t.test('lifetimes that mean nothing, for a token without exp: a failed refresh; with an exp, the exp decides', async (t) => {
  const nonsense = [-5, 0, 1e308, 'soon', '', true, { seconds: 60 }, [60]]
  for (const expiresIn of nonsense) {
    t.test(`expiresIn ${JSON.stringify(expiresIn)}`, async (t) => {
      const h = harness()
      const idp = await provider(t, h, () => ({ accessToken: 'opaque-new-token', expiresIn }))
      const svc = service(h, 'opaque-current', 'rt_0', { grant: createJsonRefreshGrant({ url: idp.url, now: h.now }) })
      await t.rejects(svc.refreshAccessToken('request'), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response' })
      t.equal(svc.getHealth().lastRefreshError, 'bad_response: expiresIn is not a usable lifetime and the token has no exp')
      t.equal(await svc.getValidAccessToken(), 'opaque-current', 'the new token is never used')
    })
  }

  t.test('a JWT with exp and a nonsense expiresIn: used, expiring by its exp', async (t) => {
    const h = harness()
    const fresh = jwt(h, 600)
    const idp = await provider(t, h, () => ({ accessToken: fresh, expiresIn: -1 }))
    const svc = service(h, 'opaque-current', 'rt_0', { grant: createJsonRefreshGrant({ url: idp.url, now: h.now }) })
    t.equal(await svc.refreshAccessToken('request'), fresh)
    t.equal(svc.getHealth().expiresInSeconds, 600)
  })

  t.test('a valid expiresAt beside a nonsense expiresIn is enough', async (t) => {
    const h = harness()
    const idp = await provider(t, h, () => ({ accessToken: 'opaque-new', expiresIn: 'later', expiresAt: new Date(h.now() + 3600 * SECOND).toISOString() }))
    const svc = service(h, 'opaque-current', 'rt_0', { grant: createJsonRefreshGrant({ url: idp.url, now: h.now }) })
    t.equal(await svc.refreshAccessToken('request'), 'opaque-new')
    t.equal(svc.getHealth().expiresInSeconds, 3600)
  })

  t.test('no lifetime at all for an opaque token: valid until the upstream says 401, as before', async (t) => {
    const h = harness()
    const idp = await provider(t, h, () => ({ accessToken: 'opaque-new', expiresIn: null }))
    const svc = service(h, 'opaque-current', 'rt_0', { grant: createJsonRefreshGrant({ url: idp.url, now: h.now }) })
    t.equal(await svc.refreshAccessToken('request'), 'opaque-new')
    t.equal(svc.getHealth().expiresAt, null)
  })
})

t.test('a token larger than ACCESS_TOKEN_MAX_SIZE is a failed refresh; one at the limit is used', async (t) => {
  const h = harness()
  const limit = 4096
  const sizes = [60 * 1024, limit]
  const idp = await provider(t, h, (n) => ({ accessToken: 'x'.repeat(sizes[n - 1]), refreshToken: `rt_${n}`, expiresIn: 3600 }))
  const svc = service(h, 'opaque-current', 'rt_0', { grant: createJsonRefreshGrant({ url: idp.url, now: h.now }), maxAccessTokenBytes: limit })
  await t.rejects(svc.refreshAccessToken('request'), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response' })
  t.equal(svc.getHealth().lastRefreshError,
    `bad_response: the access token is ${60 * 1024} bytes, more than ACCESS_TOKEN_MAX_SIZE (${limit}) allows in a header`)
  t.equal(await svc.getValidAccessToken(), 'opaque-current')
  t.equal(svc.currentRefreshToken, 'rt_1', 'the rotated refresh token is kept')
  t.equal(await svc.refreshAccessToken('admin'), 'x'.repeat(limit), 'exactly at the limit: used')
  t.equal(svc.currentRefreshToken, 'rt_2')
})
