// A gateway without traffic, from outside: the built gateway as a child process, its token
// renewed ahead of its expiry by a timer of its own whatever TOKEN_REFRESH_INTERVAL says, and a
// readiness probe that answers 200 while a token can be had, 503 only when none can.
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider, refreshingEnv } from '../helpers/servers.js'

const counter = (metrics: string, trigger: string): number =>
  Number(new RegExp(`^tokengate_token_refreshes_total\\{credential="default",trigger="${trigger}",outcome="success"\\} (\\d+)$`, 'm').exec(metrics)?.[1])

t.test('4-second tokens, the default 30-minute interval, 7 s without a request: renewed ahead, never expired', async (t) => {
  const idp = await identityProvider(t, { tokenTtlSeconds: 4 })
  const upstream = await echoUpstream(t)
  const startedAt = Date.now()
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(4),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl
  })
  await gw.waitForOutput(/Starting automatic token refresh every 30 minutes/)
  const readyAt = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 7000))

  t.equal(upstream.received.length, 0, 'no request reached the upstream')
  t.ok(idp.calls.length >= 3, `renewed ${idp.calls.length} times in 7 s (every 2 s: half of a 4-second life)`)
  t.ok(idp.calls.every((call) => call.status === 200), 'every renewal presented the current refresh token')
  // Each token lived 4 s from its issue: the next renewal came before that. A gateway that was
  // itself slower than that to start (a loaded machine) renews at once when it is ready.
  const issuedAt = [startedAt, ...idp.calls.map((call) => call.at)]
  t.ok(issuedAt[1] - startedAt < 4000 || issuedAt[1] - readyAt < 1000,
    `renewal 1 came ${issuedAt[1] - startedAt} ms after the first token was issued, ${issuedAt[1] - readyAt} ms after the gateway was ready`)
  for (let i = 2; i < issuedAt.length; i++) {
    t.ok(issuedAt[i] - issuedAt[i - 1] < 4000, `renewal ${i} came ${issuedAt[i] - issuedAt[i - 1]} ms after the token before it was issued`)
  }
  // A renewal the provider has answered may not have ended yet (it is counted when it has): wait
  // for it. A start-up slower than half the token's life (a loaded machine) makes the first renewal
  // the start-up refresh; every other one is the timer's.
  const background = (text: string): number => counter(text, 'refresh-ahead') + counter(text, 'startup')
  let metrics = await (await request(`${gw.url}/metrics`)).body.text()
  for (let waited = 0; background(metrics) < idp.calls.length && waited < 3000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    metrics = await (await request(`${gw.url}/metrics`)).body.text()
  }
  t.equal(background(metrics), idp.calls.length, 'all in the background, none by a request')
  t.ok(counter(metrics, 'refresh-ahead') >= idp.calls.length - 1, 'all but at most the first by the refresh-ahead timer')
  t.equal(counter(metrics, 'request'), 0)
  const health = await request(`${gw.url}/health/token`)
  t.equal(health.statusCode, 200)
  t.match(await health.body.json(), { status: 'ok', lastRefreshError: null })
  t.match(gw.output(), /TOKEN_REFRESH_INTERVAL \(30 min\) is longer than the token's life \(0\.1 min\)/, 'the start-up warns about the interval')
})

t.test('a readiness probe waits for a refresh that can give a token, and answers 503 only when none can', async (t) => {
  const idp = await identityProvider(t, { tokenTtlSeconds: 3600, delayMs: 1500 })
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, refreshingEnv(idp, upstream))
  // The start-up refresh is in flight (the provider takes 1.5 s): no usable token yet, but one is coming.
  const probe = await request(`${gw.url}/health/token`)
  t.equal(probe.statusCode, 200, 'the probe waited for the refresh in flight')
  t.match(await probe.body.json(), { status: 'ok', refreshCount: 1 })
  t.equal(idp.calls.length, 1, 'the probe shared the start-up refresh')

  const noRefresh = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60) })
  const started = performance.now()
  const refused = await request(`${noRefresh.url}/health/token`)
  t.equal(refused.statusCode, 503, 'no refresh token: no token can be had')
  t.ok(performance.now() - started < 1000, 'answered at once')
  t.match(await refused.body.json(), { status: 'expired', refreshEnabled: false })
})
