// Keyless client authentication end to end, against a real authorization server (oidc-provider):
// the gateway signs private_key_jwt assertions for its client_credentials tokens, a key the
// server does not know is refused with invalid_client and backed off (health shows it), the key
// file rotated on disk is used by the next refresh, and nothing of the key or the assertions
// reaches a log line or health. Then the built gateway as a child process, configured by
// OAUTH_CLIENT_AUTH=private_key_jwt, proxies a request that the protected API accepts.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { clientKey } from '../helpers/clientKeys.js'
import { JWT_CLIENT_ID, startAuthorizationServer, startProtectedApi, type AuthorizationServer } from '../helpers/oidcProvider.js'
import { startGatewayProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/servers.js'

const registered = clientKey('gw-2026', 'ec')
const unknown = clientKey('gw-2026', 'ec')
const ADMIN_KEY = 'admin-key-for-tests'

function keyEnv (as: AuthorizationServer, api: { url: string }, keyFile: string): Record<string, string> {
  return {
    UPSTREAM_URL: api.url,
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: JWT_CLIENT_ID,
    OAUTH_CLIENT_AUTH: 'private_key_jwt',
    OAUTH_PRIVATE_KEY_FILE: keyFile,
    OAUTH_KEY_ID: 'gw-2026',
    OAUTH_SCOPE: 'api:read'
  }
}

function assertNothingSecret (t: Test, text: string, as: AuthorizationServer, pems: string[]): void {
  const pemBody = (pem: string): string => pem.split('\n')[1]
  for (const pem of pems) t.notOk(text.includes(pemBody(pem)), 'no key material')
  t.notMatch(text, /PRIVATE KEY/)
  for (const call of as.calls) {
    if (call.assertion !== null) t.notOk(text.includes(call.assertion.split('.')[2]), 'no assertion')
  }
}

t.test('private_key_jwt in the gateway: an unknown key backs off with invalid_client in health; the rotated key file is used next', async (t) => {
  const as = await startAuthorizationServer(t, { jwtClientKeys: [registered.jwk] })
  const api = await startProtectedApi(t, as)
  const keyFile = join(mkdtempSync(join(tmpdir(), 'tokengate-jwt-')), 'client.pem')
  writeFileSync(keyFile, unknown.pem)
  const gw = await startGateway(t, { ...keyEnv(as, api, keyFile), GATEWAY_ADMIN_KEY: ADMIN_KEY })
  await waitFor(() => as.calls.length === 1, 5000, 'the start-up attempt')
  const refused = await request(`${gw.url}/data`)
  t.equal(refused.statusCode, 503, 'no token, no request upstream')
  await refused.body.dump()
  const deadline = Date.now() + 8000
  while (as.calls.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(as.calls.map((c) => c.error), ['invalid_client', 'invalid_client'], 'tried again')
  t.ok(as.calls[1].at - as.calls[0].at >= 250, 'after a backoff, not at once')
  const failing = await (await request(`${gw.url}/health/token`)).body.json() as Record<string, unknown>
  t.match(failing, { status: 'expired', refreshStyle: 'client_credentials', refreshTokenRejected: false, lastRefreshError: /^invalid_client: identity provider answered HTTP 401/ })
  t.ok((failing.consecutiveFailures as number) >= 1)

  // The operator replaces the key file (a rotated secret): the next refresh signs with it.
  writeFileSync(keyFile, registered.pem)
  const forced = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  const healthy = await forced.body.json() as Record<string, unknown>
  t.equal(forced.statusCode, 200)
  t.match(healthy, { status: 'ok', lastRefreshError: null, consecutiveFailures: 0 })
  t.equal(as.calls.at(-1)!.error, null)
  const res = await request(`${gw.url}/data`)
  const echo = await res.body.json() as { token: { clientId: string } }
  t.equal(res.statusCode, 200)
  t.equal(echo.token.clientId, JWT_CLIENT_ID, 'the upstream saw the token the server issued to the private_key_jwt client')
  assertNothingSecret(t, gw.logText() + JSON.stringify(failing) + JSON.stringify(healthy), as, [registered.pem, unknown.pem])
})

t.test('the built gateway with OAUTH_CLIENT_AUTH=private_key_jwt proxies with the token it obtained', async (t) => {
  const as = await startAuthorizationServer(t, { jwtClientKeys: [registered.jwk] })
  const api = await startProtectedApi(t, as)
  const keyFile = join(mkdtempSync(join(tmpdir(), 'tokengate-jwt-')), 'client.pem')
  writeFileSync(keyFile, registered.pem)
  const gw = await startGatewayProcess(t, { ...keyEnv(as, api, keyFile), LOG_LEVEL: 'trace' })
  const res = await request(`${gw.url}/v1/items`)
  const echo = await res.body.json() as { url: string, token: { clientId: string, scope: string | null } }
  t.equal(res.statusCode, 200)
  t.equal(echo.url, '/v1/items')
  t.same(echo.token, { clientId: JWT_CLIENT_ID, accountId: null, scope: 'api:read' })
  t.equal(as.calls.filter((c) => c.assertion !== null && c.error === null).length, 1, 'one signed assertion accepted')
  await gw.waitForOutput(/Token refreshed successfully/)
  assertNothingSecret(t, gw.output(), as, [registered.pem])
})
