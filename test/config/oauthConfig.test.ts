// The configuration of the OAuth 2.0 styles, gateway keys and the upstream CA: every bad value is
// one problem naming its variable, and no problem quotes a secret.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { resolveConfig } from '../../src/config/gatewayConfig.js'
import type { EnvConfig } from '../../src/config/schema.js'
import { ConfigError } from '../../src/errors.js'
import { buildApp } from '../../src/app.js'
import { validate } from '../helpers/config.js'
import { makeCertificate } from '../helpers/tls.js'

function env (overrides: Partial<EnvConfig> = {}): EnvConfig {
  return { ...validate({ UPSTREAM_URL: 'https://api.example.com/v1', TOKEN_REFRESH_URL: 'https://idp.example.com/oauth/token', TOKEN_STORE: 'memory' }), ...overrides }
}

async function startupProblems (environment: Record<string, string>): Promise<Array<{ variable: string, message: string }>> {
  try {
    await buildApp({ env: { LOG_LEVEL: 'silent', ...environment } })
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('the gateway started')
}

function problems (overrides: Partial<EnvConfig>): string[] {
  try {
    resolveConfig(env(overrides))
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable} ${p.message}`)
    throw err
  }
  return []
}

t.test('the json style needs no client; by default no keys are required and no CA added', async (t) => {
  const config = resolveConfig(env({ OAUTH_CLIENT_ID: 'ignored' }))
  t.equal(config.refreshStyle, 'json')
  t.equal(config.tokenGrant, 'refresh_token')
  t.equal(config.oauthClient, null)
  t.same(config.apiKeys, [])
  t.equal(config.upstreamCa, null)
})

t.test('oauth2: client id required, secret optional (a public client), scope normalised', async (t) => {
  t.same(problems({ TOKEN_REFRESH_STYLE: 'oauth2' }), [
    'OAUTH_CLIENT_ID is required when TOKEN_REFRESH_STYLE=oauth2 (the client id the identity provider knows the gateway by)'
  ])
  const confidential = resolveConfig(env({
    TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: ' gw ', OAUTH_CLIENT_SECRET: 'sec', OAUTH_SCOPE: '  api:read   offline_access '
  }))
  t.equal(confidential.refreshStyle, 'oauth2')
  t.same(confidential.oauthClient, { clientId: 'gw', clientSecret: 'sec', scope: 'api:read offline_access' })
  const publicClient = resolveConfig(env({ TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: 'spa', OAUTH_SCOPE: '' }))
  t.same(publicClient.oauthClient, { clientId: 'spa', clientSecret: null, scope: null })
})

t.test('client_credentials: selects the OAuth exchange by itself and needs id and secret', async (t) => {
  t.same(problems({ TOKEN_GRANT: 'client_credentials' }), [
    'OAUTH_CLIENT_ID is required when TOKEN_GRANT=client_credentials (the client id the identity provider knows the gateway by)',
    'OAUTH_CLIENT_SECRET is required when TOKEN_GRANT=client_credentials (the client secret, sent by HTTP Basic authentication)'
  ])
  const config = resolveConfig(env({ TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'svc', OAUTH_CLIENT_SECRET: 'sec' }))
  t.equal(config.refreshStyle, 'client_credentials', 'TOKEN_REFRESH_STYLE=json (the default) does not matter')
  t.equal(config.tokenGrant, 'client_credentials')
})

t.test('OAUTH_SCOPE must be RFC 6749 scope tokens', async (t) => {
  t.same(problems({ TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: 'gw', OAUTH_SCOPE: 'api:read "quoted"' }), [
    'OAUTH_SCOPE must be scope tokens separated by spaces (RFC 6749 §3.3: no quotes or backslashes)'
  ])
})

t.test('GATEWAY_API_KEYS: comma-separated, trimmed, each usable in a header', async (t) => {
  t.same(resolveConfig(env({ GATEWAY_API_KEYS: ' key-one , key-two,,' })).apiKeys, ['key-one', 'key-two'])
  t.same(resolveConfig(env({ GATEWAY_API_KEYS: '  ' })).apiKeys, [], 'blank means unset')
  t.same(problems({ GATEWAY_API_KEYS: ' , ,' }), ['GATEWAY_API_KEYS must list at least one key (comma-separated)'])
  const [line] = problems({ GATEWAY_API_KEYS: 'good-key,bad key with spaces' })
  t.equal(line, 'GATEWAY_API_KEYS must hold keys of visible ASCII characters without spaces, separated by commas')
  t.notMatch(line, /bad key/, 'the keys are not quoted')
})

t.test('UPSTREAM_CA_FILE: read at start-up, must be a certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-ca-'))
  const { certFile, certPem, keyFile } = await makeCertificate(dir)
  t.equal(resolveConfig(env({ UPSTREAM_CA_FILE: certFile })).upstreamCa, certPem)
  t.same(problems({ UPSTREAM_CA_FILE: join(dir, 'missing.pem') }), ['UPSTREAM_CA_FILE cannot be read (ENOENT)'])
  t.same(problems({ UPSTREAM_CA_FILE: keyFile }), ['UPSTREAM_CA_FILE must be a PEM file holding at least one CERTIFICATE'], 'a key is not a CA')
  const text = join(dir, 'notes.txt')
  writeFileSync(text, 'just some text')
  t.same(problems({ UPSTREAM_CA_FILE: text }), ['UPSTREAM_CA_FILE must be a PEM file holding at least one CERTIFICATE'])
})

t.test('the schema refuses unknown styles and grants, naming the variable', async (t) => {
  t.same(await startupProblems({ UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', TOKEN_GRANT: 'password', TOKEN_REFRESH_STYLE: 'xml' }), [
    { variable: 'TOKEN_REFRESH_STYLE', message: 'must be one of: json, oauth2' },
    { variable: 'TOKEN_GRANT', message: 'must be one of: refresh_token, client_credentials, token_exchange' }
  ])
})

t.test('AUTH_TOKEN stays required for the refresh_token grant, also with oauth2', async (t) => {
  const [problem] = await startupProblems({ UPSTREAM_URL: 'http://127.0.0.1:9', TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: 'gw', REFRESH_TOKEN: 'rt' })
  t.equal(problem.variable, 'AUTH_TOKEN')
})
