// The token exchange (RFC 8693) byte by byte, against a local server that gives one exact answer
// each: the form it sends (subject token from its file, read again when the file changed; type;
// audience, resource and scope; the client's authentication), the answer it accepts, and an
// invalid_grant that is backed off rather than final, since the platform rewrites the file.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RefreshError } from '../../src/errors.js'
import { createGrant } from '../../src/grants/createGrant.js'
import { JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT_TYPE, createTokenExchangeGrant } from '../../src/grants/tokenExchangeGrant.js'
import type { RefreshGrant } from '../../src/grants/refreshGrant.js'
import { SecretFile } from '../../src/utils/secretFile.js'
import { startLocalServer, type LocalServer } from '../helpers/localServer.js'

const NOW = 1_800_000_000_000
const now = (): number => NOW

function jwt (claims: object): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`
}

async function answering (t: { teardown (fn: () => unknown): void }, status: number, body: unknown, headers: Record<string, string> = {}): Promise<LocalServer> {
  const server = await startLocalServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', date: new Date(NOW).toUTCString(), ...headers })
      .end(JSON.stringify(body))
  })
  t.teardown(() => server.close())
  return server
}

function subjectFile (t: { teardown (fn: () => unknown): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-subject-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'token')
  writeFileSync(path, `${text}\n`)
  return path
}

async function failure (grant: RefreshGrant): Promise<RefreshError> {
  try {
    await grant.exchange(null)
  } catch (err) {
    if (err instanceof RefreshError) return err
    throw err
  }
  throw new Error('the exchange succeeded')
}

t.test('token exchange: the subject token, its type, audience, resources and scope in one form; a refresh token in the answer is not kept', async (t) => {
  const server = await answering(t, 200, {
    access_token: 'at-x', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 300, refresh_token: 'unused'
  })
  const first = jwt({ sub: 'system:serviceaccount:apps:gateway', n: 1 })
  const path = subjectFile(t, first)
  const grant = createGrant({
    style: 'token_exchange',
    url: server.url,
    now,
    oauthClient: {
      clientId: 'gateway',
      clientSecret: null,
      scope: 'api:read',
      audience: ['orders-api'],
      resource: ['https://orders.example.test/', 'https://billing.example.test/'],
      subjectToken: { path, field: 'OAUTH_SUBJECT_TOKEN_FILE', type: JWT_TOKEN_TYPE }
    }
  })
  t.equal(grant.style, 'token_exchange')
  t.equal(grant.needsRefreshToken, false)
  t.same(await grant.exchange(null), { accessToken: 'at-x', refreshToken: null, expiresAtMs: NOW + 300_000, providerDateMs: NOW })
  const form = new URLSearchParams(server.received[0].body)
  t.same([...form], [
    ['grant_type', TOKEN_EXCHANGE_GRANT_TYPE],
    ['subject_token', first],
    ['subject_token_type', JWT_TOKEN_TYPE],
    ['scope', 'api:read'],
    ['audience', 'orders-api'],
    ['resource', 'https://orders.example.test/'],
    ['resource', 'https://billing.example.test/'],
    ['client_id', 'gateway']
  ], 'a public client names itself in the form')
  t.equal(server.received[0].headers.authorization, undefined)

  // The platform rewrites the file (a rename, as the kubelet does): the next exchange sends the new token.
  const second = jwt({ sub: 'system:serviceaccount:apps:gateway', n: 2 })
  writeFileSync(`${path}.new`, second)
  renameSync(`${path}.new`, path)
  await grant.exchange(null)
  t.equal(new URLSearchParams(server.received[1].body).get('subject_token'), second)
})

t.test('token exchange: a confidential client authenticates as configured (HTTP Basic by default)', async (t) => {
  const server = await answering(t, 200, { access_token: 'at-x', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer' })
  const grant = createTokenExchangeGrant({
    url: server.url,
    client: { clientId: 'gateway', clientSecret: 'secret' },
    subjectToken: new SecretFile(subjectFile(t, 'opaque-platform-token'), 'credentials.k8s.subjectTokenFile'),
    subjectTokenType: 'urn:ietf:params:oauth:token-type:access_token'
  })
  t.same(await grant.exchange(null), { accessToken: 'at-x', refreshToken: null, expiresAtMs: null, providerDateMs: NOW })
  const req = server.received[0]
  t.equal(req.headers.authorization, `Basic ${Buffer.from('gateway:secret').toString('base64')}`)
  t.same(Object.fromEntries(new URLSearchParams(req.body)), {
    grant_type: TOKEN_EXCHANGE_GRANT_TYPE, subject_token: 'opaque-platform-token', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token'
  }, 'no scope, audience or resource when none is configured')
})

t.test('token exchange: invalid_grant means the subject token was refused, which is not final', async (t) => {
  const server = await answering(t, 400, { error: 'invalid_grant', error_description: 'subject token expired at 12:00 for sub=secret-looking' }, { 'retry-after': '7' })
  const token = jwt({ sub: 'x' })
  const grant = createTokenExchangeGrant({
    url: server.url,
    client: { clientId: 'gateway', clientSecret: null },
    subjectToken: new SecretFile(subjectFile(t, token), 'OAUTH_SUBJECT_TOKEN_FILE'),
    subjectTokenType: JWT_TOKEN_TYPE,
    now
  })
  const err = await failure(grant)
  t.equal(err.reason, 'invalid_grant')
  t.equal(err.rejected, false, 'not final: the platform rewrites the file')
  t.equal(err.retryable, false, 'not at once: after the service\'s backoff')
  t.equal(err.retryAfterMs, 7000)
  t.match(err.message, /^invalid_grant: identity provider refused the subject token \(HTTP 400\): tried again after a backoff/)
  t.notMatch(err.message, /secret-looking|12:00/, 'the description is not echoed')
  t.notOk(err.message.includes(token))
})

t.test('token exchange: other failures are classified as for client_credentials', async (t) => {
  const path = subjectFile(t, jwt({ sub: 'x' }))
  const grantAt = (url: string): RefreshGrant => createTokenExchangeGrant({
    url, client: { clientId: 'gateway', clientSecret: 'wrong' }, subjectToken: new SecretFile(path, 'OAUTH_SUBJECT_TOKEN_FILE'), subjectTokenType: JWT_TOKEN_TYPE
  })
  const refused = await failure(grantAt((await answering(t, 401, { error: 'invalid_client' })).url))
  t.match(refused, { reason: 'invalid_client', retryable: false, rejected: false })
  const down = await failure(grantAt((await answering(t, 503, {})).url))
  t.match(down, { reason: 'http_503', retryable: true, rejected: false })
  const na = await failure(grantAt((await answering(t, 200, { access_token: 'id-token', issued_token_type: 'urn:ietf:params:oauth:token-type:id_token', token_type: 'N_A' })).url))
  t.match(na, { reason: 'bad_response', message: /token_type is not Bearer/ }, 'a token that is not an access token is not sent as one')
})

t.test('token exchange: an unreadable or malformed subject token file fails before any request, naming the field', async (t) => {
  const server = await answering(t, 200, { access_token: 'at-x' })
  const path = subjectFile(t, 'not-a-jwt')
  const grant = createGrant({
    style: 'token_exchange',
    url: server.url,
    oauthClient: { clientId: 'gateway', clientSecret: null, scope: null, subjectToken: { path, field: 'credentials.k8s.subjectTokenFile', type: JWT_TOKEN_TYPE } }
  })
  const malformed = await failure(grant)
  t.match(malformed, { reason: 'secret_file_malformed', retryable: false, rejected: false })
  t.equal(malformed.detail, `credentials.k8s.subjectTokenFile (${path}) does not hold a JWT (three base64url parts)`)
  rmSync(path)
  const missing = await failure(grant)
  t.match(missing, { reason: 'secret_file_unreadable', message: /credentials\.k8s\.subjectTokenFile .* cannot be read \(ENOENT\)/ })
  t.equal(server.received.length, 0, 'nothing was sent')
})
