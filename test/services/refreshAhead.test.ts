// Refresh-ahead: a timer set from the token itself refreshes it at its refresh time, so a gateway
// without traffic keeps a valid token whatever the periodic check's interval. Time moves on the
// harness clock; the engine's timers are the harness's.
import t from 'tap'
import { failure, harness, jwt, MINUTE, ScriptedGrant, SECOND, service, T0, tokens, type Harness } from '../helpers/serviceHarness.js'
import type { TokenRefreshService } from '../../src/services/tokenRefreshService.js'

const DEFAULT_INTERVAL_MS = 30 * MINUTE

/** A grant that answers every exchange with a fresh token of `ttlSeconds`, rotating the refresh token. */
function issuing (h: Harness, ttlSeconds: number, times = 50): ScriptedGrant {
  return new ScriptedGrant(Array.from({ length: times }, (_, i) => async () => tokens(jwt(h, ttlSeconds), `rt_${i + 1}`)))
}

/** Advances `totalMs` in steps, recording the health status seen after each step. */
async function idle (h: Harness, svc: TokenRefreshService, totalMs: number, stepMs = SECOND): Promise<Set<string>> {
  const statuses = new Set<string>()
  for (let elapsed = 0; elapsed < totalMs; elapsed += stepMs) {
    await h.timers.advance(stepMs)
    await svc.whenIdle()
    statuses.add(svc.getHealth().status)
  }
  return statuses
}

t.test('90-second tokens, the default 30-minute interval, 100 s without a request: renewed ahead, never expired', async (t) => {
  const h = harness()
  const grant = issuing(h, 90)
  const svc = service(h, jwt(h, 90), 'rt_0', { grant })
  svc.setCheckInterval(DEFAULT_INTERVAL_MS)
  svc.startRefreshAhead()
  t.same(h.timers.pending(), [h.now() + 45 * SECOND], 'due at half its life (the 5-minute buffer is capped at half of 90 s)')

  const statuses = await idle(h, svc, 100 * SECOND)
  t.notOk(statuses.has('expired'), `health never said expired (saw ${[...statuses].join(', ')})`)
  t.equal(grant.presented.length, 2, 'renewed at 45 s and at 90 s, without a single request')
  t.same(grant.presented, ['rt_0', 'rt_1'], 'each time with the refresh token the last answer rotated')
  t.match(h.updates, [{ trigger: 'refresh-ahead' }, { trigger: 'refresh-ahead' }])
  t.equal(svc.getHealth().status, 'ok')
  await svc.close()
  t.same(h.timers.pending(), [], 'close() clears the timer')
})

t.test('without refresh-ahead (only the periodic check), the same idle gateway lets its token expire', async (t) => {
  const h = harness()
  const grant = issuing(h, 90)
  const svc = service(h, jwt(h, 90), 'rt_0', { grant })
  svc.setCheckInterval(DEFAULT_INTERVAL_MS)
  const statuses = await idle(h, svc, 100 * SECOND)
  t.ok(statuses.has('expired'), 'the control: expired after 90 s')
  t.equal(grant.presented.length, 0)
})

t.test('a failed refresh is retried by the timer when the backoff allows, still without traffic', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([failure('http_500', true), async () => tokens(jwt(h, 90), 'rt_1')])
  const svc = service(h, jwt(h, 90), 'rt_0', { grant, maxAttempts: 1 })
  svc.setCheckInterval(DEFAULT_INTERVAL_MS)
  svc.startRefreshAhead()
  await h.timers.advance(45 * SECOND)
  await svc.whenIdle()
  t.equal(grant.presented.length, 1, 'the first attempt at the refresh time failed')
  const health = svc.getHealth()
  t.equal(health.consecutiveFailures, 1)
  // random() is 1 in the harness: the first backoff is its ceiling, 500 ms.
  t.same(h.timers.pending(), [h.now() + 500], 'the timer now waits for the backoff')
  await idle(h, svc, 2 * SECOND, 100)
  t.equal(grant.presented.length, 2)
  t.equal(svc.getHealth().consecutiveFailures, 0, 'the retry succeeded')
  // Issued at 45.5 s (its iat in whole seconds: 45 s), living 90 s: due at half its life.
  t.same(h.timers.pending(), [T0 + 90 * SECOND], 'and the next refresh time is set from the new token')
})

t.test('no timer where no refresh can help', async (t) => {
  t.test('an opaque token of unknown expiry (refreshed on the upstream\'s 401)', async (t) => {
    const h = harness()
    const svc = service(h, 'opaque-token', 'rt_0', { grant: issuing(h, 90) })
    svc.startRefreshAhead()
    t.same(h.timers.pending(), [])
  })
  t.test('no refresh token', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 90), null, { grant: issuing(h, 90) })
    svc.startRefreshAhead()
    t.same(h.timers.pending(), [])
  })
  t.test('a refused refresh token', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([failure('invalid_grant', false, true)])
    const svc = service(h, jwt(h, 90), 'rt_0', { grant })
    svc.startRefreshAhead()
    await h.timers.advance(45 * SECOND)
    await svc.whenIdle()
    t.equal(svc.getHealth().refreshTokenRejected, true)
    t.same(h.timers.pending(), [], 'nothing left to try until an operator gives new tokens')
  })
  t.test('before refresh-ahead is started, and after close()', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 90), 'rt_0', { grant: issuing(h, 90) })
    await svc.replaceTokens(jwt(h, 90), 'rt_x')
    t.same(h.timers.pending(), [], 'not started: no timer')
    await svc.close()
    svc.startRefreshAhead()
    t.same(h.timers.pending(), [], 'closed: no timer')
  })
})

t.test('a refresh time beyond the longest timer is reached in several waits', async (t) => {
  const h = harness()
  const grant = issuing(h, 60 * 24 * 3600)
  const svc = service(h, jwt(h, 60 * 24 * 3600), 'rt_0', { grant })
  svc.startRefreshAhead()
  const maxTimerMs = 2 ** 31 - 1
  t.same(h.timers.pending(), [h.now() + maxTimerMs], 'the first wait is the longest a timer can wait')
  await h.timers.advance(maxTimerMs)
  t.equal(grant.presented.length, 0, 'not due yet: no refresh')
  t.equal(h.timers.pending().length, 1, 'waiting again')
  await h.timers.advance(60 * 24 * 3600 * SECOND)
  await svc.whenIdle()
  t.equal(grant.presented.length, 1, 'refreshed at its refresh time')
})

t.test('a timer that finds the token already renewed (by a request, another replica) waits for the new one', async (t) => {
  const h = harness()
  const grant = issuing(h, 90)
  const svc = service(h, jwt(h, 90), 'rt_0', { grant })
  svc.startRefreshAhead()
  // Another replica's record arrives: the timer moves to the new token's refresh time.
  h.advance(40 * SECOND)
  svc.adoptRecord({ accessToken: jwt(h, 90), refreshToken: 'rt_other', expiresAtMs: null, version: 5, seedFingerprint: null, updatedAt: '' })
  t.same(h.timers.pending(), [h.now() + 45 * SECOND])
  await h.timers.advance(45 * SECOND)
  await svc.whenIdle()
  t.same(grant.presented, ['rt_other'])
})

t.test('the periodic interval longer than the token\'s life is warned about, once', async (t) => {
  const h = harness()
  const svc = service(h, jwt(h, 90), 'rt_0', { grant: issuing(h, 90) })
  svc.setCheckInterval(DEFAULT_INTERVAL_MS)
  svc.startRefreshAhead()
  await idle(h, svc, 100 * SECOND, 5 * SECOND)
  const warnings = h.logger.lines.filter((line) => line.msg.startsWith('TOKEN_REFRESH_INTERVAL (30 min) is longer than the token\'s life (1.5 min)'))
  t.equal(warnings.length, 1, 'one warning, however many short tokens follow')
  t.match(warnings[0].fields, { tokenLifeSeconds: 90, intervalMinutes: 30 })

  const longLived = harness()
  const quiet = service(longLived, jwt(longLived, 3600), 'rt_0', { grant: issuing(longLived, 3600) })
  quiet.setCheckInterval(DEFAULT_INTERVAL_MS)
  quiet.startRefreshAhead()
  t.notOk(longLived.logger.text().includes('TOKEN_REFRESH_INTERVAL'), 'an hour-long token outlives the interval: no warning')
})

t.test('client_credentials without a token yet: the timer fetches the first one when the backoff allows', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([failure('network', true), async () => tokens(jwt(h, 600))], 'client_credentials', false)
  const svc = service(h, null, null, { grant, maxAttempts: 1 })
  svc.startRefreshAhead()
  await h.timers.advance(0)
  await svc.whenIdle()
  t.equal(grant.presented.length, 1, 'the timer started the first fetch at once')
  await idle(h, svc, 1 * SECOND, 100)
  t.equal(grant.presented.length, 2, 'and retried it after the backoff')
  t.equal(svc.getHealth().status, 'ok')
  // The second fetch ran at 0.5 s (iat 0 s) for a 600-second token: due 5 minutes before its exp.
  t.same(h.timers.pending(), [T0 + 5 * MINUTE], 'next: 5 minutes before the 10-minute token expires')
})
