// The token exchange grant's settings (RFC 8693), for the environment (TOKEN_GRANT=token_exchange,
// OAUTH_SUBJECT_TOKEN_*) and a credential of TOKENGATE_CONFIG's file: the subject token file is
// required with the grant and refused without it, read at start-up (a JWT for the jwt type,
// non-empty for any other), and no message quotes what it holds.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { missingAuthToken, resolveConfig } from '../../src/config/gatewayConfig.js'
import { parseGatewayFile } from '../../src/config/gatewayFile.js'
import type { EnvConfig } from '../../src/config/schema.js'
import { startupSummary } from '../../src/config/startupSummary.js'
import { JWT_TOKEN_TYPE } from '../../src/grants/tokenExchangeGrant.js'
import { configProblems, validate } from '../helpers/config.js'

const dir = mkdtempSync(join(tmpdir(), 'tokengate-subject-config-'))
const JWT = `${Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url')}.${Buffer.from('{"sub":"system:serviceaccount:apps:gw"}').toString('base64url')}.c2lnbmF0dXJl`
const SUBJECT = join(dir, 'token')
const OPAQUE = join(dir, 'opaque')
const EMPTY = join(dir, 'empty')
writeFileSync(SUBJECT, `${JWT}\n`)
writeFileSync(OPAQUE, 'platform-opaque-secret-value')
writeFileSync(EMPTY, ' \n')
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

function env (variables: Record<string, string>): EnvConfig {
  return validate({ UPSTREAM_URL: 'https://api.example.com/v1', TOKEN_REFRESH_URL: 'https://sts.example.com/token', TOKEN_STORE: 'memory', ...variables })
}

const TX = { TOKEN_GRANT: 'token_exchange', OAUTH_CLIENT_ID: 'gw' }

function envProblems (variables: Record<string, string>): string[] {
  return configProblems(() => resolveConfig(env(variables)))
}

t.test('environment: TOKEN_GRANT=token_exchange with its subject token, a public client, no AUTH_TOKEN', async (t) => {
  const config = resolveConfig(env({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: SUBJECT, OAUTH_AUDIENCE: 'orders', OAUTH_RESOURCE: 'https://a.example.test/,https://b.example.test/' }))
  t.equal(config.tokenGrant, 'token_exchange')
  t.equal(config.refreshStyle, 'token_exchange', 'health reports the grant')
  t.same(config.oauthClient, {
    clientId: 'gw',
    clientSecret: null,
    scope: null,
    audience: ['orders'],
    resource: ['https://a.example.test/', 'https://b.example.test/'],
    subjectToken: { path: SUBJECT, field: 'OAUTH_SUBJECT_TOKEN_FILE', type: JWT_TOKEN_TYPE }
  }, 'the jwt type by default')
  t.equal(missingAuthToken(env({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: SUBJECT })), null, 'the first token comes from the exchange')
  t.same(config.oauthClient!.subjectToken!.path, SUBJECT)

  const opaque = resolveConfig(env({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: OPAQUE, OAUTH_SUBJECT_TOKEN_TYPE: ACCESS_TOKEN_TYPE, OAUTH_CLIENT_AUTH: 'none' }))
  t.same(opaque.oauthClient!.subjectToken, { path: OPAQUE, field: 'OAUTH_SUBJECT_TOKEN_FILE', type: ACCESS_TOKEN_TYPE }, 'any other type needs only a non-empty file')
  t.equal(opaque.oauthClient!.auth!.method, 'none', 'a public client may exchange (unlike client_credentials)')

  const summary = startupSummary(config, true)
  t.equal(summary.fields.grant, 'token_exchange')
  t.match(summary.msg, /with tokens from https:\/\/sts\.example\.com \(grant token_exchange\)/)
  t.notOk(summary.msg.includes(SUBJECT), 'the summary names no file')
})

t.test('environment: the subject token is required with the grant and refused without it', async (t) => {
  t.same(envProblems({ TOKEN_GRANT: 'token_exchange' }), [
    'OAUTH_CLIENT_ID is required when TOKEN_GRANT=token_exchange (the client id the identity provider knows the gateway by)',
    'OAUTH_SUBJECT_TOKEN_FILE is required when TOKEN_GRANT is token_exchange (the file the platform writes the token to)'
  ])
  t.same(envProblems({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: SUBJECT, OAUTH_SUBJECT_TOKEN_TYPE: 'jwt' }), [
    'OAUTH_SUBJECT_TOKEN_TYPE must be a token type URI (RFC 8693 §3), e.g. urn:ietf:params:oauth:token-type:jwt'
  ])
  t.same(envProblems({ TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gw', OAUTH_CLIENT_SECRET: 's', OAUTH_SUBJECT_TOKEN_FILE: SUBJECT, OAUTH_SUBJECT_TOKEN_TYPE: JWT_TOKEN_TYPE }), [
    'OAUTH_SUBJECT_TOKEN_FILE is used only with TOKEN_GRANT token_exchange',
    'OAUTH_SUBJECT_TOKEN_TYPE is used only with TOKEN_GRANT token_exchange'
  ])
  t.same(envProblems({ AUTH_TOKEN: 'at', OAUTH_SUBJECT_TOKEN_FILE: SUBJECT }), ['OAUTH_SUBJECT_TOKEN_FILE is used only with TOKEN_GRANT token_exchange'], 'the json style too')
  t.same(envProblems({ ...TX, OAUTH_CLIENT_AUTH: 'client_secret_basic', OAUTH_SUBJECT_TOKEN_FILE: SUBJECT }), [
    'OAUTH_CLIENT_SECRET is required when OAUTH_CLIENT_AUTH is client_secret_basic'
  ], 'a chosen method keeps its own needs')
  t.throws(() => env({ TOKEN_GRANT: 'token-exchange' }), 'an unknown grant is refused by the schema')
})

t.test('environment: an unreadable, empty or malformed subject token file stops the start, naming the variable and never the content', async (t) => {
  const lines = [
    ...envProblems({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: OPAQUE }),
    ...envProblems({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: EMPTY, OAUTH_SUBJECT_TOKEN_TYPE: ACCESS_TOKEN_TYPE }),
    ...envProblems({ ...TX, OAUTH_SUBJECT_TOKEN_FILE: join(dir, 'missing') })
  ]
  t.same(lines, [
    `OAUTH_SUBJECT_TOKEN_FILE ${OPAQUE} does not hold a JWT (three base64url parts), as OAUTH_SUBJECT_TOKEN_TYPE ${JWT_TOKEN_TYPE} requires`,
    `OAUTH_SUBJECT_TOKEN_FILE ${EMPTY} is empty`,
    `OAUTH_SUBJECT_TOKEN_FILE cannot be read: ${join(dir, 'missing')} (ENOENT)`
  ])
  t.notMatch(lines.join('\n'), /platform-opaque-secret-value/)
})

const FILE = join(dir, 'gateway.yaml')
const DEFAULTS = { expiryBufferMs: 5 * 60_000, refreshIntervalMs: 30 * 60_000, timeoutMs: 30_000, accessTokenMaxBytes: 8192 }

function fileWith (credential: Record<string, unknown>): string {
  return stringify({
    credentials: { k8s: { grant: 'token_exchange', tokenUrl: 'https://sts.example.com/token', clientId: 'gw', ...credential } },
    routes: [{ path: '/orders', upstream: 'https://orders.example.com', credential: 'k8s' }]
  })
}

function fileProblems (credential: Record<string, unknown>): string[] {
  return configProblems(() => parseGatewayFile(fileWith(credential), FILE, {}, DEFAULTS))
}

t.test('file: grant token_exchange with subjectTokenFile (relative to the file\'s folder) and subjectTokenType', async (t) => {
  const definition = parseGatewayFile(fileWith({ subjectTokenFile: 'token', audience: 'orders', resource: ['https://a.example.test/', 'https://b.example.test/'] }), FILE, {}, DEFAULTS)
  const [credential] = definition.credentials
  t.equal(credential.tokenGrant, 'token_exchange')
  t.equal(credential.refreshStyle, 'token_exchange')
  t.equal(credential.accessToken, null, 'no accessToken needed')
  t.same(credential.oauthClient!.subjectToken, { path: SUBJECT, field: 'credentials.k8s.subjectTokenFile', type: JWT_TOKEN_TYPE })
  t.same(credential.oauthClient!.resource, ['https://a.example.test/', 'https://b.example.test/'])
  const typed = parseGatewayFile(fileWith({ subjectTokenFile: OPAQUE, subjectTokenType: ACCESS_TOKEN_TYPE, clientAuth: 'none' }), FILE, {}, DEFAULTS)
  t.equal(typed.credentials[0].oauthClient!.subjectToken!.type, ACCESS_TOKEN_TYPE)
})

t.test('file: what token_exchange needs and forbids, each problem at its place', async (t) => {
  t.same(fileProblems({}), ['credentials.k8s.subjectTokenFile: is required when grant is token_exchange (the file the platform writes the token to)'])
  t.same(fileProblems({ subjectTokenFile: 'token', refreshStyle: 'oauth2', refreshToken: 'rt' }), [
    'credentials.k8s.refreshStyle: applies to grant refresh_token only (token_exchange has one exchange of its own)',
    'credentials.k8s.refreshToken: applies to grant refresh_token only (token_exchange needs no refresh token)'
  ])
  t.same(fileProblems({ subjectTokenFile: 'opaque', subjectTokenType: 'not a uri' }), [
    'credentials.k8s.subjectTokenType: must be a token type URI (RFC 8693 §3), e.g. urn:ietf:params:oauth:token-type:jwt'
  ], 'a type that is not the jwt type asks only for a non-empty file')
  t.same(fileProblems({ subjectTokenFile: 'opaque' }), [
    `credentials.k8s.subjectTokenFile: ${OPAQUE} does not hold a JWT (three base64url parts), as subjectTokenType ${JWT_TOKEN_TYPE} requires`
  ])
  t.same(fileProblems({ subjectTokenFile: 42 }), ['credentials.k8s.subjectTokenFile: must be a string'], 'an unusable value is reported once')
  t.same(fileProblems({ subjectTokenFile: 'token', subjectTokenType: 7 }), ['credentials.k8s.subjectTokenType: must be a string'])
  t.same(fileProblems({ grant: 'client_credentials', clientSecret: 's', subjectTokenFile: 'token', subjectTokenType: JWT_TOKEN_TYPE }), [
    'credentials.k8s.subjectTokenFile: is used only with grant token_exchange',
    'credentials.k8s.subjectTokenType: is used only with grant token_exchange'
  ])
  t.same(fileProblems({ grant: 'refresh_token', clientId: undefined, accessToken: 'at', subjectTokenFile: 'token' }), [
    'credentials.k8s.subjectTokenFile: is used only with grant token_exchange'
  ], 'the json style too')
  t.same(fileProblems({ clientId: undefined, subjectTokenFile: 'token' }), ['credentials.k8s.clientId: is required when grant is token_exchange'])
})
