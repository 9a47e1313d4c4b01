// Answers the identity provider gives with 200 that cannot be used, against the built gateway:
// a token that has already expired, a token too large for a header. Requests get 503 with
// Retry-After, the upstream never sees such a token, the provider is not called once per request,
// and the refresh token the refused answer rotated is the one the next refresh presents.
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

for (const fault of ['expired_token', 'oversized_token'] as const) {
  t.test(`${fault}: 20 requests, one call, 503 with Retry-After, never sent upstream; the rotated refresh token is kept`, async (t) => {
    const idp = await identityProvider(t, { tokenTtlSeconds: 3600 })
    const upstream = await echoUpstream(t)
    idp.failNext(fault)
    const gw = await startGatewayProcess(t, {
      UPSTREAM_URL: upstream.url,
      AUTH_TOKEN: idp.mint(-60),
      REFRESH_TOKEN: idp.validRefreshToken,
      TOKEN_REFRESH_URL: idp.refreshUrl
    })
    await gw.waitForOutput(/Token refresh failed at 127\.0\.0\.1:\d+/)
    const answers = await Promise.all(Array.from({ length: 20 }, async () => {
      const res = await request(`${gw.url}/v1/items`)
      return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: await res.body.json() as { error: string } }
    }))
    t.ok(answers.every((a) => a.status === 503 && a.body.error === 'token_unavailable' && Number(a.retryAfter) >= 1),
      'every request: 503 token_unavailable with Retry-After')
    t.equal(idp.calls.length, 1, 'one call to the provider for the start-up and twenty requests')
    t.equal(upstream.received.length, 0, 'the unusable token never went upstream')
    const health = await (await request(`${gw.url}/health/token`)).body.json() as { lastRefreshError: string, refreshTokenRejected: boolean }
    t.match(health.lastRefreshError, fault === 'expired_token' ? /^bad_response: the access token has already expired$/ : /^bad_response: the access token is \d+ bytes, more than ACCESS_TOKEN_MAX_SIZE \(8192\)/)
    t.equal(health.refreshTokenRejected, false)

    // Past the backoff, the next refresh presents the refresh token the refused answer rotated.
    await new Promise((resolve) => setTimeout(resolve, 1200))
    const served = await request(`${gw.url}/v1/items`)
    t.equal(served.statusCode, 200)
    t.equal(((await served.body.json()) as { authorization: string }).authorization, `Bearer ${idp.issued.at(-1)}`)
    t.same(idp.calls.map((c) => c.status), [200, 200], 'the second refresh was accepted: it presented the rotated token')
    t.notMatch(gw.output(), idp.issued[0].split('.')[1], 'the refused token is not logged')
  })
}
