// The token engine: single flight, background refresh inside the buffer, rotation, retries,
// bad answers, the periodic check, persistence before use, health and logs. The identity
// provider is real (over HTTP) where the wire matters; a scripted grant gives exact outcomes
// elsewhere. Only the clock (now, sleep, random) is faked.
import t from 'tap'
import { signJwt } from '../../src/demo/jwt.js'
import { StoreError } from '../../src/errors.js'
import type { TokenSet } from '../../src/grants/refreshGrant.js'
import {
  DEFAULT_CHECK_INTERVAL_MS, DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY, TokenRefreshService, type OnTokensUpdated
} from '../../src/services/tokenRefreshService.js'
import { MemoryTokenStore } from '../../src/stores/memoryTokenStore.js'
import { unusedUrl } from '../helpers/localServer.js'
import {
  MINUTE, SECOND, ScriptedGrant, T0, UNUSED_REFRESH_URL, assertNoSecretsLogged, deferred, failure, harness, idpFor, jwt,
  service, tick, tokens, track
} from '../helpers/serviceHarness.js'

t.test('defaults', async (t) => {
  t.equal(DEFAULT_CHECK_INTERVAL_MS, 30 * MINUTE)
  t.equal(DEFAULT_MAX_ATTEMPTS, 3)
  t.same(DEFAULT_RETRY, { baseMs: 500, maxMs: 60_000 })
  const svc = new TokenRefreshService(null, 'rt', UNUSED_REFRESH_URL)
  t.equal(svc.style, 'json', 'the json grant is the default')
  t.equal(svc.refreshEnabled, true)
  t.equal(svc.currentRefreshToken, 'rt')
  t.equal(svc.needsRefresh(), true, 'no token at all needs a refresh')
})

t.test('without an onTokensUpdated callback, refreshed tokens are simply used', async (t) => {
  const h = harness()
  const svc = new TokenRefreshService(null, 'rt_1', UNUSED_REFRESH_URL, undefined, {
    ...h.options, grant: new ScriptedGrant([tokens('at_1', 'rt_2')])
  })
  t.equal(await svc.getValidAccessToken(), 'at_1')
  t.equal(svc.currentRefreshToken, 'rt_2')
})

t.test('versions: each adoption is one more than the tokens it replaces', async (t) => {
  const h = harness()
  const svc = service(h, jwt(h, 600), 'rt_1', { version: 5, grant: new ScriptedGrant([tokens('at_1'), tokens('at_2')]) })
  t.equal(svc.currentRecord()?.version, 5, 'the initial tokens keep the store\'s version')
  await svc.refreshAccessToken()
  await svc.replaceTokens('at_operator', null)
  await svc.refreshAccessToken()
  t.same(h.updates.map((update) => update.version), [6, 7, 8])
  t.same(svc.currentRecord(), { accessToken: 'at_2', refreshToken: 'rt_1', expiresAtMs: null, version: 8, seedFingerprint: null, updatedAt: new Date(h.clock.ms).toISOString() })
  t.equal(service(h, null, 'rt', { grant: new ScriptedGrant([]) }).currentRecord(), null, 'no token, no snapshot')
})

t.test('reportStoreError shows in health until cleared', async (t) => {
  const h = harness()
  const svc = service(h, jwt(h, 600), 'rt', { grant: new ScriptedGrant([]) })
  svc.reportStoreError('Redis unavailable (connect ECONNREFUSED 127.0.0.1:6379)')
  t.equal(svc.getHealth().storeError, 'Redis unavailable (connect ECONNREFUSED 127.0.0.1:6379)')
  svc.reportStoreError(null)
  t.equal(svc.getHealth().storeError, null)
})

t.test('a valid token is returned at once, without a refresh', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([])
  const token = jwt(h, 3600)
  const svc = service(h, token, 'rt_1', { grant })
  t.equal(await svc.getValidAccessToken(), token)
  h.advance(54 * MINUTE)
  t.equal(await svc.getValidAccessToken(), token, 'still outside the 5-minute buffer at 54 minutes')
  t.equal(svc.needsRefresh(), false)
  svc.refreshIfDue()
  await svc.whenIdle()
  t.same(grant.presented, [], 'no refresh was attempted')
  t.same(h.updates, [])
})

t.test('single flight: 200 concurrent callers on an expired token make one identity-provider call', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { delayMs: 500 })
  const expired = idp.mint(600)
  const initialRefreshToken = idp.validRefreshToken
  h.advance(601 * SECOND)
  const svc = service(h, expired, initialRefreshToken, { refreshUrl: idp.refreshUrl })

  const first = Array.from({ length: 100 }, () => svc.getValidAccessToken())
  // More callers arrive while the refresh is in flight (the provider takes 500 ms).
  for (let i = 0; i < 5; i++) await tick()
  t.equal(svc.getHealth().refreshCount, 0, 'the refresh is still in flight')
  const second = Array.from({ length: 100 }, () => svc.getValidAccessToken())
  const received = await Promise.all([...first, ...second])

  t.equal(idp.calls.length, 1, 'one call to the identity provider')
  t.equal(idp.calls[0].refreshToken, initialRefreshToken)
  t.equal(received.length, 200)
  t.same([...new Set(received)], [idp.issued[0]], 'all 200 got the new token')
  t.equal(h.updates.length, 1, 'announced once')
  t.equal(h.updates[0].trigger, 'request')
  t.equal(await svc.getValidAccessToken(), idp.issued[0], 'later callers use it without another call')
  t.equal(idp.calls.length, 1)
  t.equal(svc.currentRefreshToken, idp.validRefreshToken, 'the rotated refresh token is kept')
  assertNoSecretsLogged(t, h, idp, [expired, initialRefreshToken], [svc])
})

t.test('single flight across triggers: forced, periodic, background and waiting callers share one refresh', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { delayMs: 50 })
  const expired = idp.mint(600)
  h.advance(601 * SECOND)
  const svc = service(h, expired, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
  const forced = [svc.refreshAccessToken(), svc.refreshAccessToken('upstream-401'), svc.refreshAccessToken('admin')]
  svc.refreshInBackground('periodic')
  svc.refreshIfDue()
  const periodic = svc.checkAndRefresh()
  const waiting = svc.getValidAccessToken()
  const received = await Promise.all([...forced, waiting])
  await periodic
  await svc.whenIdle()
  t.same(idp.calls.map((call) => call.status), [200], 'one call; a second one would have spent the rotated token (400)')
  t.same([...new Set(received)], [idp.issued[0]])
  t.same(h.updates.map((update) => update.trigger), ['admin'], 'the first trigger names the shared refresh')
})

t.test('inside the buffer the current token is served at once while a refresh runs in the background', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { delayMs: 300 })
  const current = idp.mint(600)
  const svc = service(h, current, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
  h.advance(301 * SECOND) // 299 s left: inside the 5-minute buffer, not expired
  t.equal(svc.getHealth().status, 'expiring')

  t.equal(await svc.getValidAccessToken(), current, 'served the current token')
  t.equal(await svc.getValidAccessToken(), current, 'and again, joining the same background refresh')
  t.equal(idp.issued.length, 0, 'both were served before the provider (300 ms) had answered')
  t.equal(svc.getHealth().refreshCount, 0)

  await svc.whenIdle()
  t.equal(idp.calls.length, 1, 'one background refresh')
  t.equal(await svc.getValidAccessToken(), idp.issued[0], 'the new token afterwards')
  t.equal(svc.getHealth().status, 'ok')
  t.equal(h.updates[0].trigger, 'request')
  assertNoSecretsLogged(t, h, idp, [current], [svc])
})

t.test('a failing background refresh never fails a caller while the token is valid, and backs off', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([failure('http_500', true), tokens('at_new', 'rt_2')])
  const current = jwt(h, 600)
  const svc = service(h, current, 'rt_1', { grant, maxAttempts: 1 })
  h.advance(400 * SECOND)
  t.equal(await svc.getValidAccessToken(), current)
  await svc.whenIdle()
  const health = svc.getHealth()
  t.equal(health.status, 'expiring')
  t.equal(health.lastRefreshError, 'http_500: detail for http_500')
  t.equal(health.consecutiveFailures, 1)

  t.equal(await svc.getValidAccessToken(), current, 'still served')
  await svc.whenIdle()
  t.equal(grant.presented.length, 1, 'no new attempt inside the backoff (500 ms)')
  svc.refreshIfDue()
  t.equal(grant.presented.length, 1, 'refreshIfDue respects the backoff too')

  h.advance(500)
  t.equal(await svc.getValidAccessToken(), current)
  await svc.whenIdle()
  t.equal(grant.presented.length, 2, 'tried again once the backoff passed')
  t.equal(await svc.getValidAccessToken(), 'at_new')
  t.equal(svc.getHealth().lastRefreshError, null, 'cleared by the successful refresh')
  t.equal(svc.getHealth().consecutiveFailures, 0)
})

t.test('rotation: each refresh presents the refresh token the previous one returned', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const initial = idp.validRefreshToken
  const svc = service(h, null, initial, { refreshUrl: idp.refreshUrl })

  const first = await svc.refreshAccessToken()
  const rotated = svc.currentRefreshToken
  t.not(rotated, initial)
  t.equal(rotated, idp.validRefreshToken)
  t.equal(h.updates[0].refreshToken, rotated, 'the rotated token was handed to the callback')
  t.equal(h.updates[0].trigger, 'admin', 'refreshAccessToken() defaults to the admin trigger')

  const second = await svc.refreshAccessToken('periodic')
  t.same(idp.calls.map((call) => [call.refreshToken, call.status]), [[initial, 200], [rotated, 200]],
    'the second refresh presented the rotated token and was accepted')
  t.equal(first, idp.issued[0])
  t.equal(second, idp.issued[1])
  t.equal(await svc.getValidAccessToken(), second)
  t.equal(svc.getHealth().refreshCount, 2)
  assertNoSecretsLogged(t, h, idp, [initial], [svc])
})

t.test('an answer without a refresh token keeps the old one', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h, { rotate: false })
  const initial = idp.validRefreshToken
  const svc = service(h, null, initial, { refreshUrl: idp.refreshUrl })
  await svc.refreshAccessToken()
  t.equal(svc.currentRefreshToken, initial)
  t.equal(h.updates[0].refreshToken, initial, 'persisted with the old refresh token')
  await svc.refreshAccessToken()
  t.same(idp.calls.map((call) => [call.refreshToken, call.status]), [[initial, 200], [initial, 200]])
  assertNoSecretsLogged(t, h, idp, [initial], [svc])
})

t.test('retries', async (t) => {
  t.test('network errors, 5xx and 429 are retried with exponential backoff and Retry-After', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([
      failure('network', true),
      failure('http_500', true),
      failure('http_429', true, false, 5000),
      tokens('at_new', 'rt_2')
    ])
    const svc = service(h, null, 'rt_1', { grant, maxAttempts: 4 })
    t.equal(await svc.getValidAccessToken(), 'at_new')
    t.same(h.sleeps, [500, 1000, 5000], 'base·2^n, and the server-requested 5 s beats the 2 s ceiling')
    t.same(grant.presented, ['rt_1', 'rt_1', 'rt_1', 'rt_1'], 'every attempt presents the same refresh token')
    t.same(h.logger.lines.filter((line) => line.msg === 'Token refresh attempt failed, retrying').map((line) => line.fields),
      [
        { trigger: 'request', reason: 'network', attempt: 1, retryInMs: 500 },
        { trigger: 'request', reason: 'http_500', attempt: 2, retryInMs: 1000 },
        { trigger: 'request', reason: 'http_429', attempt: 3, retryInMs: 5000 }
      ])
    const health = svc.getHealth()
    t.equal(health.consecutiveFailures, 0, 'retries inside one refresh are not failures of the refresh')
    t.equal(health.lastRefreshError, null)
  })

  t.test('gives up after maxAttempts (3 by default) and records one failure', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([failure('http_503', true), failure('http_503', true), failure('http_503', true), tokens('never')])
    const svc = service(h, null, 'rt_1', { grant })
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'http_503' })
    t.equal(grant.presented.length, 3)
    t.same(h.sleeps, [500, 1000])
    t.equal(svc.getHealth().consecutiveFailures, 1)
    t.equal(svc.getHealth().lastRefreshError, 'http_503: detail for http_503')
  })

  t.test('the retry policy and jitter are injected', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([failure('timeout', true), failure('timeout', true), tokens('at')])
    const svc = service(h, null, 'rt', { grant, retry: { baseMs: 10, maxMs: 15 }, random: () => 0 })
    await svc.refreshAccessToken()
    t.same(h.sleeps, [5, 8], 'half of the ceiling (10, then 15 capped from 20)')
  })

  t.test('maxAttempts below 1 still makes one attempt', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([failure('http_500', true), tokens('never')])
    const svc = service(h, null, 'rt', { grant, maxAttempts: 0 })
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'http_500' })
    t.equal(grant.presented.length, 1)
    t.same(h.sleeps, [])
  })

  t.test('against the identity provider: 500, 500, then success', async (t) => {
    const h = harness()
    const idp = await idpFor(t, h)
    idp.failNext('http_500', 2)
    const svc = service(h, null, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
    t.equal(await svc.getValidAccessToken(), idp.issued[0])
    t.same(idp.calls.map((call) => call.status), [500, 500, 200])
    t.equal(h.sleeps.length, 2)
    assertNoSecretsLogged(t, h, idp, [], [svc])
  })

  t.test('against the identity provider: 429 waits at least its Retry-After', async (t) => {
    const h = harness()
    const idp = await idpFor(t, h)
    idp.failNext('http_429')
    const svc = service(h, null, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
    await svc.refreshAccessToken()
    t.same(h.sleeps, [1000], 'Retry-After: 1 (above the 500 ms backoff)')
    t.same(idp.calls.map((call) => call.status), [429, 200])
  })

  t.test('against the identity provider: 503 three times fails the refresh', async (t) => {
    const h = harness()
    const idp = await idpFor(t, h)
    idp.failNext('http_503', 3)
    const svc = service(h, null, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
    await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE', statusCode: 503 })
    t.equal(idp.calls.length, 3)
    t.equal(svc.getHealth().lastRefreshError, 'http_503: identity provider answered HTTP 503 (temporarily_unavailable)')
  })

  t.test('an unreachable identity provider is retried, then reported as network', async (t) => {
    const h = harness()
    const svc = service(h, null, 'rt', { refreshUrl: await unusedUrl() })
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'network' })
    t.equal(h.sleeps.length, 2, 'three attempts')
    t.equal(svc.getHealth().lastRefreshError, 'network: identity provider unreachable (ECONNREFUSED)')
  })

  t.test('an unexpected error from a grant is reported as internal and not retried', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([new TypeError('cannot read rt_secret_value'), tokens('never')])
    const svc = service(h, null, 'rt_secret_value', { grant })
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'internal', detail: 'unexpected error during refresh' })
    t.equal(grant.presented.length, 1)
    t.same(h.sleeps, [])
    t.equal(svc.getHealth().lastRefreshError, 'internal: unexpected error during refresh', 'the thrown message is not shown')
    t.notMatch(h.logger.text(), 'rt_secret_value')
  })
})

t.test('a refused refresh token (400/401) is not retried and is flagged in health', async (t) => {
  t.test('invalid_grant from the identity provider', async (t) => {
    const h = harness()
    const idp = await idpFor(t, h)
    idp.failNext('invalid_grant')
    const current = idp.mint(600)
    const refreshToken = idp.validRefreshToken
    const svc = service(h, current, refreshToken, { refreshUrl: idp.refreshUrl })
    svc.setCheckInterval(30 * MINUTE)
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'invalid_grant', rejected: true })
    t.equal(idp.calls.length, 1, 'no retry')
    t.same(h.sleeps, [])
    let health = svc.getHealth()
    t.equal(health.refreshTokenRejected, true)
    t.equal(health.lastRefreshError, 'invalid_grant: identity provider refused the grant (HTTP 400)')
    t.notMatch(JSON.stringify(health), /revoked/, 'the provider\'s description is not echoed')
    t.ok(h.logger.lines.some((line) => line.level === 'error' &&
      line.msg === `Token refresh failed at ${new URL(idp.url).host}: the identity provider refused the refresh token; new tokens are needed`))

    h.advance(400 * SECOND) // inside the buffer: served, but no refresh is attempted
    t.equal(await svc.getValidAccessToken(), current)
    await svc.checkAndRefresh()
    t.ok(h.logger.messages('warn').includes('The refresh token was refused; waiting for new tokens'))
    svc.refreshIfDue()
    await svc.whenIdle()
    h.advance(10 * MINUTE) // expired
    await t.rejects(svc.getValidAccessToken(), {
      code: 'TOKENGATE_TOKEN_UNAVAILABLE',
      message: 'the access token has expired and the identity provider refused the refresh token',
      retryAfterSeconds: 60
    })
    t.equal(idp.calls.length, 1, 'nothing asked the identity provider again')

    const replacement = idp.mint(3600)
    await svc.replaceTokens(replacement, idp.validRefreshToken)
    health = svc.getHealth()
    t.equal(health.refreshTokenRejected, false, 'new tokens clear the flag')
    t.equal(health.lastRefreshError, null)
    t.equal(health.consecutiveFailures, 0)
    t.equal(await svc.getValidAccessToken(), replacement)
    assertNoSecretsLogged(t, h, idp, [current, refreshToken], [svc])
  })

  t.test('401 without an OAuth error code', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([failure('http_401', false, true), tokens('never')])
    const svc = service(h, null, 'rt', { grant })
    await t.rejects(svc.getValidAccessToken(), {
      code: 'TOKENGATE_TOKEN_UNAVAILABLE', message: 'no valid access token; the refresh failed (http_401: detail for http_401)'
    })
    t.equal(grant.presented.length, 1)
    t.equal(svc.getHealth().refreshTokenRejected, true)
    await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE', retryAfterSeconds: 60 })
    t.equal(grant.presented.length, 1)
  })
})

t.test('a bad answer keeps the old tokens and is reported with its reason', async (t) => {
  const cases = [
    ['garbage', 'bad_response: answer is not a JSON object'],
    ['no_access_token', 'bad_response: answer has no accessToken string'],
    ['huge', `bad_response: answer larger than ${64 * 1024} bytes`],
    ['trickle', 'timeout: no complete answer within 300 ms'],
    ['hang', 'timeout: no complete answer within 300 ms']
  ] as const
  for (const [fault, expected] of cases) {
    t.test(fault, async (t) => {
      const h = harness()
      const idp = await idpFor(t, h)
      const current = idp.mint(600)
      const refreshToken = idp.validRefreshToken
      const svc = service(h, current, refreshToken, { refreshUrl: idp.refreshUrl, refreshTimeoutMs: 300, maxAttempts: 1 })
      idp.failNext(fault)
      const started = performance.now()
      await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: expected.split(':')[0] })
      t.ok(performance.now() - started < 3000, 'bounded in time')
      t.equal(await svc.getValidAccessToken(), current, 'the old access token is still used')
      if (fault === 'no_access_token') {
        // The provider rotated the refresh token in its refused answer: the one presented is spent.
        t.not(idp.validRefreshToken, refreshToken)
        t.equal(svc.currentRefreshToken, idp.validRefreshToken, 'the rotated refresh token is kept')
        t.match(h.updates, [{ accessToken: current, refreshToken: idp.validRefreshToken, version: 1 }], 'and saved, with the old access token')
        t.ok(h.logger.messages('warn').includes('The refused answer carried a new refresh token; keeping it (the one presented is spent)'))
      } else {
        t.equal(svc.currentRefreshToken, refreshToken, 'the old refresh token is kept')
        t.same(h.updates, [], 'nothing was persisted or announced')
      }
      const health = svc.getHealth()
      t.equal(health.lastRefreshError, expected)
      t.equal(health.consecutiveFailures, 1)
      t.equal(health.refreshTokenRejected, false)
      t.equal(health.status, 'ok')
      assertNoSecretsLogged(t, h, idp, [current], [svc])
    })
  }

  t.test('the answer size limit is an option', async (t) => {
    const h = harness()
    const idp = await idpFor(t, h)
    const svc = service(h, null, idp.validRefreshToken, { refreshUrl: idp.refreshUrl, maxAnswerBytes: 100 })
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response' })
    t.equal(svc.getHealth().lastRefreshError, 'bad_response: answer larger than 100 bytes')
    t.equal(idp.calls.length, 1, 'a bad answer is not retried')
  })
})

t.test('without a refresh token', async (t) => {
  t.test('an expired JWT gives TokenUnavailableError and never calls a grant', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([])
    const expired = jwt(h, 600)
    h.advance(700 * SECOND)
    const svc = service(h, expired, null, { grant })
    t.equal(svc.refreshEnabled, false)
    await t.rejects(svc.getValidAccessToken(), {
      code: 'TOKENGATE_TOKEN_UNAVAILABLE',
      statusCode: 503,
      message: 'the access token has expired and no refresh token is configured',
      retryAfterSeconds: 60
    })
    t.same(grant.presented, [])
    const health = svc.getHealth()
    t.equal(health.status, 'expired')
    t.equal(health.refreshEnabled, false)
  })

  t.test('an empty refresh token counts as none', async (t) => {
    const h = harness()
    const svc = service(h, null, '', { grant: new ScriptedGrant([]) })
    t.equal(svc.refreshEnabled, false)
    t.equal(svc.currentRefreshToken, null)
    await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE' })
  })

  t.test('a token inside the buffer is served and no refresh is attempted', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([])
    const current = jwt(h, 600)
    const svc = service(h, current, null, { grant })
    h.advance(400 * SECOND)
    t.equal(await svc.getValidAccessToken(), current)
    svc.refreshIfDue()
    await svc.checkAndRefresh()
    await svc.whenIdle()
    t.same(grant.presented, [])
    t.ok(h.logger.messages('debug').includes('Token refresh is disabled; nothing to do'))
    t.equal(svc.getHealth().nextCheckAt, null, 'no next check is announced when refresh is disabled')
  })

  t.test('a forced refresh fails as refresh_disabled', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 3600), null, { grant: new ScriptedGrant([]) })
    await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'refresh_disabled', retryable: false })
    t.equal(svc.getHealth().lastRefreshError, 'refresh_disabled: no refresh token is configured')
    t.equal(svc.getHealth().consecutiveFailures, 1)
  })

  t.test('a grant that needs no refresh token (client_credentials) obtains the first token itself', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([tokens('cc_token_1', null, T0 + 3600 * SECOND)], 'client_credentials', false)
    const svc = service(h, null, null, { grant })
    t.equal(svc.refreshEnabled, true)
    t.equal(svc.style, 'client_credentials')
    svc.refreshIfDue()
    await svc.whenIdle()
    t.same(grant.presented, [null])
    t.equal(h.updates[0].trigger, 'startup', 'refreshIfDue defaults to the startup trigger')
    t.equal(await svc.getValidAccessToken(), 'cc_token_1')
    const health = svc.getHealth()
    t.equal(health.refreshStyle, 'client_credentials')
    t.equal(health.expiresAt, new Date(T0 + 3600 * SECOND).toISOString())
  })
})

t.test('after a failed refresh, callers without a valid token get 503 until the backoff passes', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([
    failure('http_500', true), failure('http_500', true), failure('http_500', true), tokens('at_new')
  ])
  const svc = service(h, null, 'rt', { grant, maxAttempts: 1, retry: { baseMs: 10_000, maxMs: 60_000 } })
  await t.rejects(svc.getValidAccessToken(), {
    code: 'TOKENGATE_TOKEN_UNAVAILABLE',
    message: 'no valid access token; the refresh failed (http_500: detail for http_500)',
    retryAfterSeconds: 10
  })
  t.equal(svc.retryAfterSeconds(), 10)
  await t.rejects(svc.getValidAccessToken(), {
    message: 'no valid access token; the last refresh failed (http_500: detail for http_500)', retryAfterSeconds: 10
  })
  t.equal(grant.presented.length, 1, 'no attempt inside the backoff')
  h.advance(4_500)
  await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE', retryAfterSeconds: 6 }, 'Retry-After counts down')

  h.advance(5_500)
  await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE', retryAfterSeconds: 20 }, 'second failure: the backoff doubles')
  h.advance(20_000)
  await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE', retryAfterSeconds: 40 })
  t.equal(svc.getHealth().consecutiveFailures, 3)
  h.advance(40_000)
  t.equal(await svc.getValidAccessToken(), 'at_new')
  t.equal(svc.retryAfterSeconds(), 1, 'at least one second')
  t.equal(grant.presented.length, 4)
})

t.test('a Retry-After on the final failure sets the next attempt', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([failure('http_429', true, false, 30_000)])
  const svc = service(h, null, 'rt', { grant, maxAttempts: 1 })
  await t.rejects(svc.getValidAccessToken(), { code: 'TOKENGATE_TOKEN_UNAVAILABLE', retryAfterSeconds: 30 })
  t.equal(svc.retryAfterSeconds(), 30)
})

t.test('a server-requested delay does not hold a refresh (and every waiting caller) open for an hour', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([failure('http_503', true, false, 3_600_000), tokens('at_new')])
  const svc = service(h, null, 'rt', { grant })
  await svc.refreshAccessToken().catch(() => {})
  t.ok(h.sleeps.every((ms) => ms <= DEFAULT_RETRY.maxMs), `no retry sleep above retry.maxMs (slept ${h.sleeps.join(', ')} ms)`)
})

t.test('the periodic check', async (t) => {
  t.test('skips a token that survives until the next check (minus buffer)', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([])
    const svc = service(h, jwt(h, 40 * 60), 'rt', { grant })
    await svc.checkAndRefresh()
    t.same(grant.presented, [])
    t.same(h.logger.messages('info').slice(-2), ['[Periodic Refresh] Checking token expiry...', 'Token still valid. Expires in 40 minutes'])
    t.equal(svc.getHealth().nextCheckAt, new Date(T0 + 30 * MINUTE).toISOString())
  })

  t.test('below ten minutes the remaining time is logged with one decimal', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([])
    // 570 s of life: the buffer is capped at half of it (285 s), due in 4.75 minutes, next check in 1.
    await service(h, jwt(h, 570), 'rt', { grant, checkIntervalMs: MINUTE }).checkAndRefresh()
    t.same(grant.presented, [])
    t.equal(h.logger.messages('info').at(-1), 'Token still valid. Expires in 9.5 minutes')
    await service(h, jwt(h, 600), 'rt', { grant, checkIntervalMs: MINUTE }).checkAndRefresh()
    t.equal(h.logger.messages('info').at(-1), 'Token still valid. Expires in 10 minutes', 'whole minutes from ten on')
  })

  t.test('refreshes a token that would be inside the buffer before the next check', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([tokens('at_new', 'rt_2')])
    const svc = service(h, jwt(h, 34 * 60), 'rt', { grant })
    t.equal(svc.needsRefresh(), false, 'not yet inside the buffer')
    await svc.checkAndRefresh()
    t.same(grant.presented, ['rt'], 'refreshed now: at the next check it would be 4 minutes from expiry')
    t.equal(h.updates[0].trigger, 'periodic')
    t.equal(await svc.getValidAccessToken(), 'at_new')
  })

  t.test('the boundary: due exactly at the next check refreshes; one second later does not', async (t) => {
    const h = harness()
    const exactly = new ScriptedGrant([tokens('at_new')])
    await service(h, jwt(h, 35 * 60), 'rt', { grant: exactly }).checkAndRefresh()
    t.equal(exactly.presented.length, 1)
    const later = new ScriptedGrant([])
    await service(h, jwt(h, 35 * 60 + 1), 'rt', { grant: later }).checkAndRefresh()
    t.equal(later.presented.length, 0)
  })

  t.test('follows the configured interval', async (t) => {
    const h = harness()
    const skip = new ScriptedGrant([])
    await service(h, jwt(h, 16 * 60), 'rt', { grant: skip, checkIntervalMs: 10 * MINUTE }).checkAndRefresh()
    t.equal(skip.presented.length, 0, 'due at 11 minutes, next check at 10')
    const refresh = new ScriptedGrant([tokens('at_new')])
    const svc = service(h, jwt(h, 14 * 60), 'rt', { grant: refresh })
    svc.setCheckInterval(10 * MINUTE)
    t.equal(svc.getHealth().nextCheckAt, new Date(T0 + 10 * MINUTE).toISOString())
    await svc.checkAndRefresh()
    t.equal(refresh.presented.length, 1, 'due at 9 minutes, next check at 10')
  })

  t.test('a later check refreshes what an earlier one skipped', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([tokens('at_new')])
    const svc = service(h, jwt(h, 40 * 60), 'rt', { grant })
    await svc.checkAndRefresh()
    t.equal(grant.presented.length, 0)
    h.advance(30 * MINUTE)
    await svc.checkAndRefresh()
    t.equal(grant.presented.length, 1)
  })

  t.test('an opaque token of unknown expiry is left to the upstream\'s 401', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([])
    await service(h, 'opaque-token', 'rt', { grant }).checkAndRefresh()
    t.same(grant.presented, [])
    t.ok(h.logger.messages('info').includes('Token expiry unknown (opaque token); refreshed when the upstream answers 401'))
  })

  t.test('no token at all is fetched', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([tokens('at_first')])
    const svc = service(h, null, 'rt', { grant })
    await svc.checkAndRefresh()
    t.equal(await svc.getValidAccessToken(), 'at_first')
  })

  t.test('a failure is recorded, never thrown', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([failure('http_500', true)])
    const svc = service(h, null, 'rt', { grant, maxAttempts: 1 })
    await t.resolves(svc.checkAndRefresh())
    t.equal(svc.getHealth().lastRefreshError, 'http_500: detail for http_500')
  })

  t.test('startPeriodicRefresh runs the check on a timer; stopPeriodicRefresh stops it', async (t) => {
    const h = harness()
    const refreshed = deferred()
    const current = jwt(h, 600)
    h.advance(5 * MINUTE + SECOND) // inside the buffer
    const svc = service(h, current, 'rt', {
      grant: new ScriptedGrant([tokens('at_periodic', null, T0 + 60 * MINUTE)]),
      onTokensUpdated: (_at, _rt, update) => { h.updates.push(update); refreshed.resolve() }
    })
    t.teardown(() => svc.stopPeriodicRefresh())
    // The periodic timer is unref'd (it must not keep a gateway alive); this test's process needs a ref'd one.
    const keepAlive = setInterval(() => {}, 1000)
    t.teardown(() => clearInterval(keepAlive))
    const intervalMinutes = 0.0005 // 30 ms
    svc.startPeriodicRefresh(intervalMinutes)
    svc.startPeriodicRefresh(intervalMinutes) // restarting must not leave the first timer running
    t.equal(svc.getHealth().nextCheckAt, new Date(h.now() + 30).toISOString())
    await refreshed.promise
    await svc.whenIdle()
    t.equal(h.updates[0].trigger, 'periodic')
    t.equal(await svc.getValidAccessToken(), 'at_periodic')

    svc.stopPeriodicRefresh()
    const checks = (): number => h.logger.messages('info').filter((msg) => msg === '[Periodic Refresh] Checking token expiry...').length
    const before = checks()
    await new Promise((resolve) => setTimeout(resolve, 150))
    t.equal(checks(), before, 'no check after stopPeriodicRefresh (five intervals later)')
    svc.stopPeriodicRefresh()
    t.pass('stopping twice is harmless')
  })
})

t.test('new tokens are handed to onTokensUpdated, and awaited, before anyone is given them', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const store = new MemoryTokenStore()
  const entered = deferred()
  const release = deferred()
  const events: string[] = []
  const expired = idp.mint(60)
  const initialRefreshToken = idp.validRefreshToken
  h.advance(61 * SECOND)
  const svc = service(h, expired, initialRefreshToken, {
    refreshUrl: idp.refreshUrl,
    onTokensUpdated: async (accessToken, refreshToken, update) => {
      events.push('persist:start')
      h.updates.push(update)
      entered.resolve()
      await release.promise
      await store.save({
        accessToken, refreshToken, expiresAtMs: update.expiresAtMs, version: 1, seedFingerprint: null, updatedAt: new Date(h.now()).toISOString()
      })
      events.push('persist:end')
    }
  })
  const first = svc.getValidAccessToken().then(async (token) => {
    events.push('caller:got-token')
    t.equal((await store.load())?.accessToken, token, 'the token handed out was already in the store')
    return token
  })
  await entered.promise
  const second = track(svc.getValidAccessToken())
  await tick()
  await tick()
  t.same(events, ['persist:start'], 'callers wait while the callback persists')
  t.equal(second.settled, false)
  t.equal(svc.currentRefreshToken, initialRefreshToken, 'the rotated refresh token is not in use yet')
  t.equal(svc.getHealth().refreshCount, 0)

  release.resolve()
  const token = await first
  t.same(events, ['persist:start', 'persist:end', 'caller:got-token'])
  t.equal(token, idp.issued[0])
  t.same(h.updates[0], {
    accessToken: idp.issued[0],
    refreshToken: idp.validRefreshToken,
    expiresAtMs: (T0 + 61 * SECOND) + 3600 * SECOND,
    version: 1,
    seedFingerprint: null,
    updatedAt: new Date(h.clock.ms).toISOString(),
    trigger: 'request'
  }, 'the callback got the pair, the decoded expiry and the next version')
  t.equal((await store.load())?.refreshToken, idp.validRefreshToken)
  assertNoSecretsLogged(t, h, idp, [expired, initialRefreshToken], [svc])
})

// Something that is thrown but is not an Error (a callback may do anything).
const notAnError = (value: unknown): Error => value as Error

t.test('a failing onTokensUpdated does not stop the new tokens being used', async (t) => {
  // Errors that are not our StoreError are named, never quoted: they may hold a token.
  const throwers: Array<[string, (message: unknown) => void | Promise<void>, unknown, Record<string, unknown>, string]> = [
    ['throws', (message) => { throw new Error(String(message)) }, 'disk full', { type: 'Error', message: 'the token store failed (Error)' }, 'the token store failed (Error)'],
    ['rejects', async (message) => { throw Object.assign(new Error(String(message)), { code: 'EACCES' }) },
      'EACCES: permission denied', { type: 'Error', code: 'EACCES', message: 'the token store failed (EACCES)' }, 'the token store failed (EACCES)'],
    ['throws a string', (message) => { throw notAnError(message) }, 'store broke', { type: 'Error', message: 'the token store failed (unknown error)' }, 'the token store failed (unknown error)'],
    ['throws null', (message) => { throw notAnError(message) }, null, { type: 'Error', message: 'the token store failed (unknown error)' }, 'the token store failed (unknown error)'],
    ['throws a StoreError', () => { throw new StoreError('cannot write the token file /data/tokens.json (ENOSPC)') }, null,
      { message: 'cannot write the token file /data/tokens.json (ENOSPC)' }, 'cannot write the token file /data/tokens.json (ENOSPC)']
  ]
  for (const [name, thrower, message, logged, shown] of throwers) {
    t.test(name, async (t) => {
      const h = harness()
      const grant = new ScriptedGrant([tokens('at_new', 'rt_new'), tokens('at_next', 'rt_next')])
      let failing = true
      const onTokensUpdated: OnTokensUpdated = async () => { if (failing) await thrower(message) }
      const svc = service(h, null, 'rt_old', { grant, onTokensUpdated })
      t.equal(await svc.getValidAccessToken(), 'at_new')
      t.equal(svc.getHealth().storeError, shown, 'health shows that the tokens were not saved')
      t.equal(svc.currentRefreshToken, 'rt_new', 'the old refresh token may already be spent: the new one is used')
      t.equal(svc.getHealth().refreshCount, 1)
      t.equal(svc.getHealth().lastRefreshError, null)
      const line = h.logger.lines.find((l) => l.msg === 'Could not persist the new tokens; serving them from memory')
      t.equal(line?.level, 'error')
      t.match(line?.fields, { err: logged, trigger: 'request' })
      failing = false
      await svc.refreshAccessToken()
      t.equal(svc.getHealth().storeError, null, 'cleared once saving works again')
    })
  }
})

t.test('an error from onTokensUpdated that quotes a token does not put it in the log or in health', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([tokens('at_new_secret', 'rt_new_secret')])
  const svc = service(h, null, 'rt_old', {
    grant,
    onTokensUpdated: (_at, refreshToken) => { throw new Error(`cannot write {"refreshToken":"${refreshToken}"} to /data/tokens.json`) }
  })
  await svc.getValidAccessToken()
  t.notMatch(h.logger.text(), 'rt_new_secret')
  t.notMatch(JSON.stringify(svc.getHealth()), 'rt_new_secret', 'nor in health (storeError)')
})

t.test('getHealth', async (t) => {
  t.test('every field, for a JWT', async (t) => {
    const h = harness()
    const token = jwt(h, 600, { sub: 'user_01K', iss: 'https://issuer.test', email: 'someone@example.com' })
    const svc = service(h, token, 'rt_secret', { grant: new ScriptedGrant([]) })
    h.advance(500)
    t.same(svc.getHealth(), {
      status: 'ok',
      storeError: null,
      tokenType: 'jwt',
      expiresAt: new Date(T0 + 600 * SECOND).toISOString(),
      expiresInSeconds: 599,
      refreshEnabled: true,
      refreshStyle: 'json',
      lastRefreshAt: null,
      lastRefreshError: null,
      consecutiveFailures: 0,
      refreshTokenRejected: false,
      refreshCount: 0,
      nextCheckAt: null,
      subject: 'user_01K',
      issuer: 'https://issuer.test'
    })
    const text = JSON.stringify(svc.getHealth())
    t.notMatch(text, token)
    t.notMatch(text, 'rt_secret')
    t.notMatch(text, 'someone@example.com')
  })

  t.test('ok, then expiring inside the buffer, then expired', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 600), 'rt', { grant: new ScriptedGrant([]) })
    t.equal(svc.getHealth().status, 'ok')
    h.advance(300 * SECOND - 1)
    t.equal(svc.getHealth().status, 'ok', 'one ms before the buffer')
    h.advance(1)
    t.equal(svc.getHealth().status, 'expiring')
    t.equal(svc.getHealth().expiresInSeconds, 300)
    h.advance(300 * SECOND - 1)
    t.equal(svc.getHealth().status, 'expiring', 'one ms before exp')
    t.equal(svc.getHealth().expiresInSeconds, 0)
    h.advance(1)
    t.equal(svc.getHealth().status, 'expired')
    h.advance(MINUTE)
    t.equal(svc.getHealth().expiresInSeconds, 0, 'never negative')
  })

  t.test('no token at all', async (t) => {
    const h = harness()
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([]) })
    t.match(svc.getHealth(), {
      status: 'expired', tokenType: null, expiresAt: null, expiresInSeconds: null, subject: null, issuer: null, refreshEnabled: true
    })
  })

  t.test('an opaque token of unknown expiry is ok', async (t) => {
    const h = harness()
    const svc = service(h, 'sk_live_opaque', null, { grant: new ScriptedGrant([]) })
    h.advance(365 * 24 * 60 * MINUTE)
    t.match(svc.getHealth(), { status: 'ok', tokenType: 'opaque', expiresAt: null, expiresInSeconds: null, subject: null, issuer: null })
    t.equal(await svc.getValidAccessToken(), 'sk_live_opaque', 'valid until the upstream says 401')
  })

  t.test('after a refresh: lastRefreshAt and refreshCount', async (t) => {
    const h = harness()
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([tokens('a1'), tokens('a2')]) })
    await svc.refreshAccessToken()
    h.advance(MINUTE)
    await svc.refreshAccessToken()
    t.match(svc.getHealth(), { lastRefreshAt: new Date(T0 + MINUTE).toISOString(), refreshCount: 2 })
  })

  t.test('a JWT whose exp is beyond the range of Date does not break health', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 0, { exp: 1e13 }), 'rt', { grant: new ScriptedGrant([]) })
    t.doesNotThrow(() => svc.getHealth())
  })
})

t.test('known expiry of the initial token', async (t) => {
  t.test('an opaque token with expiresAtMs from the store', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([tokens('at_new')])
    const svc = service(h, 'opaque-from-store', 'rt', { grant, expiresAtMs: T0 + 10 * MINUTE })
    t.match(svc.getHealth(), { status: 'ok', tokenType: 'opaque', expiresAt: new Date(T0 + 10 * MINUTE).toISOString() })
    h.advance(5 * MINUTE)
    t.equal(svc.getHealth().status, 'expiring', 'the full buffer applies: no issue time is known')
    h.advance(5 * MINUTE)
    t.equal(svc.getHealth().status, 'expired')
    t.equal(await svc.getValidAccessToken(), 'at_new', 'an expired opaque token is refreshed')
  })

  t.test('a JWT and a known expiry disagree: the earlier wins', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 3600), 'rt', { grant: new ScriptedGrant([]), expiresAtMs: T0 + 20 * MINUTE })
    t.equal(svc.getHealth().expiresAt, new Date(T0 + 20 * MINUTE).toISOString())
    const later = service(h, jwt(h, 600), 'rt', { grant: new ScriptedGrant([]), expiresAtMs: T0 + 60 * MINUTE })
    t.equal(later.getHealth().expiresAt, new Date(T0 + 10 * MINUTE).toISOString())
  })

  t.test('a refresh answer\'s expiry and the JWT exp disagree: the earlier wins', async (t) => {
    const h = harness()
    const fresh = jwt(h, 3600)
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([tokens(fresh, null, T0 + 15 * MINUTE)]) })
    await svc.refreshAccessToken()
    t.equal(svc.getHealth().expiresAt, new Date(T0 + 15 * MINUTE).toISOString())
    t.equal(h.updates[0].expiresAtMs, T0 + 15 * MINUTE)
  })

  t.test('a token shaped like a JWT that does not decode is treated as opaque', async (t) => {
    const h = harness()
    const svc = service(h, 'aaaa.bbbb.cccc', 'rt', { grant: new ScriptedGrant([]) })
    t.equal(svc.getHealth().tokenType, 'opaque')
    t.equal(await svc.getValidAccessToken(), 'aaaa.bbbb.cccc')
    const line = h.logger.lines.find((l) => l.msg === 'Access token looks like a JWT but cannot be decoded; treating it as opaque')
    t.equal(line?.level, 'warn')
    t.match(line?.fields, { reason: /^Malformed JWT: / })
    t.notMatch(h.logger.text(), 'aaaa.bbbb.cccc')
  })
})

t.test('the buffer is capped at half the token lifetime', async (t) => {
  t.test('a 60-second JWT is refreshed at 30 s, not from birth', async (t) => {
    const h = harness()
    const grant = new ScriptedGrant([tokens('at_new')])
    const current = jwt(h, 60)
    const svc = service(h, current, 'rt', { grant })
    t.equal(svc.getHealth().status, 'ok', 'a 5-minute buffer would make it expiring at once')
    h.advance(30 * SECOND - 1)
    t.equal(await svc.getValidAccessToken(), current)
    t.equal(grant.presented.length, 0, 'no refresh before half its life')
    h.advance(1)
    t.equal(svc.getHealth().status, 'expiring')
    t.equal(await svc.getValidAccessToken(), current, 'served while refreshed in the background')
    await svc.whenIdle()
    t.equal(grant.presented.length, 1)
  })

  t.test('without iat, the time the token was obtained counts as its issue time', async (t) => {
    const h = harness()
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([tokens('opaque_1', null, T0 + 60 * SECOND)]) })
    await svc.refreshAccessToken()
    h.advance(30 * SECOND - 1)
    t.equal(svc.getHealth().status, 'ok')
    h.advance(1)
    t.equal(svc.getHealth().status, 'expiring')
  })

  t.test('an initial JWT without iat gets the full buffer', async (t) => {
    const h = harness()
    const svc = service(h, signJwt({ exp: T0 / 1000 + 60 }, 'k'), 'rt', { grant: new ScriptedGrant([]) })
    t.equal(svc.getHealth().status, 'expiring')
  })

  t.test('an iat at or after exp is ignored', async (t) => {
    const h = harness()
    const svc = service(h, signJwt({ iat: T0 / 1000 + 120, exp: T0 / 1000 + 60 }, 'k'), 'rt', { grant: new ScriptedGrant([]) })
    t.equal(svc.getHealth().status, 'expiring')
  })

  t.test('with the identity provider\'s 60-second tokens, one refresh per half-life, not per request', async (t) => {
    const h = harness()
    const idp = await idpFor(t, h, { tokenTtlSeconds: 60 })
    const svc = service(h, null, idp.validRefreshToken, { refreshUrl: idp.refreshUrl })
    const first = await svc.getValidAccessToken()
    for (let i = 0; i < 10; i++) t.equal(await svc.getValidAccessToken(), first)
    await svc.whenIdle()
    t.equal(idp.calls.length, 1)
    t.equal(svc.getHealth().status, 'ok')
    h.advance(30 * SECOND)
    t.equal(await svc.getValidAccessToken(), first, 'served at half-life')
    await svc.whenIdle()
    t.equal(idp.calls.length, 2, 'and refreshed')
    t.equal(await svc.getValidAccessToken(), idp.issued[1])
  })
})

t.test('replaceTokens', async (t) => {
  t.test('replaces, persists and announces; a missing refresh token keeps the current one', async (t) => {
    const h = harness()
    const svc = service(h, jwt(h, 600), 'rt_1', { grant: new ScriptedGrant([]) })
    const replacement = jwt(h, 3600)
    await svc.replaceTokens(replacement, 'rt_2')
    t.equal(await svc.getValidAccessToken(), replacement)
    t.equal(svc.currentRefreshToken, 'rt_2')
    t.same(h.updates[0], { accessToken: replacement, refreshToken: 'rt_2', expiresAtMs: T0 + 3600 * SECOND, version: 1, seedFingerprint: null, updatedAt: new Date(T0).toISOString(), trigger: 'admin' })
    await svc.replaceTokens('opaque_3', null, T0 + 10 * MINUTE)
    t.equal(svc.currentRefreshToken, 'rt_2')
    t.equal(h.updates[1].refreshToken, 'rt_2', 'persisted with the kept refresh token')
    t.match(svc.getHealth(), { tokenType: 'opaque', expiresAt: new Date(T0 + 10 * MINUTE).toISOString(), refreshCount: 0 })
    t.ok(h.logger.messages('info').includes('Tokens replaced'))
    await svc.replaceTokens('opaque_4', null)
    t.equal(svc.getHealth().expiresAt, null, 'no expiry given: unknown')
  })

  t.test('waits for a refresh in flight, then wins', async (t) => {
    const h = harness()
    const answer = deferred<TokenSet>()
    const svc = service(h, null, 'rt_1', { grant: new ScriptedGrant([() => answer.promise]) })
    const refresh = svc.refreshAccessToken()
    const replace = track(svc.replaceTokens('at_operator', 'rt_operator'))
    await tick()
    t.equal(replace.settled, false, 'waits for the refresh')
    answer.resolve(tokens('at_refreshed', 'rt_refreshed'))
    t.equal(await refresh, 'at_refreshed')
    await svc.whenIdle()
    while (!replace.settled) await tick()
    t.equal(await svc.getValidAccessToken(), 'at_operator')
    t.equal(svc.currentRefreshToken, 'rt_operator')
    t.same(h.updates.map((u) => u.trigger), ['admin', 'admin'])
    t.same(h.updates.map((u) => u.accessToken), ['at_refreshed', 'at_operator'])
  })

  t.test('a request arriving while the replacement is persisted waits for it instead of refreshing with the old refresh token', async (t) => {
    const h = harness()
    const persisting = deferred()
    const grant = new ScriptedGrant([tokens('at_refreshed', 'rt_refreshed')])
    const expired = jwt(h, 60)
    h.advance(2 * MINUTE)
    const svc = service(h, expired, 'rt_old', {
      grant,
      onTokensUpdated: async (_at, _rt, update) => { if (update.accessToken === 'at_operator') await persisting.promise }
    })
    const replace = svc.replaceTokens('at_operator', 'rt_operator')
    await tick()
    const request = svc.getValidAccessToken()
    persisting.resolve()
    await replace
    t.equal(await request.catch(() => 'failed'), 'at_operator')
    t.same(grant.presented, [], 'the old refresh token was not spent')
  })
})

t.test('refreshIfDue and needsRefresh', async (t) => {
  const h = harness()
  const grant = new ScriptedGrant([tokens('at_new', null, T0 + 60 * MINUTE)])
  const svc = service(h, jwt(h, 600), 'rt', { grant })
  t.equal(svc.needsRefresh(), false)
  svc.refreshIfDue()
  t.equal(grant.presented.length, 0)
  h.advance(301 * SECOND)
  t.equal(svc.needsRefresh(), true)
  svc.refreshIfDue('admin')
  await svc.whenIdle()
  t.equal(grant.presented.length, 1)
  t.equal(h.updates[0].trigger, 'admin')
  t.equal(svc.needsRefresh(), false)
})

t.test('whenIdle and close', async (t) => {
  t.test('whenIdle resolves at once when nothing is in flight', async (t) => {
    const h = harness()
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([]) })
    await t.resolves(svc.whenIdle())
  })

  t.test('whenIdle waits for the refresh in flight, also when it fails', async (t) => {
    const h = harness()
    const answer = deferred<TokenSet>()
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([() => answer.promise]), maxAttempts: 1 })
    const refresh = svc.refreshAccessToken()
    refresh.catch(() => {})
    const idle = track(svc.whenIdle())
    await tick()
    t.equal(idle.settled, false)
    answer.reject(failure('http_500', true))
    await svc.whenIdle()
    t.equal(svc.getHealth().consecutiveFailures, 1)
  })

  t.test('close stops the periodic check and awaits the refresh in flight', async (t) => {
    const h = harness()
    const answer = deferred<TokenSet>()
    const svc = service(h, null, 'rt', { grant: new ScriptedGrant([() => answer.promise]) })
    svc.startPeriodicRefresh(0.0005)
    const refresh = svc.refreshAccessToken()
    const closed = track(svc.close())
    await tick()
    t.equal(closed.settled, false, 'close waits for the refresh')
    answer.resolve(tokens('at_last', 'rt_last'))
    while (!closed.settled) await tick()
    t.equal(await refresh, 'at_last')
    t.equal(svc.currentRefreshToken, 'rt_last', 'the refresh finished and its tokens were adopted')
    const checks = h.logger.messages('info').filter((msg) => msg.startsWith('[Periodic Refresh]')).length
    await new Promise((resolve) => setTimeout(resolve, 150))
    t.equal(h.logger.messages('info').filter((msg) => msg.startsWith('[Periodic Refresh]')).length, checks, 'no check after close')
  })
})

t.test('logs: the seed\'s messages, and never a token', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const expired = idp.mint(60)
  const initialRefreshToken = idp.validRefreshToken
  h.advance(2 * MINUTE)
  const svc = service(h, expired, initialRefreshToken, { refreshUrl: idp.refreshUrl })
  await svc.getValidAccessToken()
  const info = h.logger.messages('info')
  t.same(info, [
    'Access token expired, refreshing...',
    'Token refreshed successfully',
    `New token expires at: ${new Date(T0 + 2 * MINUTE + 3600 * SECOND).toISOString()}`
  ])
  await svc.refreshAccessToken()
  t.equal(h.logger.messages('info')[3], 'Refreshing access token on request...', 'the admin trigger says so')
  idp.failNext('invalid_grant')
  await svc.refreshAccessToken().catch(() => {})
  idp.failNext('http_500', 3)
  await svc.replaceTokens(idp.mint(), idp.validRefreshToken)
  await svc.refreshAccessToken().catch(() => {})

  const opaque = service(h, null, 'rt_opaque_secret', { grant: new ScriptedGrant([tokens('opaque_secret_token')]) })
  await opaque.refreshAccessToken()
  t.equal(h.logger.messages('info').at(-1), 'New token expiry unknown (opaque token): valid until the upstream answers 401')
  const host = new URL(idp.url).host
  t.ok(h.logger.lines.some((line) => line.level === 'warn' && line.msg === `Token refresh failed at ${host}` && (line.fields as { identityProvider?: string }).identityProvider === host),
    'a failure names the identity provider\'s host')
  assertNoSecretsLogged(t, h, idp, [expired, initialRefreshToken, 'rt_opaque_secret', 'opaque_secret_token'], [svc, opaque])
})
