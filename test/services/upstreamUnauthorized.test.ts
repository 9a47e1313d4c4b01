// TokenRefreshService.recoverFromUnauthorized: the engine's side of upstream-401 recovery,
// against the real local identity provider, with only the clock under the test's control.
import t from 'tap'
import { TokenRefreshService } from '../../src/services/tokenRefreshService.js'
import { captureLogger } from '../helpers/captureLogger.js'
import { identityProvider } from '../helpers/servers.js'

function clock (): { now: () => number, advance: (ms: number) => void } {
  let nowMs = Date.now()
  return { now: () => nowMs, advance: (ms) => { nowMs += ms } }
}

t.test('a 401 for the current token: one refresh, its token returned, logged with its trigger', async (t) => {
  const idp = await identityProvider(t)
  const log = captureLogger()
  const initial = idp.mint(3600)
  const service = new TokenRefreshService(initial, idp.validRefreshToken, idp.refreshUrl, undefined, { logger: log })
  const next = await service.recoverFromUnauthorized(initial)
  t.equal(next, idp.issued[0])
  t.equal(await service.getValidAccessToken(), idp.issued[0], 'the new token is current')
  t.equal(idp.calls.length, 1)
  t.ok(log.lines.some((line) => line.msg === 'Upstream refused the access token (401), refreshing...' &&
    (line.fields as { trigger: string }).trigger === 'upstream-401'))
})

t.test('concurrent 401s share one refresh; a late 401 for the old token starts none', async (t) => {
  const idp = await identityProvider(t, { delayMs: 100 })
  const initial = idp.mint(3600)
  const service = new TokenRefreshService(initial, idp.validRefreshToken, idp.refreshUrl)
  const results = await Promise.all(Array.from({ length: 20 }, () => service.recoverFromUnauthorized(initial)))
  t.equal(idp.calls.length, 1, 'one call for twenty 401s')
  t.same(new Set(results), new Set([idp.issued[0]]))
  // A request sent with the old token whose 401 arrives after the refresh completed.
  t.equal(await service.recoverFromUnauthorized(initial), idp.issued[0], 'answered with the current token')
  t.equal(idp.calls.length, 1, 'and no second refresh')
})

t.test('a 401 while a refresh is already in flight joins it', async (t) => {
  const idp = await identityProvider(t, { delayMs: 150 })
  const initial = idp.mint(3600)
  const service = new TokenRefreshService(initial, idp.validRefreshToken, idp.refreshUrl)
  const running = service.refreshAccessToken('periodic')
  t.equal(await service.recoverFromUnauthorized(initial), await running)
  t.equal(idp.calls.length, 1)
})

t.test('forced refreshes are spaced: a new token refused at once is not refreshed again right away', async (t) => {
  const idp = await identityProvider(t)
  const time = clock()
  const initial = idp.mint(3600)
  const service = new TokenRefreshService(initial, idp.validRefreshToken, idp.refreshUrl, undefined, {
    now: time.now, monotonic: time.now, minUnauthorizedRefreshIntervalMs: 10_000
  })
  const second = await service.recoverFromUnauthorized(initial)
  t.equal(await service.recoverFromUnauthorized(second!), null, 'within 10 s: the 401 goes to the client')
  t.equal(idp.calls.length, 1)
  time.advance(10_000)
  t.equal(await service.recoverFromUnauthorized(second!), idp.issued[1], 'after 10 s: refreshed again')
  t.equal(idp.calls.length, 2)
})

t.test('no way to a new token: null, and nothing is called', async (t) => {
  await t.test('no refresh token', async (t) => {
    const idp = await identityProvider(t)
    const token = idp.mint(3600)
    const service = new TokenRefreshService(token, null, idp.refreshUrl)
    t.equal(await service.recoverFromUnauthorized(token), null)
    t.equal(idp.calls.length, 0)
  })
  await t.test('the refresh fails, and then the refresh token is known to be refused', async (t) => {
    const idp = await identityProvider(t)
    idp.failNext('invalid_grant')
    const token = idp.mint(3600)
    const service = new TokenRefreshService(token, idp.validRefreshToken, idp.refreshUrl)
    t.equal(await service.recoverFromUnauthorized(token), null)
    t.equal(await service.recoverFromUnauthorized(token), null)
    t.equal(idp.calls.length, 1, 'a refused refresh token is not presented again')
    t.equal(service.getHealth().refreshTokenRejected, true)
  })
  await t.test('the refresh in flight fails', async (t) => {
    const idp = await identityProvider(t, { delayMs: 100 })
    idp.failNext('invalid_grant')
    const token = idp.mint(3600)
    const service = new TokenRefreshService(token, idp.validRefreshToken, idp.refreshUrl)
    service.refreshInBackground('periodic')
    t.equal(await service.recoverFromUnauthorized(token), null)
  })
  await t.test('a 401 for an old token when the current one has expired and cannot be renewed', async (t) => {
    const idp = await identityProvider(t)
    const service = new TokenRefreshService(idp.mint(-60), null, idp.refreshUrl)
    t.equal(await service.recoverFromUnauthorized('an-older-token'), null)
  })
})

t.test('client_credentials-style start: no token at first, one obtained at start-up', async (t) => {
  const idp = await identityProvider(t)
  const log = captureLogger()
  const service = new TokenRefreshService(null, idp.validRefreshToken, idp.refreshUrl, undefined, { logger: log })
  t.equal(service.getHealth().status, 'expired')
  service.refreshIfDue('startup')
  t.equal(await service.getValidAccessToken(), idp.issued[0])
  t.ok(log.messages('info').includes('No access token yet, obtaining one...'))
})
