// Refresh behaviour seen from outside: through the gateway's HTTP port, against the real local
// identity provider, with the token's life chosen so each case happens within seconds.
import t from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { echoUpstream, identityProvider, nowSeconds, waitFor } from '../helpers/servers.js'

async function authorizationSeen (gw: TestGateway, path = '/x'): Promise<string> {
  const res = await request(`${gw.url}${path}`)
  const body = await res.body.json() as { authorization: string }
  return body.authorization
}

async function health (gw: TestGateway): Promise<{ statusCode: number, body: Record<string, unknown> }> {
  const res = await request(`${gw.url}/health/token`)
  return { statusCode: res.statusCode, body: await res.body.json() as Record<string, unknown> }
}

// A token that is inside the 5-minute buffer: valid for two more minutes, issued an hour ago.
function expiringToken (idp: { mint: (ttl: number, extra?: Record<string, unknown>) => string }): string {
  return idp.mint(120, { iat: nowSeconds() - 3600 })
}

t.test('inside the buffer: served at once with the current token, refreshed in the background', async (t) => {
  const idp = await identityProvider(t, { delayMs: 400 })
  const upstream = await echoUpstream(t)
  const initial = expiringToken(idp)
  const initialRefresh = idp.validRefreshToken
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: initial, REFRESH_TOKEN: initialRefresh, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  const started = Date.now()
  t.equal(await authorizationSeen(gw), `Bearer ${initial}`, 'the first request carries the current token')
  t.ok(Date.now() - started < 350, 'and did not wait for the 400 ms refresh')
  await waitFor(() => idp.issued.length === 1, 5000, 'the background refresh')
  await waitFor(() => /New token expires at/.test(gw.logText()), 5000, 'the refresh to be adopted')
  t.equal(await authorizationSeen(gw), `Bearer ${idp.issued[0]}`, 'the next request carries the new token')
  t.equal(idp.calls.length, 1, 'one refresh call')
  t.equal(idp.calls[0].refreshToken, initialRefresh)
})

t.test('200 concurrent requests on an expired token: one refresh call, all carry the new token', async (t) => {
  const idp = await identityProvider(t, { delayMs: 200 })
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  const seen = await Promise.all(Array.from({ length: 200 }, (_, i) => authorizationSeen(gw, `/burst/${i}`)))
  t.equal(idp.calls.length, 1, 'exactly one call to the identity provider')
  t.equal(idp.issued.length, 1)
  t.equal(new Set(seen).size, 1, 'every request carried the same token')
  t.equal(seen[0], `Bearer ${idp.issued[0]}`, 'and it is the refreshed one')
  t.equal(upstream.received.length, 200)
})

t.test('rotation: each refresh presents the refresh token the previous one returned', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const first = idp.validRefreshToken
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: first, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  await authorizationSeen(gw)
  const second = idp.validRefreshToken
  t.not(second, first, 'the provider rotated the refresh token')
  const res = await request(`${gw.url}/health/token`)
  await res.body.dump()
  // Force the second refresh by expiring the current token from the engine's point of view.
  await gw.app.tokenService.refreshAccessToken('admin')
  t.equal(idp.calls.length, 2)
  t.equal(idp.calls[0].refreshToken, first)
  t.equal(idp.calls[1].refreshToken, second, 'the second refresh sent the rotated token')
  t.same(idp.calls.map((c) => c.status), [200, 200], 'the provider accepted both')
  t.equal(await authorizationSeen(gw), `Bearer ${idp.issued[1]}`)
})

t.test('the periodic job refreshes with no traffic, before the token enters the buffer', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  // Buffer 3 s, checks every 3 s, token expires in 8 s: at the first check (t≈3 s) it would be
  // inside the buffer (from t=5 s) before the next one, so it is refreshed then.
  const exp = nowSeconds() + 8
  const token = idp.mint(8, { iat: exp - 3600 })
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: token,
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_EXPIRY_BUFFER: '0.05',
    TOKEN_REFRESH_INTERVAL: '0.05'
  })
  t.equal(idp.calls.length, 0, 'no refresh at start-up: the token is valid beyond the buffer')
  await waitFor(() => idp.issued.length === 1, 7000, 'the periodic refresh')
  t.ok(idp.calls[0].at < (exp - 3) * 1000, 'refreshed before the token entered the buffer')
  t.equal(upstream.received.length, 0, 'no request was made')
  t.match(gw.logText(), /\[Periodic Refresh\] Checking token expiry\.\.\./)
  await waitFor(() => /Token refreshed successfully/.test(gw.logText()), 2000, 'the success log line')
  const { body } = await health(gw)
  t.equal(body.refreshCount, 1)
  t.equal(body.status, 'ok')
})

t.test('identity-provider failures keep the old token while it is valid, and show in health', async (t) => {
  const cases = [
    { fault: 'http_500' as const, times: 3, reason: /^http_500: / },
    { fault: 'garbage' as const, times: 1, reason: /^bad_response: / },
    { fault: 'no_access_token' as const, times: 1, reason: /^bad_response: / },
    { fault: 'invalid_grant' as const, times: 1, reason: /^invalid_grant: /, rejected: true },
    { fault: 'hang' as const, times: 3, reason: /^timeout: / }
  ]
  for (const c of cases) {
    await t.test(c.fault, async (t) => {
      const idp = await identityProvider(t)
      const upstream = await echoUpstream(t)
      idp.failNext(c.fault, c.times)
      const token = expiringToken(idp)
      const refreshToken = idp.validRefreshToken
      const gw = await startGateway(t, {
        UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, REFRESH_TOKEN: refreshToken, TOKEN_REFRESH_URL: idp.refreshUrl, TOKEN_REFRESH_TIMEOUT: '300'
      })
      await waitFor(() => gw.app.tokenService.getHealth().consecutiveFailures > 0, 8000, 'the failed refresh')
      t.equal(await authorizationSeen(gw), `Bearer ${token}`, 'requests still carry the old, valid token')
      const { statusCode, body } = await health(gw)
      t.equal(statusCode, 200, 'health stays 200 while the token is usable')
      t.equal(body.status, 'expiring')
      t.match(body.lastRefreshError, c.reason)
      t.equal(body.refreshTokenRejected, c.rejected === true)
      t.equal(body.consecutiveFailures, 1)
      t.equal(idp.calls.length, c.times, `${c.times} call(s) to the provider`)
      t.notMatch(JSON.stringify(body), token.slice(-20), 'health never holds the token')
      t.notMatch(JSON.stringify(body), refreshToken)
    })
  }
})

t.test('500 then ok: retried with backoff within one refresh', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  idp.failNext('http_500')
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  t.equal(await authorizationSeen(gw), `Bearer ${idp.issued[0]}`, 'the waiting request got the token of the retry')
  t.same(idp.calls.map((c) => c.status), [500, 200])
  const { body } = await health(gw)
  t.equal(body.lastRefreshError, null, 'a success clears the error')
  t.equal(body.consecutiveFailures, 0)
})

t.test('no usable token and no way to get one: 503 with Retry-After, the upstream is not called', async (t) => {
  await t.test('expired token, no refresh token', async (t) => {
    const idp = await identityProvider(t)
    const upstream = await echoUpstream(t)
    const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60) })
    const res = await request(`${gw.url}/x`)
    t.equal(res.statusCode, 503)
    t.match(res.headers['retry-after'], /^\d+$/)
    const body = await res.body.json() as { error: string, message: string }
    t.equal(body.error, 'token_unavailable')
    t.type(body.message, 'string')
    t.equal(upstream.received.length, 0)
    const h = await health(gw)
    t.equal(h.statusCode, 503)
    t.equal(h.body.status, 'expired')
    t.equal(h.body.refreshEnabled, false)
    t.match(gw.logText(), /Token refresh is disabled/)
  })
  await t.test('expired token, refresh refused', async (t) => {
    const idp = await identityProvider(t)
    const upstream = await echoUpstream(t)
    idp.failNext('invalid_grant')
    const gw = await startGateway(t, {
      UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
    })
    for (let i = 0; i < 3; i++) {
      const res = await request(`${gw.url}/x`)
      t.equal(res.statusCode, 503)
      t.ok(Number(res.headers['retry-after']) >= 1)
      t.equal((await res.body.json() as { error: string }).error, 'token_unavailable')
    }
    t.equal(idp.calls.length, 1, 'a refused refresh token is not presented again')
    t.equal(upstream.received.length, 0)
    const h = await health(gw)
    t.equal(h.statusCode, 503)
    t.equal(h.body.refreshTokenRejected, true)
  })
  await t.test('expired token, provider down', async (t) => {
    const idp = await identityProvider(t)
    const upstream = await echoUpstream(t)
    const refreshUrl = idp.refreshUrl
    await idp.close()
    const gw = await startGateway(t, {
      UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: 'rt_whatever', TOKEN_REFRESH_URL: refreshUrl
    })
    const res = await request(`${gw.url}/x`)
    t.equal(res.statusCode, 503)
    t.match((await res.body.json() as { message: string }).message, /network/)
    t.equal(upstream.received.length, 0)
    t.match((await health(gw)).body.lastRefreshError, /^network: /)
  })
})

t.test('health reports the token without secrets', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  const { statusCode, body } = await health(gw)
  t.equal(statusCode, 200)
  t.same(Object.keys(body), ['status', 'tokenType', 'expiresAt', 'expiresInSeconds', 'refreshEnabled', 'refreshStyle', 'store',
    'lastRefreshAt', 'lastRefreshError', 'consecutiveFailures', 'refreshTokenRejected', 'refreshCount', 'nextCheckAt', 'subject', 'issuer', 'storeError'])
  t.equal(body.status, 'ok')
  t.equal(body.tokenType, 'jwt')
  t.ok((body.expiresInSeconds as number) > 3500 && (body.expiresInSeconds as number) <= 3600)
  t.equal(body.refreshEnabled, true)
  t.equal(body.refreshStyle, 'json')
  t.equal(body.store, 'memory')
  t.equal(body.storeError, null)
  t.equal(body.subject, idp.subject)
  t.equal(body.issuer, idp.issuer)
  t.equal(body.lastRefreshAt, null)
  t.type(body.nextCheckAt, 'string')
  const text = JSON.stringify(body)
  t.notMatch(text, idp.email, 'no email')
  t.notMatch(text, idp.validRefreshToken)
  t.notMatch(text, token.split('.')[1])
})

t.test('an opaque token without refresh is forwarded as it is, status ok', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-token-123' })
  t.equal(await authorizationSeen(gw), 'Bearer opaque-token-123')
  const { body } = await health(gw)
  t.equal(body.status, 'ok')
  t.equal(body.tokenType, 'opaque')
  t.equal(body.expiresAt, null)
  t.equal(body.expiresInSeconds, null)
  t.equal(body.subject, null)
  t.equal(body.nextCheckAt, null)
})
