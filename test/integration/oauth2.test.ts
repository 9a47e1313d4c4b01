// The OAuth 2.0 styles against a real authorization server (oidc-provider, started here on a free
// port): the client credentials grant (TOKEN_GRANT=client_credentials) and the RFC 6749 §6 refresh
// with rotating refresh tokens (TOKEN_REFRESH_STYLE=oauth2), with the gateway obtaining,
// refreshing and injecting the server's opaque access tokens, and recovering from a revocation.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { CLIENT_ID, CLIENT_SECRET, startAuthorizationServer, startProtectedApi, type AuthorizationServer } from '../helpers/oidcProvider.js'
import { startGatewayProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/servers.js'

interface Echo { authorization: string, body: string, token: { clientId: string, accountId: string | null, scope: string | null } }

async function call (gw: { url: string }, path: string, init: { method?: string, body?: string, headers?: Record<string, string> } = {}): Promise<{ status: number, headers: Record<string, unknown>, body: string }> {
  const res = await request(`${gw.url}${path}`, { method: (init.method ?? 'GET') as 'GET', body: init.body, headers: init.headers })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

async function health (gw: TestGateway): Promise<Record<string, unknown>> {
  const res = await request(`${gw.url}/health/token`)
  return await res.body.json() as Record<string, unknown>
}

function grants (as: AuthorizationServer, grantType: string): AuthorizationServer['calls'] {
  return as.calls.filter((c) => c.grantType === grantType)
}

/** The gateway in front of `api`, refreshing with the OAuth 2.0 refresh grant at `as`, starting from `initial`. */
function oauth2RefreshEnv (api: { url: string }, as: AuthorizationServer, initial: { accessToken: string, refreshToken: string }): Record<string, string> {
  return {
    UPSTREAM_URL: api.url,
    AUTH_TOKEN: initial.accessToken,
    REFRESH_TOKEN: initial.refreshToken,
    TOKEN_REFRESH_STYLE: 'oauth2',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: CLIENT_SECRET
  }
}

function assertNoSecrets (t: Test, text: string, secrets: string[]): void {
  for (const secret of secrets) t.notOk(text.includes(secret), `no ${secret.slice(0, 4)}… in the logs`)
}

t.test('client_credentials: the first token at start-up, injected, renewed before it expires', async (t) => {
  const as = await startAuthorizationServer(t, { clientCredentialsTtl: 4 })
  const api = await startProtectedApi(t, as)
  const gw = await startGateway(t, {
    UPSTREAM_URL: `${api.url}/v1`,
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH_SCOPE: 'api:read',
    TOKEN_REFRESH_INTERVAL: '0.01',
    LOG_LEVEL: 'debug'
  })
  await waitFor(() => grants(as, 'client_credentials').length === 1, 5000, 'the token fetched at start-up')
  t.equal(api.received.length, 0, 'fetched before any request arrived')

  const first = await call(gw, '/reports?year=2026')
  t.equal(first.status, 200)
  const echo = JSON.parse(first.body) as Echo & { url: string }
  t.match(echo.authorization, /^Bearer \S+$/)
  t.same(echo.token, { clientId: CLIENT_ID, accountId: null, scope: 'api:read' }, 'the API knows the token as the client\'s, with the scope asked for')
  t.equal(echo.url, '/v1/reports?year=2026')
  const h = await health(gw)
  t.equal(h.refreshStyle, 'client_credentials')
  t.equal(h.refreshEnabled, true)
  t.equal(h.tokenType, 'opaque')
  t.equal(h.status, 'ok')
  t.ok((h.expiresInSeconds as number) > 0 && (h.expiresInSeconds as number) <= 4, 'the expiry comes from expires_in')

  // A 4-second token: renewed at half its life by the periodic check, with no traffic.
  await waitFor(() => grants(as, 'client_credentials').length >= 2, 8000, 'the renewal')
  const [issue, renewal] = grants(as, 'client_credentials')
  t.ok(renewal.at < issue.at + 4000, 'renewed before the first token expired')
  const second = JSON.parse((await call(gw, '/reports')).body) as Echo
  t.not(second.authorization, echo.authorization, 'the next request carries the new token')
  t.ok(grants(as, 'client_credentials').every((c) => c.error === null && c.clientAuth === 'basic'), 'every call authenticated by HTTP Basic and succeeded')
  assertNoSecrets(t, gw.logText(), [CLIENT_SECRET, echo.authorization.slice(7), second.authorization.slice(7)])
})

t.test('oauth2: a revoked token is refreshed on the upstream 401, then rotation keeps up with expiry', async (t) => {
  const as = await startAuthorizationServer(t, { accessTokenTtl: 4 })
  const api = await startProtectedApi(t, as)
  const initial = await as.authorize()
  const gw = await startGateway(t, { ...oauth2RefreshEnv(api, as, initial), TOKEN_REFRESH_INTERVAL: '0.01', LOG_LEVEL: 'debug' })
  const before = await call(gw, '/me')
  t.equal(before.status, 200)
  t.equal((JSON.parse(before.body) as Echo).authorization, `Bearer ${initial.accessToken}`)
  let h = await health(gw)
  t.equal(h.refreshStyle, 'oauth2')
  t.equal(h.tokenType, 'opaque')
  t.equal(h.expiresAt, null, 'an opaque token without a known expiry: valid until a 401')
  t.equal(grants(as, 'refresh_token').length, 0, 'not refreshed while it works')

  // Revoked long before its expiry: only the upstream's 401 tells.
  await as.revoke(initial.accessToken)
  const payload = JSON.stringify({ note: 'kept across the replay', n: [1, 2, 3] })
  const after = await call(gw, '/notes', { method: 'POST', body: payload, headers: { 'content-type': 'application/json' } })
  t.equal(after.status, 200, 'the client never saw the 401')
  const echo = JSON.parse(after.body) as Echo
  t.equal(echo.body, payload, 'the replay carried the same body')
  t.same(api.received.slice(-2).map((r) => [r.status, r.body]), [[401, payload], [200, payload]])
  t.equal(grants(as, 'refresh_token').length, 1, 'one refresh')
  t.equal(echo.token.accountId, 'user-4242', 'the refreshed token still speaks for the user')

  // The refreshed token carries expires_in (4 s): from now on expiry drives the refreshes, and
  // each one must present the refresh token the previous one returned (rotation is on: a spent
  // one would be answered invalid_grant and revoke the whole grant).
  await waitFor(() => grants(as, 'refresh_token').length >= 3, 10_000, 'two expiry-driven refreshes')
  t.same(grants(as, 'refresh_token').map((c) => [c.error, c.clientAuth]), grants(as, 'refresh_token').map(() => [null, 'basic']),
    'every refresh accepted, each presenting the rotated refresh token')
  const latest = await call(gw, '/me')
  t.equal(latest.status, 200)
  h = await health(gw)
  t.type(h.expiresAt, 'string', 'the expiry is known from expires_in')
  t.equal(h.lastRefreshError, null)
  t.ok((h.refreshCount as number) >= 3)
  assertNoSecrets(t, gw.logText() + JSON.stringify(h), [CLIENT_SECRET, initial.accessToken, initial.refreshToken, ...as.issuedRefreshTokens])
})

t.test('oauth2: a spent refresh token (invalid_grant) is final; the 401 reaches the client', async (t) => {
  const as = await startAuthorizationServer(t)
  const api = await startProtectedApi(t, as)
  const initial = await as.authorize()
  t.equal(await as.refreshDirectly(initial.refreshToken), 200, 'someone else used the refresh token first')
  const gw = await startGateway(t, oauth2RefreshEnv(api, as, initial))
  await as.revoke(initial.accessToken)
  const first = await call(gw, '/me')
  t.equal(first.status, 401, 'no new token to be had: the upstream\'s 401 goes to the client')
  t.equal(first.headers['www-authenticate'], 'Bearer error="invalid_token"', 'as it came')
  t.same(JSON.parse(first.body), { error: 'invalid_token' })
  const second = await call(gw, '/me')
  t.equal(second.status, 401)
  t.same(grants(as, 'refresh_token').map((c) => c.error), [null, 'invalid_grant'], 'the gateway presented it once, and not again')
  const h = await health(gw)
  t.equal(h.refreshTokenRejected, true)
  t.match(h.lastRefreshError, /^invalid_grant: /)
})

t.test('client_credentials with a wrong secret: invalid_client is not final, retried with backoff', async (t) => {
  const as = await startAuthorizationServer(t)
  const api = await startProtectedApi(t, as)
  const wrongSecret = `wrong-${CLIENT_SECRET}`
  const gw = await startGateway(t, {
    UPSTREAM_URL: api.url,
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: wrongSecret
  })
  await waitFor(() => grants(as, 'client_credentials').length === 1, 5000, 'the start-up attempt')
  const refused = await call(gw, '/x')
  t.equal(refused.status, 503)
  t.match(refused.headers['retry-after'], /^\d+$/)
  t.equal((JSON.parse(refused.body) as { error: string }).error, 'token_unavailable')
  // Requests keep coming; the provider is asked again only once the backoff has passed.
  const deadline = Date.now() + 8000
  while (grants(as, 'client_credentials').length < 2 && Date.now() < deadline) {
    await call(gw, '/x')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const attempts = grants(as, 'client_credentials')
  t.equal(attempts.length, 2, 'tried again')
  t.ok(attempts[1].at - attempts[0].at >= 250, 'after the backoff, not at once')
  t.same(attempts.map((c) => c.error), ['invalid_client', 'invalid_client'])
  t.equal(api.received.length, 0, 'the upstream was never called without a token')
  const h = await health(gw)
  t.equal(h.refreshTokenRejected, false, 'a client error is not a refused refresh token')
  t.match(h.lastRefreshError, /^invalid_client: identity provider answered HTTP 401/)
  t.equal(h.status, 'expired')
  assertNoSecrets(t, gw.logText() + JSON.stringify(h), [wrongSecret])
})

t.test('npm start with TOKEN_GRANT=client_credentials needs no AUTH_TOKEN; no secret in a trace-level log', async (t) => {
  const as = await startAuthorizationServer(t)
  const api = await startProtectedApi(t, as)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: api.url,
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    LOG_LEVEL: 'trace'
  })
  const res = await call(gw, '/data')
  t.equal(res.status, 200)
  const echo = JSON.parse(res.body) as Echo
  t.equal(echo.token.clientId, CLIENT_ID)
  await gw.waitForOutput(/Token refreshed successfully/)
  t.match(gw.output(), /No access token yet, obtaining one\.\.\./)
  assertNoSecrets(t, gw.output(), [CLIENT_SECRET, echo.authorization.slice(7), Buffer.from(`${encodeURIComponent(CLIENT_ID)}:`).toString('base64').slice(0, 12)])
})
