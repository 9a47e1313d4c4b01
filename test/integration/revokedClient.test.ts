// A client that worked and is then revoked at the authorization server (oidc-provider; the client
// deleted from its storage while the gateway runs): the next refresh is refused with invalid_client,
// tried again after a growing backoff, shown in health, and meanwhile the gateway keeps serving the
// token it holds while that is valid. No secret and no token reaches a log line or health.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { request } from 'undici'
// @ts-expect-error -- the bundled in-memory adapter has no type declarations
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js'
import { startGateway } from '../helpers/app.js'
import { CLIENT_SECRET, startAuthorizationServer, startProtectedApi } from '../helpers/oidcProvider.js'
import { waitFor } from '../helpers/servers.js'

const ADMIN_KEY = 'admin-key-for-tests'
// Long enough for the steps before the refresh window (half of it), short enough to reach it soon.
const TOKEN_TTL_SECONDS = 24

interface ClientStorage {
  upsert (id: string, payload: object): Promise<void>
  destroy (id: string): Promise<void>
}

t.test('a revoked client is refused with invalid_client, backed off with growing waits, and the held token serves until it expires', async (t) => {
  const as = await startAuthorizationServer(t, { clientCredentialsTtl: TOKEN_TTL_SECONDS })
  const api = await startProtectedApi(t, as)
  // A client registered in the server's storage (as dynamic registration would), so it can be
  // deleted there; the storage is shared by the process, hence a name of its own.
  const clientId = `tokengate-revocable-${randomBytes(4).toString('hex')}`
  const clients = new MemoryAdapter('Client') as ClientStorage
  await clients.upsert(clientId, {
    client_id: clientId,
    client_secret: CLIENT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api:read'
  })
  const gw = await startGateway(t, {
    UPSTREAM_URL: api.url,
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: clientId,
    OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH_SCOPE: 'api:read',
    GATEWAY_ADMIN_KEY: ADMIN_KEY
  })
  await waitFor(() => as.calls.length === 1, 10_000, 'the start-up token')
  t.equal(as.calls[0].error, null, 'the client worked')
  const before = await request(`${gw.url}/items`)
  const served = await before.body.json() as { authorization: string, token: { clientId: string } }
  t.equal(before.statusCode, 200)
  t.equal(served.token.clientId, clientId)

  await clients.destroy(clientId)
  const forced = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  const refused = await forced.body.text()
  t.equal(forced.statusCode, 502, 'the forced refresh failed')
  t.match(JSON.parse(refused), {
    status: 'ok',
    refreshStyle: 'client_credentials',
    refreshTokenRejected: false,
    consecutiveFailures: 1,
    lastRefreshError: /^invalid_client: identity provider answered HTTP 401 \(invalid_client\)$/
  }, 'the held token is still good')
  t.equal(as.calls[1].error, 'invalid_client')

  const during = await request(`${gw.url}/items`)
  t.equal(during.statusCode, 200, 'the held token still serves')
  t.equal((await during.body.json() as { authorization: string }).authorization, served.authorization)

  // Half of the token's life on, refresh-ahead tries again; each failure waits longer
  // (backoff 500 ms · 2^(n-1), jittered down to half of it at the least).
  await waitFor(() => as.calls.length >= 5, 30_000, 'three more refused attempts')
  const attempts = as.calls.slice(1, 5)
  t.same(attempts.map((call) => call.error), ['invalid_client', 'invalid_client', 'invalid_client', 'invalid_client'])
  const gaps = attempts.slice(1).map((call, i) => call.at - attempts[i].at)
  t.ok(gaps[1] >= 500, `the third failure waited at least 500 ms (${gaps[1]} ms)`)
  t.ok(gaps[2] >= 1000, `the fourth waited at least 1000 ms (${gaps[2]} ms)`)

  const late = await request(`${gw.url}/items`)
  t.equal(late.statusCode, 200, 'still served while the token is valid')
  t.equal((await late.body.json() as { authorization: string }).authorization, served.authorization, 'with the token the gateway holds')
  const health = await (await request(`${gw.url}/health/token`)).body.text()
  const body = JSON.parse(health) as Record<string, unknown>
  t.match(body, { status: 'expiring', refreshTokenRejected: false, lastRefreshError: /^invalid_client:/ })
  t.ok((body.consecutiveFailures as number) >= 4, `failures counted (${String(body.consecutiveFailures)})`)

  const accessToken = served.authorization.replace(/^Bearer /, '')
  const seen = gw.logText() + refused + health
  t.notOk(seen.includes(CLIENT_SECRET), 'no client secret')
  t.notOk(seen.includes(accessToken), 'no access token')
})
