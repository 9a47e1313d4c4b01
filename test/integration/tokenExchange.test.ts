// The token exchange (RFC 8693) end to end, against a real authorization server (oidc-provider with
// a token-exchange grant that verifies each subject token against the platform's key): the
// gateway trades the platform's token from its file for the upstream's, sends audience and both
// resources, reads the file again when the platform replaces it, backs off when the subject token
// is refused (invalid_grant, not final) and recovers once the file holds a good one; nothing of
// the subject token reaches a log line or health. In-process with a configuration file, then the
// built gateway as a child process configured by the environment, which also exits 1 at start-up
// on a subject token file that is missing or not a JWT.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { startGateway } from '../helpers/app.js'
import { CLIENT_SECRET, startAuthorizationServer, startProtectedApi } from '../helpers/oidcProvider.js'
import { spawnGateway, startGatewayProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/servers.js'
import {
  EXCHANGE_CLIENT_ID, JWT_TOKEN_TYPE, PUBLIC_EXCHANGE_CLIENT_ID, startPlatform, tokenExchange, type ExchangeCall
} from '../helpers/tokenExchange.js'

const ADMIN_KEY = 'admin-key-for-tests'
const RESOURCES = ['https://orders.example.test/', 'https://billing.example.test/']

// The kubelet writes a projected token beside the old one and swaps it in: a rename.
function writeSubjectToken (path: string, token: string): void {
  writeFileSync(`${path}.tmp`, `${token}\n`)
  renameSync(`${path}.tmp`, path)
}

function assertNoSubjectToken (t: Test, text: string, tokens: string[]): void {
  for (const token of tokens) {
    t.notOk(text.includes(token), 'no subject token')
    t.notOk(text.includes(token.split('.')[2]), 'not even its signature')
  }
  t.notOk(text.includes(CLIENT_SECRET), 'no client secret')
}

async function adminRefresh (url: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await request(`${url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
}

t.test('a credential of the configuration file exchanges the platform\'s token as a public client; the replaced file is sent next', async (t) => {
  const platform = await startPlatform()
  const exchange = tokenExchange(platform)
  const as = await startAuthorizationServer(t, exchange.serverOptions)
  const api = await startProtectedApi(t, as)
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-exchange-'))
  const first = await platform.sign({ sub: 'system:serviceaccount:apps:gateway' })
  writeSubjectToken(join(dir, 'token'), first)
  const configFile = join(dir, 'gateway.yaml')
  writeFileSync(configFile, stringify({
    credentials: {
      orders: {
        grant: 'token_exchange',
        tokenUrl: as.tokenUrl,
        clientId: PUBLIC_EXCHANGE_CLIENT_ID,
        clientAuth: 'none',
        subjectTokenFile: 'token',
        audience: 'orders-api',
        resource: RESOURCES,
        scope: 'api:read'
      }
    },
    routes: [{ path: '/orders', upstream: api.url, credential: 'orders' }]
  }))
  const gw = await startGateway(t, { TOKENGATE_CONFIG: configFile, GATEWAY_ADMIN_KEY: ADMIN_KEY })

  const res = await request(`${gw.url}/orders/42`)
  const echo = await res.body.json() as { url: string, authorization: string, token: { clientId: string, scope: string } }
  t.equal(res.statusCode, 200)
  t.equal(echo.url, '/42')
  t.match(echo.token, { clientId: PUBLIC_EXCHANGE_CLIENT_ID, scope: 'api:read' }, 'the upstream accepted the exchanged token')
  t.same(exchange.exchanges, [{
    clientId: PUBLIC_EXCHANGE_CLIENT_ID,
    subjectToken: first,
    subjectTokenType: JWT_TOKEN_TYPE,
    audience: ['orders-api'],
    resources: RESOURCES,
    scope: 'api:read',
    subject: 'system:serviceaccount:apps:gateway'
  }] satisfies ExchangeCall[])
  t.equal(as.calls[0].clientAuth, 'body', 'a public client names itself in the form, with no secret')

  // The platform rotates the token; a forced refresh exchanges the new one.
  const second = await platform.sign({ sub: 'system:serviceaccount:apps:gateway-v2' })
  writeSubjectToken(join(dir, 'token'), second)
  const forced = await adminRefresh(gw.url)
  t.equal(forced.status, 200)
  t.match(forced.body, { status: 'ok', refreshStyle: 'token_exchange', refreshEnabled: true, lastRefreshError: null })
  t.equal(exchange.exchanges.length, 2)
  t.equal(exchange.exchanges[1].subjectToken, second)
  t.equal(exchange.exchanges[1].subject, 'system:serviceaccount:apps:gateway-v2')
  const again = await request(`${gw.url}/orders/43`)
  const echoed = await again.body.json() as { authorization: string }
  t.equal(again.statusCode, 200)
  t.not(echoed.authorization, echo.authorization, 'sent with the token of the second exchange')

  const health = await (await request(`${gw.url}/health/token`)).body.text()
  t.match(JSON.parse(health), { status: 'ok', credentials: { orders: { refreshStyle: 'token_exchange', routes: ['/orders'] } } })
  assertNoSubjectToken(t, gw.logText() + health + JSON.stringify(forced.body), [first, second])
})

t.test('the built gateway with TOKEN_GRANT=token_exchange: a refused subject token is backed off and recovers when the file is rewritten', async (t) => {
  const platform = await startPlatform()
  const exchange = tokenExchange(platform)
  const as = await startAuthorizationServer(t, exchange.serverOptions)
  const api = await startProtectedApi(t, as)
  const subjectFile = join(mkdtempSync(join(tmpdir(), 'tokengate-exchange-')), 'token')
  const expired = await platform.sign({ lifetimeSeconds: -60 })
  writeSubjectToken(subjectFile, expired)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: api.url,
    TOKEN_GRANT: 'token_exchange',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: EXCHANGE_CLIENT_ID,
    OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    OAUTH_SUBJECT_TOKEN_FILE: subjectFile,
    OAUTH_AUDIENCE: 'orders-api',
    OAUTH_RESOURCE: RESOURCES.join(','),
    OAUTH_SCOPE: 'api:read',
    GATEWAY_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: 'trace'
  })

  // The expired subject token is refused at start-up and again after a backoff, not at once.
  await waitFor(() => as.calls.length >= 2, 10_000, 'the start-up exchange and one retry')
  t.same(as.calls.slice(0, 2).map((call) => call.error), ['invalid_grant', 'invalid_grant'])
  t.ok(as.calls[1].at - as.calls[0].at >= 250, 'the retry waited for the backoff')
  t.same(exchange.exchanges.slice(0, 2).map((call) => call.subject), [null, null], 'the server checked the token and refused it')
  const refused = await request(`${gw.url}/v1/items`)
  t.equal(refused.statusCode, 503, 'no token, no request upstream')
  await refused.body.dump()
  const failing = await (await request(`${gw.url}/health/token`)).body.text()
  t.match(JSON.parse(failing), {
    status: 'expired',
    refreshStyle: 'token_exchange',
    refreshEnabled: true,
    refreshTokenRejected: false,
    lastRefreshError: /^invalid_grant: identity provider refused the subject token \(HTTP 400\): tried again after a backoff/
  })

  // The platform writes a fresh token: the next attempt of the backoff exchanges it, unasked.
  const fresh = await platform.sign()
  writeSubjectToken(subjectFile, fresh)
  await waitFor(() => exchange.exchanges.some((call) => call.subject !== null), 15_000, 'an accepted exchange')
  const res = await request(`${gw.url}/v1/items`)
  const echo = await res.body.json() as { url: string, token: { clientId: string, scope: string } }
  t.equal(res.statusCode, 200)
  t.same(echo.token, { clientId: EXCHANGE_CLIENT_ID, accountId: null, scope: 'api:read' })
  const accepted = exchange.exchanges.find((call) => call.subject !== null)!
  t.same(accepted, {
    clientId: EXCHANGE_CLIENT_ID,
    subjectToken: fresh,
    subjectTokenType: JWT_TOKEN_TYPE,
    audience: ['orders-api'],
    resources: RESOURCES,
    scope: 'api:read',
    subject: 'system:serviceaccount:apps:gateway'
  })
  t.equal(as.calls.find((call) => call.error === null)!.clientAuth, 'basic', 'the confidential client authenticated by HTTP Basic')

  // Rotated again on disk: a forced refresh sends the newest.
  const newest = await platform.sign({ sub: 'system:serviceaccount:apps:gateway-v3' })
  writeSubjectToken(subjectFile, newest)
  const forced = await adminRefresh(gw.url)
  t.equal(forced.status, 200)
  t.match(forced.body, { status: 'ok', refreshStyle: 'token_exchange', lastRefreshError: null, consecutiveFailures: 0 })
  t.equal(exchange.exchanges.at(-1)!.subjectToken, newest)
  t.equal(exchange.exchanges.at(-1)!.subject, 'system:serviceaccount:apps:gateway-v3')

  await gw.waitForOutput(/Token refreshed successfully/)
  t.match(gw.output(), /tokengate forwarding to .* with tokens from http:\/\/127\.0\.0\.1:\d+ \(grant token_exchange\)/)
  assertNoSubjectToken(t, gw.output() + failing + JSON.stringify(forced.body), [expired, fresh, newest])
})

t.test('the built gateway exits 1 at start-up when the subject token file is not a JWT or is missing, naming the variable and never the content', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-exchange-'))
  const garbled = join(dir, 'garbled')
  writeFileSync(garbled, 'opaque-subject-token-value')
  const base = { UPSTREAM_URL: 'http://127.0.0.1:9', TOKEN_GRANT: 'token_exchange', TOKEN_REFRESH_URL: 'http://127.0.0.1:9/token', OAUTH_CLIENT_ID: EXCHANGE_CLIENT_ID }
  const notJwt = spawnGateway({ ...base, OAUTH_SUBJECT_TOKEN_FILE: garbled })
  t.equal((await notJwt.exited).code, 1)
  t.match(notJwt.output(), new RegExp(`^tokengate: configuration error: OAUTH_SUBJECT_TOKEN_FILE ${garbled} does not hold a JWT`, 'm'))
  t.notMatch(notJwt.output(), /opaque-subject-token-value/)
  const missing = spawnGateway({ ...base, OAUTH_SUBJECT_TOKEN_FILE: join(dir, 'absent') })
  t.equal((await missing.exited).code, 1)
  t.match(missing.output(), /^tokengate: configuration error: OAUTH_SUBJECT_TOKEN_FILE cannot be read: .*absent \(ENOENT\)$/m)
  const none = spawnGateway(base)
  t.equal((await none.exited).code, 1)
  t.match(none.output(), /^tokengate: configuration error: OAUTH_SUBJECT_TOKEN_FILE is required when TOKEN_GRANT is token_exchange/m)
})
