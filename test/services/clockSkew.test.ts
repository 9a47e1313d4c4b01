// This machine's clock ahead of the identity provider's: a token just issued looks expired (or
// due) by the local clock. Its life is then counted from its arrival, once, with a warning; a
// record stored that way stands on restart and on other replicas. Small differences change nothing.
import t from 'tap'
import { MINUTE, SECOND, ScriptedGrant, T0, harness, jwt, service, tokens, type Harness } from '../helpers/serviceHarness.js'

const HOUR = 60 * MINUTE

/** A one-hour JWT issued by a provider whose clock is `behindMs` behind the harness clock. */
function issuedBehind (h: Harness, behindMs: number, lifeSeconds = 3600): string {
  const iat = Math.floor((h.now() - behindMs) / 1000)
  return jwt(h, 0, { iat, exp: iat + lifeSeconds })
}

const skewWarnings = (h: Harness): object[] => h.logger.lines
  .filter((line) => line.level === 'warn' && /clocks of this machine and the identity provider differ/.test(line.msg))
  .map((line) => line.fields ?? {})

t.test('two hours ahead of the provider, one-hour tokens: the new token serves for its hour, no refresh per request', async (t) => {
  const h = harness()
  const first = issuedBehind(h, 2 * HOUR)
  // One outcome only: a second call to the provider would fail the test.
  const grant = new ScriptedGrant([tokens(first, 'rt_2')])
  const svc = service(h, null, 'rt_1', { grant })

  t.equal(await svc.getValidAccessToken(), first)
  for (let i = 0; i < 5; i++) {
    h.advance(10 * SECOND)
    t.equal(await svc.getValidAccessToken(), first, 'served without another refresh')
  }
  t.equal(grant.presented.length, 1, 'one call to the provider')
  t.match(svc.getHealth(), { status: 'ok', expiresAt: new Date(T0 + HOUR).toISOString() }, 'its hour counted from its arrival')
  t.equal(h.updates[0].expiresAtMs, T0 + HOUR, 'and stored so')
  t.same(skewWarnings(h), [{ clockAheadSeconds: 7200 }], 'one warning, with the difference')
  t.ok(h.logger.messages('info').includes('New token expires at: 2026-03-01T13:00:00.000Z'), 'the log gives the counted expiry')

  h.advance(T0 + 55 * MINUTE - 1 - h.now())
  t.equal(svc.getHealth().status, 'ok')
  h.advance(1)
  t.equal(svc.getHealth().status, 'expiring', 'due at the usual 5-minute buffer before the counted expiry')
})

t.test('the answer\'s own lifetime (expires_in, counted from now) still wins when it is the shorter', async (t) => {
  const h = harness()
  const skewed = issuedBehind(h, 2 * HOUR)
  const svc = service(h, null, 'rt_1', { grant: new ScriptedGrant([tokens(skewed, 'rt_2', T0 + 30 * MINUTE)]) })
  t.equal(await svc.getValidAccessToken(), skewed)
  t.match(svc.getHealth(), { status: 'ok', expiresAt: new Date(T0 + 30 * MINUTE).toISOString() })
  t.equal(skewWarnings(h).length, 1)
})

t.test('ahead by less than the margin: the JWT\'s exp is used as it is, without a warning', async (t) => {
  const h = harness()
  // 20 minutes ahead: the hour-long token looks like 40 minutes, outside the 5-minute buffer.
  const fresh = issuedBehind(h, 20 * MINUTE)
  const svc = service(h, null, 'rt_1', { grant: new ScriptedGrant([tokens(fresh, 'rt_2')]) })
  t.equal(await svc.getValidAccessToken(), fresh)
  t.match(svc.getHealth(), { status: 'ok', expiresAt: new Date(T0 + 40 * MINUTE).toISOString() })
  t.same(skewWarnings(h), [])
})

t.test('a stored expiry counted from arrival stands on restart and on another replica', async (t) => {
  const h = harness()
  const skewed = issuedBehind(h, 2 * HOUR)
  const gateway = service(h, null, 'rt_1', { grant: new ScriptedGrant([tokens(skewed, 'rt_2')]) })
  await gateway.getValidAccessToken()
  const stored = h.updates[0]
  h.advance(10 * MINUTE)

  // The next run starts from the store; it has no outcome scripted, so it must not refresh.
  const restarted = service(h, stored.accessToken, 'rt_2', { grant: new ScriptedGrant([]), expiresAtMs: stored.expiresAtMs })
  t.equal(await restarted.getValidAccessToken(), skewed)
  t.match(restarted.getHealth(), { status: 'ok', expiresAt: new Date(T0 + HOUR).toISOString() })

  const replica = service(h, jwt(h, 3600), 'rt_0', { grant: new ScriptedGrant([]) })
  replica.adoptRecord({ ...stored, refreshToken: 'rt_2', seedFingerprint: 'f'.repeat(64), updatedAt: new Date(T0).toISOString() })
  t.equal(await replica.getValidAccessToken(), skewed, 'another replica takes it as valid')
  t.equal(replica.getHealth().expiresAt, new Date(T0 + HOUR).toISOString())
})

t.test('a token without iat cannot be counted from arrival: already expired, it is a failed refresh', async (t) => {
  const h = harness()
  const noIat = jwt(h, 0, { iat: undefined, exp: Math.floor((h.now() - HOUR) / 1000) })
  const current = jwt(h, 600)
  const svc = service(h, current, 'rt_1', { grant: new ScriptedGrant([tokens(noIat, 'rt_2')]) })
  await t.rejects(svc.refreshAccessToken('request'), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'the access token has already expired' })
  t.equal(await svc.getValidAccessToken(), current, 'never used: the current token stays')
  t.equal(svc.currentRefreshToken, 'rt_2', 'the rotated refresh token is kept')
  t.same(skewWarnings(h), [])
})

t.test('the provider\'s Date header agreeing with this clock: an old token is expired, not a clock difference', async (t) => {
  const h = harness()
  // Issued two hours ago by the provider's own clock, which shows the same time as this one.
  const stale = jwt(h, HOUR / 1000, { iat: Math.floor((h.now() - 2 * HOUR) / 1000), exp: Math.floor((h.now() - HOUR) / 1000) })
  const svc = service(h, null, 'rt_1', { grant: new ScriptedGrant([{ ...tokens(stale, 'rt_2'), providerDateMs: h.now() - 2000 }]) })
  await t.rejects(svc.refreshAccessToken('request'), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'the access token has already expired' })
  t.same(skewWarnings(h), [], 'no clock-difference warning')
  t.equal(svc.getHealth().status, 'expired')

  // The same token with a Date header an hour and a half behind: the clocks differ, its life counts from now.
  const skewed = service(h, null, 'rt_1', { grant: new ScriptedGrant([{ ...tokens(stale, 'rt_2'), providerDateMs: h.now() - 90 * 60_000 }]) })
  await skewed.refreshAccessToken('request')
  t.equal(skewed.getHealth().status, 'ok')
  t.same(skewWarnings(h), [{ clockAheadSeconds: 7200 }])
})
