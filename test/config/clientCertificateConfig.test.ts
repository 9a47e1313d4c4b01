// Client certificates for mutual TLS in the configuration: tls_client_auth (OAUTH_CLIENT_CERT_FILE,
// OAUTH_CLIENT_KEY_FILE; a credential's clientCertFile, clientKeyFile) and the upstream's
// (UPSTREAM_CLIENT_CERT_FILE, UPSTREAM_CLIENT_KEY_FILE; a route's clientCertFile, clientKeyFile).
// Both files are read at start-up: a missing, malformed or mismatched one is a problem naming the
// variable or the place, and no message quotes what a file holds.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { resolveConfig, resolveGateway } from '../../src/config/gatewayConfig.js'
import { parseGatewayFile } from '../../src/config/gatewayFile.js'
import type { EnvConfig } from '../../src/config/schema.js'
import { configProblems, validate } from '../helpers/config.js'
import { makeTestCa } from '../helpers/testCa.js'

const ca = await makeTestCa('tokengate-cert-config-')
const dir = ca.dir
const client = await ca.client('client', 'gateway')
const other = await ca.client('other', 'someone else')
const GARBLED = join(dir, 'garbled.pem')
const FAKE_CERT = join(dir, 'fake-cert.pem')
const EMPTY = join(dir, 'empty.pem')
const MISSING = join(dir, 'missing.pem')
writeFileSync(GARBLED, 'top-secret-garbage')
writeFileSync(FAKE_CERT, '-----BEGIN CERTIFICATE-----\nnotbase64secret\n-----END CERTIFICATE-----\n')
writeFileSync(EMPTY, '\n')

function env (variables: Record<string, string>): EnvConfig {
  return validate({ UPSTREAM_URL: 'https://api.example.com/v1', TOKEN_REFRESH_URL: 'https://idp.example.com/token', TOKEN_STORE: 'memory', ...variables })
}

const MTLS = { TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gw', OAUTH_CLIENT_AUTH: 'tls_client_auth' }

function envProblems (variables: Record<string, string>): string[] {
  return configProblems(() => resolveConfig(env(variables)))
}

t.test('environment: tls_client_auth with a certificate and its key', async (t) => {
  const config = resolveConfig(env({ ...MTLS, OAUTH_CLIENT_CERT_FILE: client.certFile, OAUTH_CLIENT_KEY_FILE: client.keyFile }))
  t.same(config.oauthClient, {
    clientId: 'gw',
    clientSecret: null,
    scope: null,
    auth: {
      method: 'tls_client_auth',
      privateKey: null,
      assertionFile: null,
      clientCertificate: { certFile: client.certFile, certField: 'OAUTH_CLIENT_CERT_FILE', keyFile: client.keyFile, keyField: 'OAUTH_CLIENT_KEY_FILE' }
    }
  })
})

t.test('environment: what tls_client_auth needs and forbids; files unreadable, malformed or not a pair', async (t) => {
  const lines = [
    ...envProblems({ ...MTLS, OAUTH_CLIENT_CERT_FILE: client.certFile }),
    ...envProblems({ ...MTLS, OAUTH_CLIENT_SECRET: 'hush', TOKEN_REFRESH_URL: 'http://idp.example.com/token' }),
    ...envProblems({ ...MTLS, OAUTH_CLIENT_CERT_FILE: GARBLED, OAUTH_CLIENT_KEY_FILE: GARBLED }),
    ...envProblems({ ...MTLS, OAUTH_CLIENT_CERT_FILE: FAKE_CERT, OAUTH_CLIENT_KEY_FILE: EMPTY }),
    ...envProblems({ ...MTLS, OAUTH_CLIENT_CERT_FILE: MISSING, OAUTH_CLIENT_KEY_FILE: client.keyFile }),
    ...envProblems({ ...MTLS, OAUTH_CLIENT_CERT_FILE: client.certFile, OAUTH_CLIENT_KEY_FILE: other.keyFile }),
    ...envProblems({ TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gw', OAUTH_CLIENT_SECRET: 's', OAUTH_CLIENT_CERT_FILE: client.certFile, OAUTH_CLIENT_KEY_FILE: client.keyFile }),
    ...envProblems({ AUTH_TOKEN: 'at', OAUTH_CLIENT_CERT_FILE: client.certFile })
  ]
  t.same(lines, [
    'OAUTH_CLIENT_KEY_FILE is required when OAUTH_CLIENT_AUTH is tls_client_auth',
    'OAUTH_CLIENT_SECRET must not be set when OAUTH_CLIENT_AUTH is tls_client_auth (the secret would never be sent)',
    'TOKEN_REFRESH_URL must be an https URL when OAUTH_CLIENT_AUTH is tls_client_auth (the client certificate is presented in the TLS handshake)',
    'OAUTH_CLIENT_CERT_FILE is required when OAUTH_CLIENT_AUTH is tls_client_auth',
    'OAUTH_CLIENT_KEY_FILE is required when OAUTH_CLIENT_AUTH is tls_client_auth',
    `OAUTH_CLIENT_CERT_FILE ${GARBLED} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`,
    `OAUTH_CLIENT_KEY_FILE ${GARBLED} is not a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted)`,
    `OAUTH_CLIENT_CERT_FILE ${FAKE_CERT} is not a PEM certificate (it does not parse)`,
    `OAUTH_CLIENT_KEY_FILE ${EMPTY} is empty`,
    `OAUTH_CLIENT_CERT_FILE cannot be read: ${MISSING} (ENOENT)`,
    `OAUTH_CLIENT_KEY_FILE ${other.keyFile} does not hold the private key of the certificate in OAUTH_CLIENT_CERT_FILE`,
    'OAUTH_CLIENT_CERT_FILE is used only with OAUTH_CLIENT_AUTH tls_client_auth',
    'OAUTH_CLIENT_KEY_FILE is used only with OAUTH_CLIENT_AUTH tls_client_auth',
    'OAUTH_CLIENT_CERT_FILE is used only with TOKEN_REFRESH_STYLE=oauth2 or TOKEN_GRANT=client_credentials or token_exchange'
  ])
  t.notMatch(lines.join('\n'), /garbage|notbase64secret|PRIVATE KEY-/)
})

t.test('environment: UPSTREAM_CLIENT_CERT_FILE and UPSTREAM_CLIENT_KEY_FILE, both or neither, for the single route', async (t) => {
  const { config, definition } = resolveGateway(env({ AUTH_TOKEN: 'at', UPSTREAM_CLIENT_CERT_FILE: client.certFile, UPSTREAM_CLIENT_KEY_FILE: client.keyFile }), {})
  const expected = { certFile: client.certFile, keyFile: client.keyFile, certField: 'UPSTREAM_CLIENT_CERT_FILE', keyField: 'UPSTREAM_CLIENT_KEY_FILE' }
  t.same(config.upstreamClientCertificate, expected)
  t.same(definition.routes[0].clientCertificate, expected)
  const plain = resolveGateway(env({ AUTH_TOKEN: 'at' }), {})
  t.equal(plain.config.upstreamClientCertificate, null)
  t.notOk('clientCertificate' in plain.definition.routes[0])

  t.same([
    ...envProblems({ AUTH_TOKEN: 'at', UPSTREAM_CLIENT_CERT_FILE: client.certFile }),
    ...envProblems({ AUTH_TOKEN: 'at', UPSTREAM_CLIENT_KEY_FILE: client.keyFile }),
    ...envProblems({ AUTH_TOKEN: 'at', UPSTREAM_CLIENT_CERT_FILE: other.certFile, UPSTREAM_CLIENT_KEY_FILE: client.keyFile }),
    ...envProblems({ AUTH_TOKEN: 'at', UPSTREAM_CLIENT_CERT_FILE: GARBLED, UPSTREAM_CLIENT_KEY_FILE: MISSING }),
    ...envProblems({ AUTH_TOKEN: 'at', UPSTREAM_URL: 'http://api.example.com', UPSTREAM_CLIENT_CERT_FILE: client.certFile, UPSTREAM_CLIENT_KEY_FILE: client.keyFile })
  ], [
    'UPSTREAM_CLIENT_CERT_FILE needs UPSTREAM_CLIENT_KEY_FILE beside it (a client certificate needs both files)',
    'UPSTREAM_CLIENT_KEY_FILE needs UPSTREAM_CLIENT_CERT_FILE beside it (a client certificate needs both files)',
    `UPSTREAM_CLIENT_KEY_FILE ${client.keyFile} does not hold the private key of the certificate in UPSTREAM_CLIENT_CERT_FILE`,
    `UPSTREAM_CLIENT_CERT_FILE ${GARBLED} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`,
    `UPSTREAM_CLIENT_KEY_FILE cannot be read: ${MISSING} (ENOENT)`,
    'UPSTREAM_URL must be an https URL when UPSTREAM_CLIENT_CERT_FILE is set (the client certificate is presented in the TLS handshake)'
  ])

  const file = join(dir, 'routes.yaml')
  writeFileSync(file, stringify({ credentials: { api: { tokenUrl: 'https://idp.example.com/refresh', accessToken: 'at' } }, routes: [{ path: '/', upstream: 'https://api.example.com', credential: 'api' }] }))
  t.same(envProblems({ UPSTREAM_URL: '', TOKENGATE_CONFIG: file, UPSTREAM_CLIENT_CERT_FILE: client.certFile, UPSTREAM_CLIENT_KEY_FILE: client.keyFile }), [
    'UPSTREAM_CLIENT_CERT_FILE must not be set together with TOKENGATE_CONFIG: a route of the file names its own clientCertFile and clientKeyFile',
    'UPSTREAM_CLIENT_KEY_FILE must not be set together with TOKENGATE_CONFIG: a route of the file names its own clientCertFile and clientKeyFile'
  ])
})

const FILE = join(dir, 'gateway.yaml')
const DEFAULTS = { expiryBufferMs: 5 * 60_000, refreshIntervalMs: 30 * 60_000, timeoutMs: 30_000, accessTokenMaxBytes: 8192 }

function fileWith (credential: Record<string, unknown>, route: Record<string, unknown> = {}): string {
  return stringify({
    credentials: { graph: { grant: 'client_credentials', tokenUrl: 'https://login.example.com/token', clientId: 'gw', ...credential } },
    routes: [{ path: '/graph', upstream: 'https://graph.example.com', credential: 'graph', ...route }]
  })
}

function fileProblems (credential: Record<string, unknown>, route?: Record<string, unknown>): string[] {
  return configProblems(() => parseGatewayFile(fileWith(credential, route), FILE, {}, DEFAULTS))
}

t.test('file: a credential with tls_client_auth, relative paths from the file\'s folder, errors naming the place', async (t) => {
  const definition = parseGatewayFile(fileWith({ clientAuth: 'tls_client_auth', clientCertFile: 'client.pem', clientKeyFile: 'client-key.pem' }), FILE, {}, DEFAULTS)
  t.same(definition.credentials[0].oauthClient!.auth!.clientCertificate, {
    certFile: client.certFile, certField: 'credentials.graph.clientCertFile', keyFile: client.keyFile, keyField: 'credentials.graph.clientKeyFile'
  })
  const lines = [
    ...fileProblems({ clientAuth: 'tls_client_auth', tokenUrl: 'http://login.example.com/token', clientCertFile: 'client.pem', clientKeyFile: 'other-key.pem' }),
    ...fileProblems({ clientAuth: 'tls_client_auth', clientCertFile: 42 }),
    ...fileProblems({ clientSecret: 's', clientKeyFile: 'client-key.pem' })
  ]
  t.same(lines, [
    'credentials.graph.tokenUrl: must be an https URL when clientAuth is tls_client_auth (the client certificate is presented in the TLS handshake)',
    `credentials.graph.clientKeyFile: ${other.keyFile} does not hold the private key of the certificate in clientCertFile`,
    'credentials.graph.clientCertFile: must be a string',
    'credentials.graph.clientKeyFile: is used only with clientAuth tls_client_auth'
  ])
})

t.test('file: a route\'s clientCertFile and clientKeyFile, both or neither', async (t) => {
  const definition = parseGatewayFile(fileWith({ clientSecret: 's' }, { clientCertFile: 'client.pem', clientKeyFile: client.keyFile }), FILE, {}, DEFAULTS)
  t.same(definition.routes[0].clientCertificate, {
    certFile: client.certFile, keyFile: client.keyFile, certField: 'routes[0].clientCertFile', keyField: 'routes[0].clientKeyFile'
  })
  const plain = parseGatewayFile(fileWith({ clientSecret: 's' }), FILE, {}, DEFAULTS)
  t.notOk('clientCertificate' in plain.routes[0])
  const lines = [
    ...fileProblems({ clientSecret: 's' }, { clientCertFile: 'client.pem' }),
    ...fileProblems({ clientSecret: 's' }, { clientKeyFile: 'client-key.pem' }),
    ...fileProblems({ clientSecret: 's' }, { clientCertFile: ['client.pem'], clientKeyFile: 'client-key.pem' }),
    ...fileProblems({ clientSecret: 's' }, { clientCertFile: 'client-key.pem', clientKeyFile: 'garbled.pem' }),
    ...fileProblems({ clientSecret: 's' }, { clientCertFile: 'other.pem', clientKeyFile: 'client-key.pem' }),
    ...fileProblems({ clientSecret: 's' }, { upstream: 'http://graph.example.com', clientCertFile: 'client.pem', clientKeyFile: 'client-key.pem' }),
    ...fileProblems({ clientSecret: 's' }, { upstream: 'ftp://graph.example.com', clientCertFile: 'client.pem', clientKeyFile: 'client-key.pem' })
  ]
  t.same(lines, [
    'routes[0].clientKeyFile: is required when clientCertFile is set (a client certificate needs both files)',
    'routes[0].clientCertFile: is required when clientKeyFile is set (a client certificate needs both files)',
    'routes[0].clientCertFile: must be a string',
    `routes[0].clientCertFile: ${client.keyFile} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`,
    `routes[0].clientKeyFile: ${GARBLED} is not a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted)`,
    `routes[0].clientKeyFile: ${client.keyFile} does not hold the private key of the certificate in routes[0].clientCertFile`,
    'routes[0].upstream: must be an https URL when clientCertFile is set (the client certificate is presented in the TLS handshake)',
    'routes[0].upstream: must be an https or http URL'
  ])
  t.notMatch(lines.join('\n'), /garbage|PRIVATE KEY-/)
})
