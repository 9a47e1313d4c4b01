// The token service's observers (what the metrics plugin subscribes with) and its close(): each
// refresh reports one outcome, a failing store is reported, a failing observer changes nothing,
// and closing awaits the attempt in flight without starting a retry.
import t from 'tap'
import { TokenRefreshService, type RefreshOutcomeEvent } from '../../src/services/tokenRefreshService.js'
import { captureLogger } from '../helpers/captureLogger.js'
import { identityProvider, waitFor } from '../helpers/servers.js'

interface Seen { outcomes: RefreshOutcomeEvent[], storeErrors: string[] }

function watch (service: TokenRefreshService): Seen {
  const seen: Seen = { outcomes: [], storeErrors: [] }
  service.observe({
    onRefreshOutcome: (event) => { seen.outcomes.push(event) },
    onStoreError: (operation) => { seen.storeErrors.push(operation) }
  })
  return seen
}

t.test('one outcome per refresh, shared by every caller that joined it', async (t) => {
  const idp = await identityProvider(t, { delayMs: 100 })
  const service = new TokenRefreshService(idp.mint(-60), idp.validRefreshToken, idp.refreshUrl)
  const seen = watch(service)
  await Promise.all([service.refreshAccessToken('periodic'), service.refreshAccessToken('request'), service.getValidAccessToken()])
  t.equal(seen.outcomes.length, 1)
  t.match(seen.outcomes[0], { trigger: 'periodic', outcome: 'success', reason: null })
  t.ok(seen.outcomes[0].durationMs >= 90, `the duration covers the provider's delay (${seen.outcomes[0].durationMs} ms)`)

  idp.failNext('invalid_grant')
  await t.rejects(service.refreshAccessToken('admin'))
  t.match(seen.outcomes[1], { trigger: 'admin', outcome: 'failure', reason: 'invalid_grant' })
  t.same(seen.storeErrors, [])
})

t.test('a store that cannot save is reported, and the new tokens are still used', async (t) => {
  const idp = await identityProvider(t)
  const logger = captureLogger()
  const service = new TokenRefreshService(idp.mint(-60), idp.validRefreshToken, idp.refreshUrl,
    () => { throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) }, { logger })
  const seen = watch(service)
  t.equal(await service.getValidAccessToken(), idp.issued[0])
  t.same(seen.storeErrors, ['save'])
  t.match(seen.outcomes, [{ outcome: 'success' }])
  t.match(logger.messages('error'), [/Could not persist the new tokens/])
})

t.test('an observer that throws is logged and changes nothing', async (t) => {
  const idp = await identityProvider(t)
  const logger = captureLogger()
  const service = new TokenRefreshService(idp.mint(-60), idp.validRefreshToken, idp.refreshUrl, undefined, { logger })
  service.observe({
    onRefreshOutcome: () => { throw new Error('observer broke') },
    onStoreError: () => {}
  })
  const seen = watch(service)
  t.equal(await service.refreshAccessToken('request'), idp.issued[0], 'the refresh still succeeds')
  t.equal(seen.outcomes.length, 1, 'later observers are still told')
  t.match(logger.messages('warn'), ['An observer of the token service failed; ignored'])
  t.equal(service.getHealth().consecutiveFailures, 0)
})

t.test('close() awaits the attempt in flight and starts no retry', async (t) => {
  const idp = await identityProvider(t, { delayMs: 200 })
  idp.failNext('http_500', 3)
  const service = new TokenRefreshService(idp.mint(-60), idp.validRefreshToken, idp.refreshUrl)
  const seen = watch(service)
  const refresh = service.refreshAccessToken('request').catch((err: Error) => err)
  await service.close()
  t.equal(idp.calls.length, 1, 'the retryable 500 was not retried during shutdown')
  t.match(await refresh, { reason: 'http_500' })
  t.match(seen.outcomes, [{ trigger: 'request', outcome: 'failure', reason: 'http_500' }])
})

t.test('close() during the backoff between attempts starts no further attempt', async (t) => {
  const idp = await identityProvider(t)
  idp.failNext('http_500', 3)
  const logger = captureLogger()
  const service = new TokenRefreshService(idp.mint(-60), idp.validRefreshToken, idp.refreshUrl, undefined,
    { logger, retry: { baseMs: 300, maxMs: 300 } })
  const refresh = service.refreshAccessToken('periodic').catch((err: Error) => err)
  await waitFor(() => logger.messages('warn').includes('Token refresh attempt failed, retrying'), 5000, 'the first failure')
  await service.close()
  t.equal(idp.calls.length, 1, 'no second attempt')
  t.match(await refresh, { reason: 'http_500' })
  t.equal(service.getHealth().consecutiveFailures, 1)
})
