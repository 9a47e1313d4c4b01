// The system clock jumping forward two hours (a suspended VM resumed, NTP stepping a clock that
// lagged): with the clock injected into the engine and the identity provider alike, the next
// request finds the token expired and refreshes, once, however many requests arrive.
import t from 'tap'
import { MINUTE, harness, idpFor, service } from '../helpers/serviceHarness.js'

const HOUR_MS = 60 * MINUTE
const JUMP_MS = 2 * HOUR_MS

t.test('a jump past the token\'s expiry: the next request waits for one refresh and gets the new token', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { tokenTtlSeconds: 3600 })
  const initial = idp.mint(3600)
  const svc = service(h, initial, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
  t.equal(await svc.getValidAccessToken(), initial)
  t.equal(idp.calls.length, 0)

  h.advance(JUMP_MS)
  t.equal(svc.getHealth().status, 'expired', 'health sees the jump at once')
  const burst = await Promise.all(Array.from({ length: 50 }, () => svc.getValidAccessToken()))
  t.equal(idp.calls.length, 1, 'fifty requests after the jump: one refresh')
  t.same(new Set(burst), new Set([idp.issued[0]]), 'all of them got the new token')
  t.equal(svc.getHealth().status, 'ok')
  t.equal(await svc.getValidAccessToken(), idp.issued[0], 'and it serves from then on, without another refresh')
  t.equal(idp.calls.length, 1)
})

t.test('a jump into the buffer: the next request is served at once and refreshes in the background', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const initial = idp.mint(2 * HOUR_MS / 1000 + 60)
  const svc = service(h, initial, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
  h.advance(JUMP_MS)
  t.equal(svc.getHealth().status, 'expiring')
  t.equal(await svc.getValidAccessToken(), initial, 'still valid for a minute: served at once')
  await svc.whenIdle()
  t.equal(idp.calls.length, 1, 'refreshed in the background')
  t.equal(await svc.getValidAccessToken(), idp.issued[0])
})

t.test('a jump past a backoff: the next request tries again at once', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const svc = service(h, idp.mint(60), idp.validRefreshToken, { refreshUrl: idp.refreshUrl, maxAttempts: 1 })
  idp.failNext('http_503')
  h.advance(59_000)
  await svc.getValidAccessToken()
  await svc.whenIdle()
  t.equal(svc.getHealth().consecutiveFailures, 1, 'a failed refresh set a backoff')
  h.advance(JUMP_MS)
  t.equal(await svc.getValidAccessToken(), idp.issued[0], 'the jump passed the backoff: refreshed on the next request')
  t.equal(svc.getHealth().lastRefreshError, null)
})

t.test('a jump between two periodic checks: the next check refreshes', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { tokenTtlSeconds: 3600 })
  const svc = service(h, idp.mint(3600), idp.validRefreshToken, { refreshUrl: idp.refreshUrl, checkIntervalMs: 30 * MINUTE })
  await svc.checkAndRefresh()
  t.equal(idp.calls.length, 0, 'nothing to do before the jump')
  h.advance(JUMP_MS)
  await svc.checkAndRefresh()
  t.equal(idp.calls.length, 1, 'the check after the jump refreshed')
  t.equal(await svc.getValidAccessToken(), idp.issued[0])
})

// The wall clock stepped back (NTP correcting a clock that ran ahead, an operator): the time that
// really passed is measured on the monotonic clock too, so an expired token stays expired.
t.test('a wall clock stepped back: a token that expired meanwhile is not served again', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { tokenTtlSeconds: 3600 })
  const initial = idp.mint(10 * 60)
  const svc = service(h, initial, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
  t.equal(await svc.getValidAccessToken(), initial)
  h.advance(11 * MINUTE)
  h.stepWallClock(-5 * MINUTE)
  t.equal(svc.getHealth().status, 'expired', 'eleven minutes passed, whatever the wall clock says')
  t.equal(svc.validAccessTokenNow(), null, 'the proxy\'s hot path does not take it either')
  t.equal(await svc.getValidAccessToken(), idp.issued[0], 'the next request waited for a new token')
  t.equal(idp.calls.length, 1)
})

t.test('a wall clock stepped back into a token\'s buffer: served, and refreshed in the background', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { tokenTtlSeconds: 3600 })
  const initial = idp.mint(10 * 60)
  const svc = service(h, initial, idp.validRefreshToken, { refreshUrl: idp.refreshUrl, bufferMs: 5 * MINUTE })
  h.advance(6 * MINUTE)
  h.stepWallClock(-3 * MINUTE)
  t.equal(svc.getHealth().status, 'expiring', 'six minutes of ten passed: inside the five-minute buffer')
  t.equal(await svc.getValidAccessToken(), initial, 'still valid: served at once')
  await svc.whenIdle()
  t.equal(idp.calls.length, 1, 'refreshed in the background')
})

t.test('a wall clock stepped back during a backoff does not stretch it', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const svc = service(h, idp.mint(60), idp.validRefreshToken, { refreshUrl: idp.refreshUrl, maxAttempts: 1 })
  idp.failNext('http_503')
  h.advance(61_000)
  await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE' }, 'expired, and the refresh failed')
  const retryAfter = svc.retryAfterSeconds()
  h.stepWallClock(-10 * MINUTE)
  t.equal(svc.retryAfterSeconds(), retryAfter, 'the wait left is what it was')
  h.advance(retryAfter * 1000)
  t.equal(await svc.getValidAccessToken(), idp.issued[0], 'once the backoff has passed, the next request refreshes')
})
