// The OAuth 2.0 exchanges byte by byte, against a local server that gives one exact answer each:
// what the request looks like (form body, HTTP Basic per RFC 6749 §2.3.1), how answers (§5.1)
// are validated, and how error answers (§5.2) are classified.
import t from 'tap'
import { RefreshError } from '../../src/errors.js'
import { createClientCredentialsGrant } from '../../src/grants/clientCredentialsGrant.js'
import { createGrant } from '../../src/grants/createGrant.js'
import { createOAuth2RefreshGrant } from '../../src/grants/oauth2RefreshGrant.js'
import type { RefreshGrant } from '../../src/grants/refreshGrant.js'
import { startLocalServer, type LocalServer } from '../helpers/localServer.js'

const NOW = 1_800_000_000_000
const now = (): number => NOW

async function answering (t: { teardown (fn: () => unknown): void }, status: number, body: unknown, headers: Record<string, string> = {}): Promise<LocalServer> {
  const server = await startLocalServer((_req, res) => {
    // The provider's clock, as its Date header shows it: the grants report it with the tokens.
    res.writeHead(status, { 'content-type': 'application/json', date: new Date(NOW).toUTCString(), ...headers })
      .end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  t.teardown(() => server.close())
  return server
}

async function failure (grant: RefreshGrant, refreshToken: string | null = 'rt'): Promise<RefreshError> {
  try {
    await grant.exchange(refreshToken)
  } catch (err) {
    if (err instanceof RefreshError) return err
    throw err
  }
  throw new Error('the exchange succeeded')
}

function decodeBasic (header: string | undefined): string {
  return Buffer.from(String(header).replace(/^Basic /, ''), 'base64').toString('utf8')
}

t.test('oauth2 refresh: a form-encoded refresh_token grant with HTTP Basic client authentication', async (t) => {
  const server = await answering(t, 200, { access_token: 'at-2', token_type: 'Bearer', refresh_token: 'rt-2', expires_in: 600 })
  const grant = createOAuth2RefreshGrant({
    url: server.url, client: { clientId: 'gate way', clientSecret: 'p:ss+w/rd=%' }, scope: 'api:read api:write', now
  })
  t.equal(grant.style, 'oauth2')
  t.equal(grant.needsRefreshToken, true)
  const tokens = await grant.exchange('rt-1')
  t.same(tokens, { accessToken: 'at-2', refreshToken: 'rt-2', expiresAtMs: NOW + 600_000, providerDateMs: NOW })
  const [req] = server.received
  t.equal(req.method, 'POST')
  t.equal(req.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(req.headers.accept, 'application/json')
  // §2.3.1: each part form-urlencoded, then joined with ':' and base64-encoded.
  t.equal(decodeBasic(req.headers.authorization), 'gate+way:p%3Ass%2Bw%2Frd%3D%25')
  t.same(Object.fromEntries(new URLSearchParams(req.body)), { grant_type: 'refresh_token', refresh_token: 'rt-1', scope: 'api:read api:write' })
  t.notMatch(req.body, /client_secret|client_id/, 'the secret travels in the header only')
})

t.test('oauth2 refresh: a public client names itself in the body and sends no Authorization', async (t) => {
  const server = await answering(t, 200, { access_token: 'at-2' })
  const grant = createOAuth2RefreshGrant({ url: server.url, client: { clientId: 'spa', clientSecret: null }, now })
  const tokens = await grant.exchange('rt-1')
  t.same(tokens, { accessToken: 'at-2', refreshToken: null, expiresAtMs: null, providerDateMs: NOW }, 'no rotation, unknown expiry')
  const [req] = server.received
  t.equal(req.headers.authorization, undefined)
  t.same(Object.fromEntries(new URLSearchParams(req.body)), { grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'spa' },
    'no scope parameter when none is configured')
})

t.test('token answers are validated (RFC 6749 §5.1)', async (t) => {
  const cases: Array<{ name: string, body: unknown, expect: RegExp | object }> = [
    { name: 'expires_in as a string', body: { access_token: 'a', expires_in: '60', token_type: 'bearer' }, expect: { accessToken: 'a', refreshToken: null, expiresAtMs: NOW + 60_000, providerDateMs: NOW } },
    { name: 'nonsense expires_in', body: { access_token: 'a', expires_in: 'soon' }, expect: { accessToken: 'a', refreshToken: null, expiresAtMs: null, lifetimeProblem: 'expires_in is not a usable lifetime', providerDateMs: NOW } },
    { name: 'a zero expires_in', body: { access_token: 'a', expires_in: 0 }, expect: { accessToken: 'a', refreshToken: null, expiresAtMs: null, lifetimeProblem: 'expires_in is not a usable lifetime', providerDateMs: NOW } },
    { name: 'a null expires_in is no lifetime at all', body: { access_token: 'a', expires_in: null }, expect: { accessToken: 'a', refreshToken: null, expiresAtMs: null, providerDateMs: NOW } },
    { name: 'not an object', body: '[1,2]', expect: /answer is not a JSON object/ },
    { name: 'not JSON', body: '<html>', expect: /answer is not a JSON object/ },
    { name: 'no access_token', body: { token_type: 'Bearer' }, expect: /no access_token string/ },
    { name: 'empty access_token', body: { access_token: '  ' }, expect: /no access_token string/ },
    { name: 'access_token with a space', body: { access_token: 'a b' }, expect: /cannot travel in a header/ },
    { name: 'a DPoP token', body: { access_token: 'a', token_type: 'DPoP' }, expect: /token_type is not Bearer/ },
    { name: 'a numeric token_type', body: { access_token: 'a', token_type: 1 }, expect: /token_type is not Bearer/ },
    { name: 'a refresh_token that is not a string', body: { access_token: 'a', refresh_token: 42 }, expect: /refresh_token that is not a string/ }
  ]
  for (const c of cases) {
    const server = await answering(t, 200, c.body)
    const grant = createOAuth2RefreshGrant({ url: server.url, client: { clientId: 'c', clientSecret: 's' }, now })
    if (c.expect instanceof RegExp) {
      const err = await failure(grant)
      t.equal(err.reason, 'bad_response', c.name)
      t.match(err.detail, c.expect, c.name)
      t.equal(err.retryable, false)
    } else {
      t.same(await grant.exchange('rt'), c.expect, c.name)
    }
  }
})

t.test('error answers (RFC 6749 §5.2): invalid_grant is final, the rest is not', async (t) => {
  const cases = [
    { status: 400, body: { error: 'invalid_grant', error_description: 'rt-secret-value is spent' }, reason: 'invalid_grant', retryable: false, rejected: true },
    { status: 401, body: { error: 'invalid_client' }, reason: 'invalid_client', retryable: false, rejected: false },
    { status: 400, body: { error: 'invalid_scope' }, reason: 'invalid_scope', retryable: false, rejected: false },
    { status: 400, body: 'not json', reason: 'http_400', retryable: false, rejected: false },
    { status: 400, body: { error: 'temporarily_unavailable' }, reason: 'temporarily_unavailable', retryable: true, rejected: false },
    { status: 500, body: { error: 'server_error' }, reason: 'server_error', retryable: true, rejected: false },
    { status: 502, body: '', reason: 'http_502', retryable: true, rejected: false },
    { status: 429, body: { error: 'slow_down' }, reason: 'slow_down', retryable: true, rejected: false, retryAfterMs: 2000 },
    { status: 403, body: { error: 'Not An OAuth Code!' }, reason: 'http_403', retryable: false, rejected: false }
  ]
  for (const c of cases) {
    const server = await answering(t, c.status, c.body, c.retryAfterMs ? { 'retry-after': '2' } : {})
    const grant = createOAuth2RefreshGrant({ url: server.url, client: { clientId: 'c', clientSecret: 's' }, now })
    const err = await failure(grant)
    const label = `${c.status} ${JSON.stringify(c.body)}`
    t.equal(err.reason, c.reason, label)
    t.equal(err.retryable, c.retryable, `${label}: retryable`)
    t.equal(err.rejected, c.rejected, `${label}: final`)
    t.equal(err.retryAfterMs, c.retryAfterMs, `${label}: retry-after`)
    t.match(err.detail, new RegExp(`HTTP ${c.status}`))
    t.notMatch(err.message, /rt-secret-value|description/, 'the answer is never quoted')
  }
})

t.test('client_credentials: grant_type and scope in the form, Basic authentication, no refresh token kept', async (t) => {
  const server = await answering(t, 200, { access_token: 'cc-1', token_type: 'Bearer', expires_in: 300, refresh_token: 'unexpected' })
  const grant = createClientCredentialsGrant({ url: server.url, client: { clientId: 'svc', clientSecret: 'sec' }, scope: 'api:read', now })
  t.equal(grant.style, 'client_credentials')
  t.equal(grant.needsRefreshToken, false)
  t.same(await grant.exchange(null), { accessToken: 'cc-1', refreshToken: null, expiresAtMs: NOW + 300_000, providerDateMs: NOW },
    'a refresh token in the answer (RFC 6749 §4.4.3: SHOULD NOT) is not kept')
  const [req] = server.received
  t.equal(decodeBasic(req.headers.authorization), 'svc:sec')
  t.same(Object.fromEntries(new URLSearchParams(req.body)), { grant_type: 'client_credentials', scope: 'api:read' })

  const bare = createClientCredentialsGrant({ url: server.url, client: { clientId: 'svc', clientSecret: 'sec' }, now })
  await bare.exchange(null)
  t.same(Object.fromEntries(new URLSearchParams(server.received[1].body)), { grant_type: 'client_credentials' })
})

t.test('client_credentials: no error is final, since there is no refresh token to lose', async (t) => {
  for (const error of ['invalid_grant', 'invalid_client']) {
    const server = await answering(t, 400, { error })
    const err = await failure(createClientCredentialsGrant({ url: server.url, client: { clientId: 'svc', clientSecret: 'sec' } }), null)
    t.equal(err.reason, error)
    t.equal(err.rejected, false, `${error} does not mark a refresh token rejected`)
    t.equal(err.retryable, false)
  }
})

t.test('createGrant picks the exchange from the style', async (t) => {
  const client = { clientId: 'c', clientSecret: 's', scope: null }
  t.equal(createGrant({ style: 'json', url: 'http://127.0.0.1:9/r', oauthClient: null }).style, 'json')
  t.equal(createGrant({ style: 'oauth2', url: 'http://127.0.0.1:9/t', oauthClient: client }).style, 'oauth2')
  t.equal(createGrant({ style: 'client_credentials', url: 'http://127.0.0.1:9/t', oauthClient: client }).style, 'client_credentials')
})
