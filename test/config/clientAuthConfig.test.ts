// Which fields each client authentication method needs and forbids, for the environment (OAUTH_*)
// and for a credential of TOKENGATE_CONFIG's file: every problem names its variable or place, key
// and assertion files are read at start-up, and no message quotes what a file holds.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { resolveConfig } from '../../src/config/gatewayConfig.js'
import { parseGatewayFile } from '../../src/config/gatewayFile.js'
import type { EnvConfig } from '../../src/config/schema.js'
import { clientKey } from '../helpers/clientKeys.js'
import { configProblems, validate } from '../helpers/config.js'

const dir = mkdtempSync(join(tmpdir(), 'tokengate-client-auth-config-'))
const rsa = clientKey('k1', 'rsa')
const ec = clientKey('k2', 'ec')
const KEY = join(dir, 'rsa.pem')
const EC_KEY = join(dir, 'ec.pem')
const GARBLED = join(dir, 'garbled.pem')
const ASSERTION = join(dir, 'assertion.jwt')
const EMPTY = join(dir, 'empty')
const JWT = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.e30.c2lnbmF0dXJl`
writeFileSync(KEY, rsa.pem)
writeFileSync(EC_KEY, ec.pem)
writeFileSync(GARBLED, 'top-secret-garbage')
writeFileSync(ASSERTION, `${JWT}\n`)
writeFileSync(EMPTY, '  \n')

function env (variables: Record<string, string>): EnvConfig {
  return validate({ UPSTREAM_URL: 'https://api.example.com/v1', TOKEN_REFRESH_URL: 'https://idp.example.com/token', TOKEN_STORE: 'memory', ...variables })
}

const CC = { TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gw' }

function envProblems (variables: Record<string, string>): string[] {
  return configProblems(() => resolveConfig(env(variables)))
}

t.test('environment: each method with what it needs', async (t) => {
  const jwt = resolveConfig(env({ ...CC, OAUTH_CLIENT_AUTH: 'private_key_jwt', OAUTH_PRIVATE_KEY_FILE: KEY, OAUTH_KEY_ID: 'k1', OAUTH_SIGNING_ALG: 'PS256' }))
  t.same(jwt.oauthClient, {
    clientId: 'gw',
    clientSecret: null,
    scope: null,
    auth: { method: 'private_key_jwt', privateKey: { path: KEY, field: 'OAUTH_PRIVATE_KEY_FILE', keyId: 'k1', signingAlg: 'PS256' }, assertionFile: null }
  })
  const assertion = resolveConfig(env({ ...CC, OAUTH_CLIENT_AUTH: 'client_assertion_file', OAUTH_CLIENT_ASSERTION_FILE: ASSERTION }))
  t.same(assertion.oauthClient!.auth, { method: 'client_assertion_file', privateKey: null, assertionFile: { path: ASSERTION, field: 'OAUTH_CLIENT_ASSERTION_FILE' } })
  const post = resolveConfig(env({ ...CC, OAUTH_CLIENT_AUTH: 'client_secret_post', OAUTH_CLIENT_SECRET: 's' }))
  t.same(post.oauthClient!.auth, { method: 'client_secret_post', privateKey: null, assertionFile: null })
  const none = resolveConfig(env({ TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: 'spa', OAUTH_CLIENT_AUTH: 'none' }))
  t.same(none.oauthClient!.auth, { method: 'none', privateKey: null, assertionFile: null })
  const ecKey = resolveConfig(env({ ...CC, OAUTH_CLIENT_AUTH: 'private_key_jwt', OAUTH_PRIVATE_KEY_FILE: EC_KEY }))
  t.equal(ecKey.oauthClient!.auth!.privateKey!.signingAlg, null, 'the algorithm follows each key read, unless set')
  const unchosen = resolveConfig(env({ ...CC, OAUTH_CLIENT_SECRET: 's' }))
  t.notOk('auth' in unchosen.oauthClient!, 'no choice: HTTP Basic, as before')
})

t.test('environment: what each method needs or forbids, one problem per variable', async (t) => {
  t.same(envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'private_key_jwt', OAUTH_CLIENT_SECRET: 'hush', OAUTH_CLIENT_ASSERTION_FILE: ASSERTION }), [
    'OAUTH_CLIENT_ASSERTION_FILE is used only with OAUTH_CLIENT_AUTH client_assertion_file',
    'OAUTH_CLIENT_SECRET must not be set when OAUTH_CLIENT_AUTH is private_key_jwt (the secret would never be sent)',
    'OAUTH_PRIVATE_KEY_FILE is required when OAUTH_CLIENT_AUTH is private_key_jwt'
  ])
  t.same(envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'client_assertion_file', OAUTH_PRIVATE_KEY_FILE: KEY, OAUTH_KEY_ID: 'k', OAUTH_SIGNING_ALG: 'RS256' }), [
    'OAUTH_PRIVATE_KEY_FILE is used only with OAUTH_CLIENT_AUTH private_key_jwt',
    'OAUTH_KEY_ID is used only with OAUTH_CLIENT_AUTH private_key_jwt',
    'OAUTH_SIGNING_ALG is used only with OAUTH_CLIENT_AUTH private_key_jwt',
    'OAUTH_CLIENT_ASSERTION_FILE is required when OAUTH_CLIENT_AUTH is client_assertion_file'
  ])
  t.same(envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'client_secret_basic' }), ['OAUTH_CLIENT_SECRET is required when OAUTH_CLIENT_AUTH is client_secret_basic'])
  t.same(envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'none' }), ['OAUTH_CLIENT_AUTH cannot be none for the client credentials grant (confidential clients only)'])
  t.same(envProblems({ ...CC, OAUTH_CLIENT_SECRET: 's', OAUTH_PRIVATE_KEY_FILE: KEY }), ['OAUTH_PRIVATE_KEY_FILE is used only with OAUTH_CLIENT_AUTH private_key_jwt'], 'a key without the method is a mistake, not a guess')
  t.same(envProblems({ OAUTH_CLIENT_AUTH: 'private_key_jwt' }), ['OAUTH_CLIENT_AUTH is used only with TOKEN_REFRESH_STYLE=oauth2 or TOKEN_GRANT=client_credentials or token_exchange'], 'the json style authenticates no client')
  t.throws(() => env({ OAUTH_CLIENT_AUTH: 'tls_client_aut' }), 'an unknown method is refused by the schema')
})

t.test('environment: a key or assertion file unreadable or malformed stops the start, naming the variable and never the content', async (t) => {
  const lines = [
    ...envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'private_key_jwt', OAUTH_PRIVATE_KEY_FILE: GARBLED }),
    ...envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'private_key_jwt', OAUTH_PRIVATE_KEY_FILE: EC_KEY, OAUTH_SIGNING_ALG: 'RS256' }),
    ...envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'private_key_jwt', OAUTH_PRIVATE_KEY_FILE: join(dir, 'missing.pem') }),
    ...envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'client_assertion_file', OAUTH_CLIENT_ASSERTION_FILE: GARBLED }),
    ...envProblems({ ...CC, OAUTH_CLIENT_AUTH: 'client_assertion_file', OAUTH_CLIENT_ASSERTION_FILE: EMPTY })
  ]
  t.same(lines, [
    `OAUTH_PRIVATE_KEY_FILE ${GARBLED} is not a PEM private key (PKCS#8, PKCS#1 or SEC 1)`,
    `OAUTH_PRIVATE_KEY_FILE ${EC_KEY} holds an EC key, which cannot sign RS256 (use ES256)`,
    `OAUTH_PRIVATE_KEY_FILE cannot be read: ${join(dir, 'missing.pem')} (ENOENT)`,
    `OAUTH_CLIENT_ASSERTION_FILE ${GARBLED} does not hold a JWT (three base64url parts)`,
    `OAUTH_CLIENT_ASSERTION_FILE ${EMPTY} is empty`
  ])
  t.notMatch(lines.join('\n'), /garbage|PRIVATE KEY-/)
})

const FILE = join(dir, 'gateway.yaml')
const DEFAULTS = { expiryBufferMs: 5 * 60_000, refreshIntervalMs: 30 * 60_000, timeoutMs: 30_000, accessTokenMaxBytes: 8192 }

function fileWith (credential: Record<string, unknown>): string {
  return stringify({
    credentials: { graph: { grant: 'client_credentials', tokenUrl: 'https://login.example.com/token', clientId: 'gw', ...credential } },
    routes: [{ path: '/graph', upstream: 'https://graph.example.com', credential: 'graph' }]
  })
}

function fileProblems (credential: Record<string, unknown>): string[] {
  return configProblems(() => parseGatewayFile(fileWith(credential), FILE, {}, DEFAULTS))
}

t.test('file: the fields of each method, relative paths from the file\'s folder, errors naming the place', async (t) => {
  const definition = parseGatewayFile(fileWith({ clientAuth: 'private_key_jwt', privateKeyFile: 'rsa.pem', keyId: 'k1' }), FILE, {}, DEFAULTS)
  t.same(definition.credentials[0].oauthClient!.auth, {
    method: 'private_key_jwt',
    privateKey: { path: KEY, field: 'credentials.graph.privateKeyFile', keyId: 'k1', signingAlg: null },
    assertionFile: null
  })
  const assertion = parseGatewayFile(fileWith({ clientAuth: 'client_assertion_file', clientAssertionFile: ASSERTION }), FILE, {}, DEFAULTS)
  t.same(assertion.credentials[0].oauthClient!.auth!.assertionFile, { path: ASSERTION, field: 'credentials.graph.clientAssertionFile' })

  t.same(fileProblems({ clientAuth: 'private_key_jwt', clientSecretFile: EMPTY }), [
    `credentials.graph.clientSecretFile: ${EMPTY} is empty`
  ], 'an unusable value is reported once, not checked again')
  t.same(fileProblems({ clientAuth: 'private_key_jwt', clientSecretFile: ASSERTION, privateKeyFile: 'garbled.pem' }), [
    'credentials.graph.clientSecretFile: must not be set when clientAuth is private_key_jwt (the secret would never be sent)',
    `credentials.graph.privateKeyFile: ${GARBLED} is not a PEM private key (PKCS#8, PKCS#1 or SEC 1)`
  ])
  t.same(fileProblems({ clientAuth: 'client_secret_post' }), ['credentials.graph.clientSecret: is required when clientAuth is client_secret_post'])
  t.same(fileProblems({ clientAuth: 'mtls', signingAlg: 'HS256', clientSecret: 's' }), [
    'credentials.graph.clientAuth: must be one of: client_secret_basic, client_secret_post, none, private_key_jwt, client_assertion_file, tls_client_auth',
    'credentials.graph.signingAlg: must be one of: RS256, PS256, ES256'
  ])
  t.same(fileProblems({ clientSecret: 's', keyId: 'k' }), ['credentials.graph.keyId: is used only with clientAuth private_key_jwt'])
  t.same(fileProblems({}), ['credentials.graph.clientSecret: is required when grant is client_credentials (or clientSecretFile)'], 'no method chosen: the secret rule as before')
  t.same(fileProblems({ grant: 'refresh_token', accessToken: 'at', clientAuth: 'none', privateKeyFile: 'rsa.pem' }), [
    'credentials.graph.clientId: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange',
    'credentials.graph.clientAuth: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange',
    'credentials.graph.privateKeyFile: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange'
  ], 'the json style has no client authentication')
})
