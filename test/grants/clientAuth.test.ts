// The client authentication methods at the token endpoint, against a real authorization server
// (oidc-provider) wherever it offers the method: private_key_jwt with RSA and EC keys, a key file
// rotated between requests, client_secret_post, a platform-written assertion (client_assertion_file);
// `none` and an explicit client_secret_basic against a local stand-in that shows the raw form.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose'
import t from 'tap'
import { createPrivateKey, randomUUID } from 'node:crypto'
import type { ClientAuthConfig } from '../../src/config/clientAuthConfig.js'
import { RefreshError } from '../../src/errors.js'
import { JWT_BEARER_ASSERTION_TYPE, checkJwt, parseSigningKey } from '../../src/grants/clientAuth.js'
import { createGrant } from '../../src/grants/createGrant.js'
import { clientKey } from '../helpers/clientKeys.js'
import { startLocalServer } from '../helpers/localServer.js'
import { CLIENT_SECRET, JWT_CLIENT_ID, POST_CLIENT_ID, startAuthorizationServer } from '../helpers/oidcProvider.js'

const keyA = clientKey('key-a', 'rsa')
const keyB = clientKey('key-b', 'ec')
const stranger = clientKey('key-a', 'rsa')

function workdir (): string {
  return mkdtempSync(join(tmpdir(), 'tokengate-client-auth-'))
}

function jwtGrant (tokenUrl: string, path: string, options: { keyId?: string | null, signingAlg?: 'RS256' | 'PS256' | 'ES256' | null } = {}) {
  const auth: ClientAuthConfig = {
    method: 'private_key_jwt',
    privateKey: { path, field: 'credentials.graph.privateKeyFile', keyId: options.keyId ?? null, signingAlg: options.signingAlg ?? null },
    assertionFile: null
  }
  return createGrant({ style: 'client_credentials', url: tokenUrl, oauthClient: { clientId: JWT_CLIENT_ID, clientSecret: null, scope: 'api:read', auth } })
}

async function failureOf (promise: Promise<unknown>): Promise<RefreshError> {
  const err = await promise.then(() => null, (error: unknown) => error)
  if (!(err instanceof RefreshError)) throw new Error('expected a RefreshError')
  return err
}

t.test('private_key_jwt: a fresh signed assertion per request, its claims as the server sees them; a rotated key file is used next', async (t) => {
  const as = await startAuthorizationServer(t, { jwtClientKeys: [keyA.jwk, keyB.jwk] })
  const dir = workdir()
  const keyFile = join(dir, 'client.pem')
  writeFileSync(keyFile, `\n${keyA.pem}\n`)
  const grant = jwtGrant(as.tokenUrl, keyFile, { keyId: 'key-a' })

  const first = await grant.exchange(null)
  const second = await grant.exchange(null)
  t.ok(first.accessToken !== second.accessToken, 'two tokens')
  t.same(as.calls.map((c) => [c.clientId, c.error]), [[JWT_CLIENT_ID, null], [JWT_CLIENT_ID, null]], 'the server authenticated the client twice')
  const claims = as.calls.map((c) => decodeJwt(c.assertion!))
  for (const claim of claims) {
    t.equal(claim.iss, JWT_CLIENT_ID)
    t.equal(claim.sub, JWT_CLIENT_ID)
    t.equal(claim.aud, as.tokenUrl, 'aud is the token URL')
    t.ok(claim.exp! - claim.iat! <= 300 && claim.exp! > claim.iat!, 'a short lifetime')
    t.type(claim.jti, 'string')
  }
  t.not(claims[0].jti, claims[1].jti, 'a unique jti per request')
  t.same(decodeProtectedHeader(as.calls[0].assertion!), { alg: 'RS256', typ: 'JWT', kid: 'key-a' }, 'RS256 by default for an RSA key, with the kid')

  // The platform rotates the key: an EC key (ES256, by default) under a new kid is used from the next request on.
  writeFileSync(keyFile, keyB.pem)
  const rotated = jwtGrant(as.tokenUrl, keyFile, { keyId: 'key-b' })
  await rotated.exchange(null)
  writeFileSync(keyFile, keyA.pem + '\n')
  await grant.exchange(null)
  writeFileSync(keyFile, keyB.pem)
  await rotated.exchange(null)
  t.same(as.calls.slice(2).map((c) => [c.error, decodeProtectedHeader(c.assertion!).alg]), [[null, 'ES256'], [null, 'RS256'], [null, 'ES256']], 'each request signed with the file of the moment')
})

t.test('private_key_jwt: PS256 when asked; an unregistered key is refused with invalid_client, not final', async (t) => {
  const as = await startAuthorizationServer(t, { jwtClientKeys: [keyA.jwk] })
  const dir = workdir()
  const keyFile = join(dir, 'client.pem')
  writeFileSync(keyFile, keyA.pem)
  await jwtGrant(as.tokenUrl, keyFile, { signingAlg: 'PS256' }).exchange(null)
  t.same(decodeProtectedHeader(as.calls[0].assertion!), { alg: 'PS256', typ: 'JWT' }, 'no kid when none is configured')
  t.equal(as.calls[0].error, null)

  writeFileSync(keyFile, stranger.pem)
  const refused = await failureOf(jwtGrant(as.tokenUrl, keyFile, { keyId: 'key-a' }).exchange(null))
  t.equal(refused.reason, 'invalid_client')
  t.equal(refused.rejected, false, 'a client problem is not a dead refresh token')
  t.equal(refused.retryable, false, 'not at once; the service backs off')
  t.equal(as.calls[1].error, 'invalid_client')
  t.notMatch(refused.message + refused.detail, /BEGIN|PRIVATE|eyJ/)
})

// Thumbprints computed by openssl, not by the code under test.
function opensslThumbprint (certFile: string, digest: 'sha1' | 'sha256'): string {
  const der = execFileSync('openssl', ['x509', '-in', certFile, '-outform', 'DER'])
  return Buffer.from(execFileSync('openssl', ['dgst', `-${digest}`, '-binary'], { input: der })).toString('base64url')
}

t.test('private_key_jwt with the certificate beside the key (Microsoft Entra ID): its x5t#S256 and x5t in the header', async (t) => {
  const as = await startAuthorizationServer(t, { jwtClientKeys: [keyA.jwk] })
  const dir = workdir()
  const keyOnly = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  writeFileSync(keyOnly, keyA.pem)
  execFileSync('openssl', ['req', '-x509', '-key', keyOnly, '-out', certFile, '-days', '2', '-subj', '/CN=tokengate client'])
  const bundle = join(dir, 'client.pem')
  writeFileSync(bundle, readFileSync(certFile, 'utf8') + keyA.pem)
  await jwtGrant(as.tokenUrl, bundle, { keyId: 'key-a', signingAlg: 'PS256' }).exchange(null)
  t.equal(as.calls[0].error, null, 'the server accepted the assertion')
  t.same(decodeProtectedHeader(as.calls[0].assertion!), {
    alg: 'PS256', typ: 'JWT', kid: 'key-a', x5t: opensslThumbprint(certFile, 'sha1'), 'x5t#S256': opensslThumbprint(certFile, 'sha256')
  })

  // A certificate of another key names another credential; a broken one is no certificate.
  const strangerKey = join(dir, 'stranger.pem')
  const strangerCert = join(dir, 'stranger-cert.pem')
  writeFileSync(strangerKey, stranger.pem)
  execFileSync('openssl', ['req', '-x509', '-key', strangerKey, '-out', strangerCert, '-days', '2', '-subj', '/CN=someone else'])
  t.throws(() => parseSigningKey(readFileSync(strangerCert, 'utf8') + keyA.pem, null), { message: 'holds a certificate that is not the private key\'s own' })
  t.throws(() => parseSigningKey('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' + keyA.pem, null), { message: 'holds a certificate that does not parse' })
  t.equal(parseSigningKey(keyA.pem, null).thumbprints, null, 'no certificate, no thumbprint')
})

t.test('private_key_jwt: a key file gone or wrong fails the refresh naming the field, never its content', async (t) => {
  const server = await startLocalServer((_req, res) => { res.writeHead(500).end() })
  t.teardown(() => server.close())
  const dir = workdir()
  const keyFile = join(dir, 'client.pem')
  writeFileSync(keyFile, keyA.pem)
  const grant = jwtGrant(`${server.url}/token`, keyFile)
  rmSync(keyFile)
  const gone = await failureOf(grant.exchange(null))
  t.equal(gone.reason, 'secret_file_unreadable')
  t.equal(gone.detail, `credentials.graph.privateKeyFile (${keyFile}) cannot be read (ENOENT)`)
  writeFileSync(keyFile, 'not-a-key-but-secret-text')
  const garbled = await failureOf(grant.exchange(null))
  t.equal(garbled.reason, 'secret_file_malformed')
  t.equal(garbled.detail, `credentials.graph.privateKeyFile (${keyFile}) is not a PEM private key (PKCS#8, PKCS#1 or SEC 1)`)
  t.equal(server.received.length, 0, 'nothing sent without an assertion')
})

t.test('parseSigningKey: the algorithm follows the key; a mismatch or another key type is refused', async (t) => {
  t.equal(parseSigningKey(keyA.pem, null).alg, 'RS256')
  t.equal(parseSigningKey(keyA.pem, 'PS256').alg, 'PS256')
  t.equal(parseSigningKey(keyB.pem, null).alg, 'ES256')
  t.equal(parseSigningKey(keyB.pem, 'ES256').alg, 'ES256')
  t.throws(() => parseSigningKey(keyA.pem, 'ES256'), { message: 'holds an RSA key, which cannot sign ES256 (use RS256 or PS256)' })
  t.throws(() => parseSigningKey(keyB.pem, 'RS256'), { message: 'holds an EC key, which cannot sign RS256 (use ES256)' })
  const { generateKeyPairSync } = await import('node:crypto')
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  t.throws(() => parseSigningKey(p384, null), { message: 'holds an EC key that is not on P-256 (ES256 needs P-256)' })
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  t.throws(() => parseSigningKey(ed, null), { message: 'must hold an RSA or EC private key' })
})

t.test('checkJwt: three base64url parts with a JSON header', async (t) => {
  const header = Buffer.from('{"alg":"RS256"}').toString('base64url')
  t.equal(checkJwt(`${header}.e30.c2ln`), `${header}.e30.c2ln`)
  for (const bad of ['abc', 'a.b', `${header}.e30`, `${header}.e 30.x`, 'bm90IGpzb24.e30.x', `${Buffer.from('[1]').toString('base64url')}.e30.x`, `${Buffer.from('null').toString('base64url')}.e30.x`]) {
    t.throws(() => checkJwt(bad), { message: 'does not hold a JWT (three base64url parts)' }, bad)
  }
})

t.test('client_assertion_file: the platform\'s JWT, read again for every request, sent as client_assertion', async (t) => {
  const as = await startAuthorizationServer(t, { jwtClientKeys: [keyA.jwk] })
  const dir = workdir()
  const file = join(dir, 'token')
  // What a platform would write: an assertion for this client, signed by a key the server trusts.
  const platformJwt = async (): Promise<string> => await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'key-a' })
    .setIssuer(JWT_CLIENT_ID).setSubject(JWT_CLIENT_ID).setAudience(as.tokenUrl)
    .setJti(randomUUID()).setIssuedAt().setExpirationTime('5m')
    .sign(createPrivateKey(keyA.pem))
  const firstJwt = await platformJwt()
  writeFileSync(file, `${firstJwt}\n`)
  const auth: ClientAuthConfig = { method: 'client_assertion_file', privateKey: null, assertionFile: { path: file, field: 'OAUTH_CLIENT_ASSERTION_FILE' } }
  const grant = createGrant({ style: 'client_credentials', url: as.tokenUrl, oauthClient: { clientId: JWT_CLIENT_ID, clientSecret: null, scope: null, auth } })
  await grant.exchange(null)
  const secondJwt = await platformJwt()
  writeFileSync(file, secondJwt)
  await grant.exchange(null)
  t.same(as.calls.map((c) => [c.error, c.assertion]), [[null, firstJwt], [null, secondJwt]], 'the server accepted each file of the moment')

  // The same assertion twice is a replay (same jti), which the server refuses: the file is not rewritten here.
  const replay = await failureOf(grant.exchange(null))
  t.equal(replay.reason, 'invalid_client')
  writeFileSync(file, 'garbage-assertion')
  const garbled = await failureOf(grant.exchange(null))
  t.equal(garbled.detail, `OAUTH_CLIENT_ASSERTION_FILE (${file}) does not hold a JWT (three base64url parts)`)
  t.notMatch(garbled.detail, /garbage/)
})

t.test('client_secret_post: id and secret in the form, no Authorization header; accepted by a client registered for it', async (t) => {
  const as = await startAuthorizationServer(t)
  const auth: ClientAuthConfig = { method: 'client_secret_post', privateKey: null, assertionFile: null }
  const token = await createGrant({ style: 'client_credentials', url: as.tokenUrl, oauthClient: { clientId: POST_CLIENT_ID, clientSecret: CLIENT_SECRET, scope: 'api:read', auth } }).exchange(null)
  t.type(token.accessToken, 'string')
  t.same(as.calls.map((c) => [c.clientId, c.clientAuth, c.secretInBody, c.error]), [[POST_CLIENT_ID, 'body', true, null]])
})

t.test('none and an explicit client_secret_basic, as the form and headers show them (local stand-in)', async (t) => {
  const server = await startLocalServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at', expires_in: 60 }))
  })
  t.teardown(() => server.close())
  const grantWith = (method: 'none' | 'client_secret_basic', clientSecret: string | null) => createGrant({
    style: 'oauth2',
    url: `${server.url}/token`,
    oauthClient: { clientId: 'gw', clientSecret, scope: null, auth: { method, privateKey: null, assertionFile: null } }
  })
  await grantWith('none', null).exchange('rt')
  await grantWith('client_secret_basic', 's:cret').exchange('rt')
  const [none, basic] = server.received
  t.equal(none.headers.authorization, undefined)
  t.same(Object.fromEntries(new URLSearchParams(none.body)), { grant_type: 'refresh_token', refresh_token: 'rt', client_id: 'gw' })
  t.equal(basic.headers.authorization, `Basic ${Buffer.from('gw:s%3Acret').toString('base64')}`)
  t.same(Object.fromEntries(new URLSearchParams(basic.body)), { grant_type: 'refresh_token', refresh_token: 'rt' })
  t.equal(JWT_BEARER_ASSERTION_TYPE, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
})
