// TOKENGATE_CONFIG's file, from text to a GatewayDefinition: YAML and JSON, every problem by its
// exact place and message, several at once, `${VAR}`, `*File` twins read from real files, and no
// secret in any message.
/* eslint-disable no-template-curly-in-string -- the file's own `${VAR}` syntax is under test */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { SECRET_FILE_MAX_BYTES } from '../../src/config/fileCredential.js'
import { normaliseRoutePath } from '../../src/config/fileRoute.js'
import { CONFIG_FILE_MAX_BYTES, loadGatewayFile, parseGatewayFile, type GatewayFileDefaults } from '../../src/config/gatewayFile.js'
import { ConfigError, formatConfigProblem } from '../../src/errors.js'

const DEFAULTS: GatewayFileDefaults = { expiryBufferMs: 5 * 60_000, refreshIntervalMs: 30 * 60_000, timeoutMs: 30_000, accessTokenMaxBytes: 8192 }
// Never read: a file's path names it in problems and anchors its relative `*File` paths.
const FILE = '/etc/tokengate/gateway.yaml'

type Config = Record<string, any>

function folder (): string {
  return mkdtempSync(join(tmpdir(), 'tokengate-config-file-'))
}

/** A valid file with one credential and one route, to be spoilt one field at a time. */
function base (): Config {
  return {
    credentials: {
      chat: { tokenUrl: 'https://auth.example.com/v2/refresh-session', accessToken: 'at-chat', refreshToken: 'rt-chat' }
    },
    routes: [{ path: '/chat', upstream: 'https://api.example.com/v1', credential: 'chat' }]
  }
}

function configError (text: string, variables: Record<string, string | undefined> = {}, path = FILE): ConfigError {
  try {
    parseGatewayFile(text, path, variables, DEFAULTS)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

/** The lines start-up would print for the file (YAML unless given as text). */
function problems (config: Config | string, variables: Record<string, string | undefined> = {}, path = FILE): string[] {
  const err = configError(typeof config === 'string' ? config : stringify(config), variables, path)
  t.ok(err.problems.every((problem) => problem.variable === 'TOKENGATE_CONFIG'), 'every problem is the file\'s')
  return err.problems.map(formatConfigProblem)
}

function withCredential (fields: Config, name = 'chat'): Config {
  const config = base()
  config.credentials = { [name]: fields }
  config.routes[0].credential = name
  return config
}

function withRoute (fields: Config): Config {
  const config = base()
  config.routes = [fields]
  return config
}

const ROUTE = { path: '/chat', upstream: 'https://api.example.com/v1', credential: 'chat' }
const TOKEN_URL = 'https://auth.example.com/oauth2/token'

t.test('a minimal YAML file: one credential, one route, the defaults filled in', async (t) => {
  const text = [
    'credentials:',
    '  chat:',
    '    tokenUrl: https://auth.example.com/v2/refresh-session',
    '    accessToken: at-chat',
    '    refreshToken: rt-chat',
    'routes:',
    '  - path: /chat',
    '    upstream: https://api.example.com/v1',
    '    credential: chat',
    ''
  ].join('\n')
  const definition = parseGatewayFile(text, 'relative/gateway.yaml', {}, DEFAULTS)
  t.same(definition, {
    file: join(process.cwd(), 'relative/gateway.yaml'),
    credentials: [{
      name: 'chat',
      tokenGrant: 'refresh_token',
      refreshStyle: 'json',
      refreshUrl: 'https://auth.example.com/v2/refresh-session',
      accessToken: 'at-chat',
      refreshToken: 'rt-chat',
      oauthClient: null,
      expiryBufferMs: 5 * 60_000,
      refreshIntervalMs: 30 * 60_000,
      files: {}
    }],
    routes: [{ path: '/chat', upstream: new URL('https://api.example.com/v1'), credential: 'chat', timeoutMs: 30_000 }]
  })
  t.ok(definition.routes[0].upstream instanceof URL)
})

t.test('JSON is read by the same parser, to the same definition', async (t) => {
  const json = JSON.stringify(base(), null, 2)
  t.same(parseGatewayFile(json, FILE, {}, DEFAULTS), parseGatewayFile(stringify(base()), FILE, {}, DEFAULTS))
  t.equal(parseGatewayFile(JSON.stringify(base()), FILE, {}, DEFAULTS).credentials[0].accessToken, 'at-chat', 'one line of JSON too')
})

t.test('every field of both grants, as in the documentation', async (t) => {
  const dir = folder()
  writeFileSync(join(dir, 'graph-secret'), '\n  graph-secret-value \n\n')
  const text = [
    'credentials:',
    '  chat:',
    '    grant: refresh_token',
    '    refreshStyle: oauth2',
    '    tokenUrl: https://auth.example.com/oauth/token?tenant=a',
    '    accessToken: ${CHAT_AUTH_TOKEN}',
    '    refreshToken: ${CHAT_REFRESH_TOKEN}',
    '    clientId: tokengate',
    '    scope: "  api:read   api:write "',
    '    expiryBuffer: 0.5',
    '    refreshInterval: 10',
    '  graph:',
    '    grant: client_credentials',
    '    tokenUrl: https://login.example.com/oauth2/token',
    '    clientId: gateway',
    '    clientSecretFile: graph-secret',
    '    scope: api.read',
    '    expiryBuffer: 0',
    'routes:',
    '  - path: /chat/',
    '    upstream: https://api.example.com/v1',
    '    credential: chat',
    '  - path: /graph',
    '    upstream: https://graph.example.com/v1.0',
    '    credential: graph',
    '    timeout: 60000',
    '  - path: /',
    '    upstream: http://127.0.0.1:8080',
    '    credential: chat',
    ''
  ].join('\n')
  const definition = parseGatewayFile(text, join(dir, 'gateway.yaml'), { CHAT_AUTH_TOKEN: 'at-from-env', CHAT_REFRESH_TOKEN: 'rt-from-env' }, DEFAULTS)
  t.equal(definition.file, join(dir, 'gateway.yaml'))
  t.same(definition.credentials, [{
    name: 'chat',
    tokenGrant: 'refresh_token',
    refreshStyle: 'oauth2',
    refreshUrl: 'https://auth.example.com/oauth/token?tenant=a',
    accessToken: 'at-from-env',
    refreshToken: 'rt-from-env',
    oauthClient: { clientId: 'tokengate', clientSecret: null, scope: 'api:read api:write' },
    expiryBufferMs: 30_000,
    refreshIntervalMs: 10 * 60_000,
    files: {}
  }, {
    name: 'graph',
    tokenGrant: 'client_credentials',
    refreshStyle: 'client_credentials',
    refreshUrl: 'https://login.example.com/oauth2/token',
    accessToken: null,
    refreshToken: null,
    oauthClient: { clientId: 'gateway', clientSecret: 'graph-secret-value', scope: 'api.read' },
    expiryBufferMs: 0,
    refreshIntervalMs: 30 * 60_000,
    files: { clientSecret: join(dir, 'graph-secret') }
  }], 'the secret file is read from the file\'s folder, trimmed, and its absolute path recorded')
  t.same(definition.routes.map((route) => [route.path, route.upstream.href, route.credential, route.timeoutMs]), [
    ['/chat', 'https://api.example.com/v1', 'chat', 30_000],
    ['/graph', 'https://graph.example.com/v1.0', 'graph', 60_000],
    ['/', 'http://127.0.0.1:8080/', 'chat', 30_000]
  ], 'in the file\'s order; a trailing slash dropped')
})

t.test('a refresh_token credential without an access token is taken (the token store may hold one)', async (t) => {
  const definition = parseGatewayFile(stringify(withCredential({ tokenUrl: TOKEN_URL, refreshToken: 'rt' })), FILE, {}, DEFAULTS)
  t.equal(definition.credentials[0].accessToken, null)
  t.equal(definition.credentials[0].refreshToken, 'rt')
})

t.test('a credential no route uses is taken, and reported nowhere', async (t) => {
  const config = base()
  config.credentials.spare = { tokenUrl: TOKEN_URL }
  t.same(parseGatewayFile(stringify(config), FILE, {}, DEFAULTS).credentials.map((c) => c.name), ['chat', 'spare'])
})

t.test('numbers may come as text, from a variable: minutes and milliseconds', async (t) => {
  const config = withCredential({ tokenUrl: TOKEN_URL, expiryBuffer: '${BUFFER}', refreshInterval: ' 2.5 ' })
  config.routes[0].timeout = '${ROUTE_TIMEOUT}'
  const definition = parseGatewayFile(stringify(config), FILE, { BUFFER: '1e0', ROUTE_TIMEOUT: '1500' }, DEFAULTS)
  t.equal(definition.credentials[0].expiryBufferMs, 60_000)
  t.equal(definition.credentials[0].refreshIntervalMs, 150_000)
  t.equal(definition.routes[0].timeoutMs, 1500)
  const blank = parseGatewayFile(stringify(config), FILE, { BUFFER: '', ROUTE_TIMEOUT: ' ' }, DEFAULTS)
  t.equal(blank.credentials[0].expiryBufferMs, DEFAULTS.expiryBufferMs, 'a blank variable leaves the default')
  t.equal(blank.routes[0].timeoutMs, DEFAULTS.timeoutMs)
})

t.test('limits at their edges are taken', async (t) => {
  const config = withCredential({ tokenUrl: TOKEN_URL, accessToken: 'a'.repeat(8192), expiryBuffer: 35_791, refreshInterval: 35_791 })
  config.routes[0].timeout = 2_147_483_647
  const definition = parseGatewayFile(stringify(config), FILE, {}, DEFAULTS)
  t.equal(definition.credentials[0].accessToken?.length, 8192, 'an access token of ACCESS_TOKEN_MAX_SIZE bytes')
  t.equal(definition.credentials[0].refreshIntervalMs, 35_791 * 60_000)
  t.equal(definition.routes[0].timeoutMs, 2_147_483_647)
})

t.test('route paths are normalised once: a trailing slash dropped, the root kept', async (t) => {
  for (const [text, path] of [['/', '/'], ['/chat', '/chat'], ['/chat/', '/chat'], ['/a/b/', '/a/b'], ['/v1.0', '/v1.0'], ['/caf%C3%A9', '/caf%C3%A9'], ['/a:b@c', '/a:b@c'], ['/...', '/...']]) {
    t.same(normaliseRoutePath(text), { path }, text)
  }
  const refused: Array<[string, string]> = [
    ['chat', 'must start with \'/\''],
    ['', 'must start with \'/\''],
    ['/chat?x=1', 'must not have a query string or a fragment'],
    ['/chat#top', 'must not have a query string or a fragment'],
    ['//', 'must not have empty, \'.\' or \'..\' segments'],
    ['/a//b', 'must not have empty, \'.\' or \'..\' segments'],
    ['/a/../b', 'must not have empty, \'.\' or \'..\' segments'],
    ['/a/./b', 'must not have empty, \'.\' or \'..\' segments'],
    ['/..', 'must not have empty, \'.\' or \'..\' segments'],
    ['/a/%2e%2E/b', 'must not have empty, \'.\' or \'..\' segments'],
    ['/a/%2e', 'must not have empty, \'.\' or \'..\' segments'],
    ['/a b', 'must be a URL path: letters, digits, -._~!$&\'()*+,;=:@ and %XX escapes between the slashes'],
    ['/a%zz', 'must be a URL path: letters, digits, -._~!$&\'()*+,;=:@ and %XX escapes between the slashes'],
    ['/a\\b', 'must be a URL path: letters, digits, -._~!$&\'()*+,;=:@ and %XX escapes between the slashes']
  ]
  const own = 'must not be one of the gateway\'s own paths (/admin and under it, /health/token, /health/live, /metrics): they are never proxied'
  for (const text of ['/admin', '/Admin/x', '/%61dmin', '/health/token', '/health/token/chat', '/health/live', '/metrics/']) {
    t.same(normaliseRoutePath(text), { problem: own }, text)
  }
  for (const text of ['/health', '/health/other', '/healthz', '/metrics/v2', '/administration']) t.same(normaliseRoutePath(text), { path: text }, `${text}: proxied`)
  for (const [text, problem] of refused) t.same(normaliseRoutePath(text), { problem }, JSON.stringify(text))
})

t.test('paths are unique once normalised', async (t) => {
  const config = base()
  config.routes = [ROUTE, { ...ROUTE, path: '/other' }, { ...ROUTE, path: '/chat/' }, { ...ROUTE, path: '/chat', credential: 'nope' }]
  t.same(problems(config), [
    'routes[2].path: is the same as routes[0].path ("/chat"): one route per path',
    'routes[3].credential: unknown credential "nope"',
    'routes[3].path: is the same as routes[0].path ("/chat"): one route per path'
  ], 'a route with another problem is still checked for a duplicate path')
})

t.test('each problem of the top level, by its place', async (t) => {
  const cases: Array<[string, Config | string, string[]]> = [
    ['an empty file', '', [`${FILE}: must be a mapping with credentials and routes`]],
    ['a list', '- a\n- b\n', [`${FILE}: must be a mapping with credentials and routes`]],
    ['a scalar', '"just text"', [`${FILE}: must be a mapping with credentials and routes`]],
    ['a misspelt key', { ...base(), credentails: {} }, ['credentails: is not a known field (expected one of: credentials, routes)']],
    ['no credentials', { routes: base().routes }, ['credentials: is required: a mapping of names to credentials', 'routes[0].credential: unknown credential "chat"']],
    ['credentials as a list', { ...base(), credentials: [{ tokenUrl: TOKEN_URL }] }, ['credentials: must be a mapping of names to credentials', 'routes[0].credential: unknown credential "chat"']],
    ['no routes', { credentials: base().credentials }, ['routes: is required: a list of routes (path, upstream, credential)']],
    ['empty routes', { credentials: base().credentials, routes: null }, ['routes: is required: a list of routes (path, upstream, credential)']],
    ['routes as a mapping', { ...base(), routes: { chat: ROUTE } }, ['routes: must be a list of routes (path, upstream, credential)']],
    ['no route at all', { ...base(), routes: [] }, ['routes: must hold at least one route']]
  ]
  for (const [name, config, lines] of cases) t.same(problems(config), lines, name)
})

t.test('each problem of a credential, by its place', async (t) => {
  const cases: Array<[string, Config, string[]]> = [
    ['an upper-case name', withCredential({ tokenUrl: TOKEN_URL }, 'Chat'), ['credentials.Chat: is not a credential name: lower-case letters, digits and \'-\', 1 to 40 characters']],
    // The route naming it is not told the credential is unknown as well.
    ['a name with a space, quoted in its place', withCredential({ tokenUrl: TOKEN_URL }, 'chat tokens'), [
      'credentials["chat tokens"]: is not a credential name: lower-case letters, digits and \'-\', 1 to 40 characters'
    ]],
    ['a name of 41 characters', withCredential({ tokenUrl: TOKEN_URL }, 'a'.repeat(41)), [
      `credentials.${'a'.repeat(41)}: is not a credential name: lower-case letters, digits and '-', 1 to 40 characters`
    ]],
    ['not a mapping', withCredential('https://auth.example.com' as unknown as Config), ['credentials.chat: must be a mapping of fields (grant, tokenUrl, accessToken, …)']],
    ['an empty entry', withCredential(null as unknown as Config), ['credentials.chat: must be a mapping of fields (grant, tokenUrl, accessToken, …)']],
    ['a misspelt field', withCredential({ tokenURL: TOKEN_URL }), [
      'credentials.chat.tokenURL: is not a known field (expected one of: grant, refreshStyle, tokenUrl, accessToken, accessTokenFile, refreshToken, refreshTokenFile, clientId, clientSecret, clientSecretFile, scope, expiryBuffer, refreshInterval, clientAuth, privateKeyFile, keyId, signingAlg, clientAssertionFile, audience, resource, clientCertFile, clientKeyFile, subjectTokenFile, subjectTokenType)',
      'credentials.chat.tokenUrl: is required'
    ]],
    ['an unknown grant', withCredential({ tokenUrl: TOKEN_URL, grant: 'password', clientId: 'x' }), ['credentials.chat.grant: must be one of: refresh_token, client_credentials, token_exchange']],
    ['an unknown style', withCredential({ tokenUrl: TOKEN_URL, refreshStyle: 'oauth', clientId: 'x' }), ['credentials.chat.refreshStyle: must be one of: json, oauth2']],
    ['a style with client_credentials', withCredential({ grant: 'client_credentials', refreshStyle: 'oauth2', tokenUrl: TOKEN_URL, clientId: 'gw', clientSecret: 's' }), [
      'credentials.chat.refreshStyle: applies to grant refresh_token only (client_credentials has one exchange of its own)'
    ]],
    ['a refresh token with client_credentials', withCredential({ grant: 'client_credentials', tokenUrl: TOKEN_URL, clientId: 'gw', clientSecret: 's', refreshToken: 'rt' }), [
      'credentials.chat.refreshToken: applies to grant refresh_token only (client_credentials needs no refresh token)'
    ]],
    ['no token URL', withCredential({ accessToken: 'at' }), ['credentials.chat.tokenUrl: is required']],
    ['a blank token URL', withCredential({ tokenUrl: '  ' }), ['credentials.chat.tokenUrl: is required']],
    ['a token URL that is a number', withCredential({ tokenUrl: 42 }), ['credentials.chat.tokenUrl: must be a string']],
    ['a token URL without a scheme', withCredential({ tokenUrl: 'auth.example.com/token' }), ['credentials.chat.tokenUrl: must be an https or http URL']],
    ['an ftp token URL', withCredential({ tokenUrl: 'ftp://auth.example.com/token' }), ['credentials.chat.tokenUrl: must be an https or http URL']],
    ['a token URL with a password', withCredential({ tokenUrl: 'https://gw:pw@auth.example.com/token' }), ['credentials.chat.tokenUrl: must not carry credentials']],
    ['a token that is a list', withCredential({ tokenUrl: TOKEN_URL, accessToken: ['a', 'b'] }), ['credentials.chat.accessToken: must be a string']],
    ['oauth2 without a client id', withCredential({ tokenUrl: TOKEN_URL, refreshStyle: 'oauth2' }), ['credentials.chat.clientId: is required when refreshStyle is oauth2']],
    ['client_credentials without a client', withCredential({ grant: 'client_credentials', tokenUrl: TOKEN_URL }), [
      'credentials.chat.clientId: is required when grant is client_credentials',
      'credentials.chat.clientSecret: is required when grant is client_credentials (or clientSecretFile)'
    ]],
    ['client fields the json style never sends', withCredential({ tokenUrl: TOKEN_URL, clientId: 'gw', clientSecret: 's', scope: 'a' }), [
      'credentials.chat.clientId: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange',
      'credentials.chat.clientSecret: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange',
      'credentials.chat.scope: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange'
    ]],
    ['a scope with a quote', withCredential({ tokenUrl: TOKEN_URL, refreshStyle: 'oauth2', clientId: 'gw', scope: 'api "read"' }), [
      'credentials.chat.scope: must be scope tokens separated by spaces (RFC 6749 §3.3: no quotes or backslashes)'
    ]],
    ['a negative buffer', withCredential({ tokenUrl: TOKEN_URL, expiryBuffer: -1 }), ['credentials.chat.expiryBuffer: must be a number of minutes from 0 to 35791']],
    ['a buffer in words', withCredential({ tokenUrl: TOKEN_URL, expiryBuffer: 'soon' }), ['credentials.chat.expiryBuffer: must be a number of minutes from 0 to 35791']],
    ['a buffer beyond a timer', withCredential({ tokenUrl: TOKEN_URL, expiryBuffer: 35_792 }), ['credentials.chat.expiryBuffer: must be a number of minutes from 0 to 35791']],
    ['a boolean buffer', withCredential({ tokenUrl: TOKEN_URL, expiryBuffer: true }), ['credentials.chat.expiryBuffer: must be a number of minutes from 0 to 35791']],
    ['a zero interval', withCredential({ tokenUrl: TOKEN_URL, refreshInterval: 0 }), ['credentials.chat.refreshInterval: must be a number of minutes above 0, at most 35791']],
    ['a text interval that is no number', withCredential({ tokenUrl: TOKEN_URL, refreshInterval: '5 minutes' }), ['credentials.chat.refreshInterval: must be a number of minutes above 0, at most 35791']],
    ['a token too large for a header', withCredential({ tokenUrl: TOKEN_URL, accessToken: 'x'.repeat(8193) }), [
      'credentials.chat.accessToken: is 8193 bytes, more than ACCESS_TOKEN_MAX_SIZE (8192): it could not travel in a header'
    ]]
  ]
  for (const [name, config, lines] of cases) t.same(problems(config), lines, name)
  t.same(problems('credentials:\n  chat:\n    tokenUrl: https://a.example\n    expiryBuffer: .inf\nroutes: [{path: /, upstream: "https://b.example", credential: chat}]\n'),
    ['credentials.chat.expiryBuffer: must be a number of minutes from 0 to 35791'], 'YAML\'s infinity')
  t.same(problems('credentials:\n  chat:\n    tokenUrl: https://a.example\n    refreshInterval: .nan\nroutes: [{path: /, upstream: "https://b.example", credential: chat}]\n'),
    ['credentials.chat.refreshInterval: must be a number of minutes above 0, at most 35791'], 'YAML\'s not-a-number')
})

t.test('each problem of a route, by its place', async (t) => {
  const cases: Array<[string, Config, string[]]> = [
    ['not a mapping', withRoute('/chat' as unknown as Config), ['routes[0]: must be a mapping with path, upstream and credential']],
    ['a misspelt field', withRoute({ ...ROUTE, upstreamUrl: 'https://x.example' }), ['routes[0].upstreamUrl: is not a known field (expected one of: path, upstream, credential, timeout, clientCertFile, clientKeyFile)']],
    ['nothing at all', withRoute({}), ['routes[0].path: is required', 'routes[0].upstream: is required', 'routes[0].credential: is required']],
    ['a relative path', withRoute({ ...ROUTE, path: 'chat' }), ['routes[0].path: must start with \'/\'']],
    ['a path with ..', withRoute({ ...ROUTE, path: '/chat/../admin' }), ['routes[0].path: must not have empty, \'.\' or \'..\' segments']],
    ['an upstream without a scheme', withRoute({ ...ROUTE, upstream: 'api.example.com' }), ['routes[0].upstream: must be an https or http URL']],
    ['a WebSocket upstream', withRoute({ ...ROUTE, upstream: 'wss://api.example.com' }), ['routes[0].upstream: must be an https or http URL']],
    ['an upstream with a user', withRoute({ ...ROUTE, upstream: 'https://user@api.example.com' }), ['routes[0].upstream: must not carry credentials']],
    ['an upstream with a query', withRoute({ ...ROUTE, upstream: 'https://api.example.com/v1?key=k' }), ['routes[0].upstream: must not have a query string']],
    ['an unknown credential', withRoute({ ...ROUTE, credential: 'grpah' }), ['routes[0].credential: unknown credential "grpah"']],
    ['a zero timeout', withRoute({ ...ROUTE, timeout: 0 }), ['routes[0].timeout: must be a whole number of milliseconds from 1 to 2147483647']],
    ['a fractional timeout', withRoute({ ...ROUTE, timeout: 1.5 }), ['routes[0].timeout: must be a whole number of milliseconds from 1 to 2147483647']],
    ['a timeout beyond a timer', withRoute({ ...ROUTE, timeout: 2_147_483_648 }), ['routes[0].timeout: must be a whole number of milliseconds from 1 to 2147483647']],
    ['a timeout in words', withRoute({ ...ROUTE, timeout: '1 minute' }), ['routes[0].timeout: must be a whole number of milliseconds from 1 to 2147483647']]
  ]
  for (const [name, config, lines] of cases) t.same(problems(config), lines, name)
  t.same(problems({ ...base(), routes: [ROUTE, { ...ROUTE, path: '/graph', credential: 'grpah' }] }), ['routes[1].credential: unknown credential "grpah"'],
    'routes count from 0')
})

t.test('every problem of a file in one run, in the file\'s order', async (t) => {
  const text = [
    'credentials:',
    '  chat:',
    '    tokenURL: https://auth.example.com/refresh',
    '    refreshInterval: 0',
    '  graph:',
    '    grant: client_credentials',
    '    tokenUrl: ftp://login.example.com/token',
    'routes:',
    '  - path: /chat',
    '    upstream: https://api.example.com/v1',
    '    credential: chat',
    '  - path: graph',
    '    upstream: https://graph.example.com/v1.0?x=1',
    '    credential: grpah',
    '    timeout: -1',
    '  - path: /chat/',
    '    upstream: https://api.example.com/v2',
    '    credential: chat',
    'extra: true',
    ''
  ].join('\n')
  t.same(problems(text), [
    'extra: is not a known field (expected one of: credentials, routes)',
    'credentials.chat.tokenURL: is not a known field (expected one of: grant, refreshStyle, tokenUrl, accessToken, accessTokenFile, refreshToken, refreshTokenFile, clientId, clientSecret, clientSecretFile, scope, expiryBuffer, refreshInterval, clientAuth, privateKeyFile, keyId, signingAlg, clientAssertionFile, audience, resource, clientCertFile, clientKeyFile, subjectTokenFile, subjectTokenType)',
    'credentials.chat.tokenUrl: is required',
    'credentials.chat.refreshInterval: must be a number of minutes above 0, at most 35791',
    'credentials.graph.tokenUrl: must be an https or http URL',
    'credentials.graph.clientId: is required when grant is client_credentials',
    'credentials.graph.clientSecret: is required when grant is client_credentials (or clientSecretFile)',
    'routes[1].path: must start with \'/\'',
    'routes[1].upstream: must not have a query string',
    'routes[1].credential: unknown credential "grpah"',
    'routes[1].timeout: must be a whole number of milliseconds from 1 to 2147483647',
    'routes[2].path: is the same as routes[0].path ("/chat"): one route per path'
  ])
  t.equal(configError(text).message.split('; ').length, 12, 'the error\'s message holds them all')
})

t.test('${VAR} in any string, read from the environment given', async (t) => {
  const config = withCredential({
    refreshStyle: '${STYLE}',
    tokenUrl: 'https://${IDP_HOST}:${IDP_PORT}/token',
    accessToken: '${CHAT_AUTH_TOKEN}',
    clientId: 'gw$1-$${NAME}',
    scope: '$ ${SCOPE}'
  })
  config.routes[0] = { path: '${PREFIX}', upstream: '${UPSTREAM}', credential: '${CREDENTIAL}' }
  const variables = { STYLE: 'oauth2', IDP_HOST: 'idp.example.com', IDP_PORT: '8443', CHAT_AUTH_TOKEN: 'at-env', NAME: 'x', SCOPE: 'api', PREFIX: '/chat/', UPSTREAM: 'https://api.example.com', CREDENTIAL: 'chat' }
  const definition = parseGatewayFile(stringify(config), FILE, variables, DEFAULTS)
  const [credential] = definition.credentials
  t.equal(credential.refreshStyle, 'oauth2')
  t.equal(credential.refreshUrl, 'https://idp.example.com:8443/token', 'several in one string')
  t.equal(credential.accessToken, 'at-env')
  t.same(credential.oauthClient, { clientId: 'gw$1-$x', clientSecret: null, scope: '$ api' }, 'a $ not followed by { stays')
  t.same(definition.routes, [{ path: '/chat', upstream: new URL('https://api.example.com'), credential: 'chat', timeoutMs: 30_000 }], 'a path is normalised after interpolation')
  const blank = parseGatewayFile(stringify(withCredential({ tokenUrl: TOKEN_URL, accessToken: '${EMPTY}' })), FILE, { EMPTY: '' }, DEFAULTS)
  t.equal(blank.credentials[0].accessToken, null, 'a variable set to nothing leaves the field unset, as a blank AUTH_TOKEN does')
})

t.test('an unset variable is a problem naming the place and the variable', async (t) => {
  const config = withCredential({ tokenUrl: TOKEN_URL, accessToken: '${CHAT_AUTH_TOKEN}', refreshToken: '${CHAT_REFRESH_TOKEN}${CHAT_REFRESH_TOKEN}' })
  config.routes[0].upstream = 'https://${API_HOST}/${API_VERSION}'
  t.same(problems(config, { API_VERSION: 'v1' }), [
    'credentials.chat.accessToken: ${CHAT_AUTH_TOKEN} is not set',
    'credentials.chat.refreshToken: ${CHAT_REFRESH_TOKEN} is not set',
    'routes[0].upstream: ${API_HOST} is not set'
  ], 'once per variable and place')
  t.same(problems(withCredential({ tokenUrl: TOKEN_URL, expiryBuffer: '${BUFFER}' })), ['credentials.chat.expiryBuffer: ${BUFFER} is not set'], 'in a number field too')
  const malformed = 'has a "${" that does not open a reference: write ${NAME}, a name of letters, digits and "_"'
  for (const accessToken of ['${', 'a${b', '${1X}', '${A B}', '${}', '${OK}${']) {
    t.same(problems(withCredential({ tokenUrl: TOKEN_URL, accessToken }), { OK: 'fine' }), [`credentials.chat.accessToken: ${malformed}`], accessToken)
  }
})

t.test('*File twins: read from real files, trimmed, their absolute paths recorded', async (t) => {
  const dir = folder()
  mkdirSync(join(dir, 'secrets'))
  writeFileSync(join(dir, 'secrets', 'access'), '  at-from-file\n')
  writeFileSync(join(dir, 'secrets', 'refresh'), 'rt-from-file\r\n\r\n')
  writeFileSync(join(dir, 'client-secret'), '\tcs-from-file \n')
  symlinkSync(join(dir, 'client-secret'), join(dir, 'linked-secret'))
  const json = withCredential({ tokenUrl: TOKEN_URL, accessTokenFile: 'secrets/access', refreshTokenFile: '${SECRETS}/refresh' })
  const definition = parseGatewayFile(stringify(json), join(dir, 'gateway.yaml'), { SECRETS: join(dir, 'secrets') }, DEFAULTS)
  t.equal(definition.credentials[0].accessToken, 'at-from-file')
  t.equal(definition.credentials[0].refreshToken, 'rt-from-file')
  t.same(definition.credentials[0].files, { accessToken: join(dir, 'secrets', 'access'), refreshToken: join(dir, 'secrets', 'refresh') })
  const graph = withCredential({ grant: 'client_credentials', tokenUrl: TOKEN_URL, clientId: 'gw', clientSecretFile: join(dir, 'linked-secret') })
  const read = parseGatewayFile(stringify(graph), FILE, {}, DEFAULTS).credentials[0]
  t.same(read.oauthClient, { clientId: 'gw', clientSecret: 'cs-from-file', scope: null }, 'an absolute path, through a symbolic link (as Kubernetes mounts secrets)')
  t.same(read.files, { clientSecret: join(dir, 'linked-secret') })
})

t.test('*File problems name the field and the path, never the content', async (t) => {
  const dir = folder()
  const path = join(dir, 'gateway.yaml')
  writeFileSync(join(dir, 'blank'), ' \n\t\n')
  writeFileSync(join(dir, 'huge'), Buffer.alloc(SECRET_FILE_MAX_BYTES + 1, 'h'))
  writeFileSync(join(dir, 'token'), 'secret-content-of-the-file')
  const chat = (fields: Config): Config => withCredential({ tokenUrl: TOKEN_URL, ...fields })
  t.same(problems(chat({ accessToken: 'at', accessTokenFile: 'token' }), {}, path), ['credentials.chat.accessTokenFile: must not be set together with accessToken'])
  t.same(problems(chat({ refreshTokenFile: 'missing' }), {}, path), [`credentials.chat.refreshTokenFile: cannot be read: ${join(dir, 'missing')} (ENOENT)`])
  t.same(problems(chat({ accessTokenFile: '.' }), {}, path), [`credentials.chat.accessTokenFile: cannot be read: ${dir} is not a regular file`])
  t.same(problems(chat({ accessTokenFile: 'blank' }), {}, path), [`credentials.chat.accessTokenFile: ${join(dir, 'blank')} is empty`])
  t.same(problems(chat({ accessTokenFile: 'huge' }), {}, path), [`credentials.chat.accessTokenFile: cannot be read: ${join(dir, 'huge')} is larger than ${SECRET_FILE_MAX_BYTES} bytes`])
  t.same(problems(chat({ accessTokenFile: '${TOKEN_FILE}' }), {}, path), ['credentials.chat.accessTokenFile: ${TOKEN_FILE} is not set'])
  t.same(problems(chat({ accessTokenFile: 42 }), {}, path), ['credentials.chat.accessTokenFile: must be a string'])
  execFileSync('mkfifo', [join(dir, 'pipe')])
  t.same(problems(chat({ accessTokenFile: 'pipe' }), {}, path), [`credentials.chat.accessTokenFile: cannot be read: ${join(dir, 'pipe')} is not a regular file`],
    'a named pipe without a writer fails at once instead of blocking start-up')
  t.equal(parseGatewayFile(stringify(chat({ accessTokenFile: 'token' })), path, {}, DEFAULTS).credentials[0].accessToken, 'secret-content-of-the-file')
  const small = { ...DEFAULTS, accessTokenMaxBytes: 16 }
  let err: ConfigError | null = null
  try {
    parseGatewayFile(stringify(chat({ accessTokenFile: 'token' })), path, {}, small)
  } catch (caught) {
    err = caught as ConfigError
  }
  t.same(err?.problems.map(formatConfigProblem), ['credentials.chat.accessTokenFile: is 26 bytes, more than ACCESS_TOKEN_MAX_SIZE (16): it could not travel in a header'],
    'a token file too large for a header names the file field')
  t.notMatch(err?.message, 'secret-content', 'the content is not quoted')
  if (process.getuid?.() !== 0) {
    writeFileSync(join(dir, 'locked'), 'x')
    chmodSync(join(dir, 'locked'), 0o000)
    t.same(problems(chat({ accessTokenFile: 'locked' }), {}, path), [`credentials.chat.accessTokenFile: cannot be read: ${join(dir, 'locked')} (EACCES)`])
  }
  if (process.platform === 'linux') {
    // A regular file that fails when read: the kernel answers EIO for unmapped memory.
    t.same(problems(chat({ accessTokenFile: '/proc/self/mem' }), {}, path), ['credentials.chat.accessTokenFile: cannot be read: /proc/self/mem (EIO)'])
  }
})

t.test('secrets never reach a message: literal, from a variable or from a file', async (t) => {
  const dir = folder()
  const secrets = ['LITERAL-ACCESS-SECRET', 'LITERAL-REFRESH-SECRET', 'ENV-ACCESS-SECRET', 'ENV-CLIENT-SECRET', 'FILE-CLIENT-SECRET', 'FILE-REFRESH-SECRET']
  writeFileSync(join(dir, 'client'), 'FILE-CLIENT-SECRET\n')
  writeFileSync(join(dir, 'refresh'), 'FILE-REFRESH-SECRET')
  const config = {
    credentials: {
      // Every secret in a credential with problems of its own, beside fields that refuse it.
      literal: { tokenUrl: 'https://user:LITERAL-ACCESS-SECRET@idp.example.com', accessToken: 'LITERAL-ACCESS-SECRET'.repeat(500), refreshToken: 'LITERAL-REFRESH-SECRET', clientSecret: 'LITERAL-REFRESH-SECRET' },
      fromenv: { grant: 'client_credentials', tokenUrl: TOKEN_URL, accessToken: '${BIG_TOKEN}', clientSecret: '${CLIENT_SECRET}', refreshToken: '${CLIENT_SECRET}', scope: '${BAD_SCOPE}', expiryBuffer: '${CLIENT_SECRET}' },
      fromfile: { refreshStyle: 'json', tokenUrl: TOKEN_URL, clientSecretFile: 'client', refreshTokenFile: 'refresh', refreshToken: 'LITERAL-REFRESH-SECRET' }
    },
    routes: [
      { path: '/LITERAL-ACCESS-SECRET?x', upstream: 'https://api.example.com/?token=ENV-ACCESS-SECRET', credential: 'ENV-ACCESS-SECRET' },
      { path: '/b', upstream: 'https://u:ENV-CLIENT-SECRET@api.example.com', credential: '${CLIENT_SECRET}', timeout: '${CLIENT_SECRET}' }
    ]
  }
  const variables = { BIG_TOKEN: 'ENV-ACCESS-SECRET'.repeat(1000), CLIENT_SECRET: 'ENV-CLIENT-SECRET', BAD_SCOPE: '"ENV-CLIENT-SECRET"' }
  const err = configError(stringify(config), variables, join(dir, 'gateway.yaml'))
  t.ok(err.problems.length >= 12, `${err.problems.length} problems`)
  const printed = err.problems.map(formatConfigProblem).join('\n') + err.message
  for (const secret of secrets) t.notMatch(printed, secret, `${secret} is not in any message`)
  t.match(printed, 'credentials.fromenv.accessToken: is 17000 bytes, more than ACCESS_TOKEN_MAX_SIZE (8192)', 'the problems are there')
  t.match(printed, 'credentials.fromfile.clientSecretFile: is used only with refreshStyle oauth2 or grant client_credentials or token_exchange')
  t.match(printed, 'routes[1].credential: must name a credential')

  const broken = 'credentials:\n  chat:\n    accessToken: "LITERAL-ACCESS-SECRET\n    tokenUrl: x\n'
  const syntax = configError(broken)
  t.notMatch(syntax.problems.map(formatConfigProblem).join('\n') + syntax.message, 'LITERAL-ACCESS-SECRET', 'a syntax error in a secret quotes nothing')
})

t.test('a YAML syntax error is one problem naming the file, line and column, not the text', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['credentials:\n  chat:\n    tokenUrl: https://a.example\n   accessToken: "at-secret\n', `${FILE}:4:1`, 'invalid YAML (bad indent)'],
    ['credentials:\n  chat:\n    accessToken: "at-secret\n', `${FILE}:4:1`, 'invalid YAML (missing char)'],
    ['credentials: {}\ncredentials: {}\nroutes: []\n', `${FILE}:2:1`, 'invalid YAML (duplicate key)'],
    ['credentials: [\n', `${FILE}:2:1`, 'invalid YAML (bad indent)'],
    ['credentials: {}\n---\nroutes: []\n', `${FILE}:2:1`, 'invalid YAML (multiple docs)'],
    ['{"credentials": {"chat": {"tokenUrl": "https://a.example"}, "routes": []}', `${FILE}:1:74`, 'invalid YAML (missing char)']
  ]
  for (const [text, place, message] of cases) {
    const err = configError(text)
    t.same(err.problems, [{ variable: 'TOKENGATE_CONFIG', place, message }], JSON.stringify(text))
    t.notMatch(err.message, 'at-secret')
  }
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n')
  t.same(problems(bomb), [`${FILE}: invalid YAML (an alias is undefined or expands too far)`], 'aliases that would expand to millions of nodes')
  t.same(problems('credentials: *nowhere\n'), [`${FILE}: invalid YAML (an alias is undefined or expands too far)`])
  const config = base()
  const aliased = `defaults: &idp\n  tokenUrl: ${TOKEN_URL}\n${stringify(config)}`
  t.same(problems(aliased), ['defaults: is not a known field (expected one of: credentials, routes)'], 'a well-formed alias parses; the key it hangs on is still unknown')
})

t.test('odd keys are reported like any unknown key, and yaml prints nothing of its own', async (t) => {
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const text = `? [secret-looking, key]\n: 1\n__proto__: {polluted: 1}\nunknown: !custom-tag value\n${stringify(base())}`
  t.same(problems(text), [
    '["[ secret-looking, key ]"]: is not a known field (expected one of: credentials, routes)',
    '__proto__: is not a known field (expected one of: credentials, routes)',
    'unknown: is not a known field (expected one of: credentials, routes)'
  ])
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype is touched')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings, [], 'no process warning (yaml\'s would quote the key)')
})

t.test('loadGatewayFile reads the file from disk; an unreadable one names TOKENGATE_CONFIG', async (t) => {
  const dir = folder()
  const path = join(dir, 'gateway.yaml')
  writeFileSync(path, stringify(base()))
  const definition = loadGatewayFile(path, {}, DEFAULTS)
  t.equal(definition.file, path)
  t.equal(definition.routes[0].path, '/chat')
  const errorOf = (file: string): ConfigError | null => {
    try {
      loadGatewayFile(file, {}, DEFAULTS)
    } catch (err) {
      return err as ConfigError
    }
    return null
  }
  t.same(errorOf(join(dir, 'missing.yaml'))?.problems, [{ variable: 'TOKENGATE_CONFIG', message: `cannot be read: ${join(dir, 'missing.yaml')} (ENOENT)` }])
  t.equal(formatConfigProblem(errorOf(join(dir, 'missing.yaml'))!.problems[0]), `TOKENGATE_CONFIG cannot be read: ${join(dir, 'missing.yaml')} (ENOENT)`)
  t.same(errorOf(dir)?.problems, [{ variable: 'TOKENGATE_CONFIG', message: `cannot be read: ${dir} is not a regular file` }])
  const huge = join(dir, 'huge.yaml')
  writeFileSync(huge, `# ${'x'.repeat(CONFIG_FILE_MAX_BYTES)}\n`)
  t.same(errorOf(huge)?.problems, [{ variable: 'TOKENGATE_CONFIG', message: `cannot be read: ${huge} is larger than ${CONFIG_FILE_MAX_BYTES} bytes` }])
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, stringify({ ...base(), routes: [{ ...ROUTE, credential: 'grpah' }] }))
  t.same(errorOf(bad)?.problems.map(formatConfigProblem), ['routes[0].credential: unknown credential "grpah"'])
})
