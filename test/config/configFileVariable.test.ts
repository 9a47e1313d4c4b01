// TOKENGATE_CONFIG in the environment: the file replaces UPSTREAM_URL and the single credential's
// variables, its problems are reported with the environment's, the config plugin decorates the
// definition and a reload function, and without a file the environment's one route is the definition.
/* eslint-disable no-template-curly-in-string -- the file's own `${VAR}` syntax */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import configPlugin from '../../plugins/config.js'
import { buildApp } from '../../src/app.js'
import { fileDefaults, missingAuthToken, resolveConfig, resolveGateway } from '../../src/config/gatewayConfig.js'
import { definitionFromEnvironment } from '../../src/config/gatewayDefinition.js'
import { ConfigError, formatConfigProblem } from '../../src/errors.js'
import { startGateway } from '../helpers/app.js'
import { validate } from '../helpers/config.js'
import { emptyWorkdir } from '../helpers/process.js'
import { echoUpstream } from '../helpers/servers.js'

const TWO_ROUTES = {
  credentials: {
    chat: { tokenUrl: 'https://auth.example.com/v2/refresh-session', accessToken: '${CHAT_AUTH_TOKEN}', refreshToken: '${CHAT_REFRESH_TOKEN}', expiryBuffer: 1 },
    graph: { grant: 'client_credentials', tokenUrl: 'https://login.example.com/oauth2/token', clientId: 'gateway', clientSecret: '${GRAPH_SECRET}' }
  },
  routes: [
    { path: '/chat', upstream: 'https://api.example.com/v1', credential: 'chat' },
    { path: '/graph', upstream: 'https://graph.example.com/v1.0', credential: 'graph', timeout: 60_000 }
  ]
}
const VARIABLES = { CHAT_AUTH_TOKEN: 'at-chat', CHAT_REFRESH_TOKEN: 'rt-chat', GRAPH_SECRET: 'graph-secret' }

function writeConfig (config: object | string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tokengate-config-')), 'gateway.yaml')
  writeFileSync(path, typeof config === 'string' ? config : stringify(config))
  return path
}

function problemLines (run: () => unknown): string[] {
  try {
    run()
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatConfigProblem)
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('with TOKENGATE_CONFIG the file is the definition; GatewayConfig keeps its first route for the code that knows one', async (t) => {
  const path = writeConfig(TWO_ROUTES)
  const env = validate({ TOKENGATE_CONFIG: relative(process.cwd(), path), TOKEN_EXPIRY_BUFFER: '2', UPSTREAM_TIMEOUT: '1500' })
  const { config, definition } = resolveGateway(env, VARIABLES)
  t.equal(config.configFile, path, 'absolute, from a path relative to the working folder')
  t.equal(definition.file, path)
  t.same(definition.credentials.map((c) => [c.name, c.accessToken, c.expiryBufferMs]), [['chat', 'at-chat', 60_000], ['graph', null, 120_000]],
    'TOKEN_EXPIRY_BUFFER is the default of a credential without its own')
  t.same(definition.routes.map((r) => [r.path, r.timeoutMs]), [['/chat', 1500], ['/graph', 60_000]], 'UPSTREAM_TIMEOUT is the default of a route without its own')
  t.same({
    upstream: config.upstream.href,
    authToken: config.authToken,
    refreshToken: config.refreshToken,
    refreshUrl: config.refreshUrl,
    refreshStyle: config.refreshStyle,
    tokenGrant: config.tokenGrant,
    oauthClient: config.oauthClient,
    expiryBufferMs: config.expiryBufferMs,
    upstreamTimeoutMs: config.upstreamTimeoutMs
  }, {
    upstream: 'https://api.example.com/v1',
    authToken: 'at-chat',
    refreshToken: 'rt-chat',
    refreshUrl: 'https://auth.example.com/v2/refresh-session',
    refreshStyle: 'json',
    tokenGrant: 'refresh_token',
    oauthClient: null,
    expiryBufferMs: 120_000,
    upstreamTimeoutMs: 1500
  }, 'the first route and its credential; buffer and timeout stay the environment\'s defaults')
  t.same(resolveConfig(env, VARIABLES), config, 'resolveConfig is the same settings')
  t.same(fileDefaults(env), { expiryBufferMs: 120_000, refreshIntervalMs: 30 * 60_000, timeoutMs: 1500, accessTokenMaxBytes: 8192 })
})

t.test('UPSTREAM_URL set together with TOKENGATE_CONFIG is a problem naming UPSTREAM_URL', async (t) => {
  const path = writeConfig(TWO_ROUTES)
  t.same(problemLines(() => resolveGateway(validate({ TOKENGATE_CONFIG: path, UPSTREAM_URL: 'https://api.example.com' }), VARIABLES)), [
    'UPSTREAM_URL must not be set together with TOKENGATE_CONFIG: the file names each route\'s upstream'
  ])
  t.doesNotThrow(() => resolveGateway(validate({ TOKENGATE_CONFIG: path, UPSTREAM_URL: '  ' }), VARIABLES), 'a blank UPSTREAM_URL is unset')
})

t.test('with TOKENGATE_CONFIG the single credential\'s variables are not read, nor checked', async (t) => {
  const path = writeConfig(TWO_ROUTES)
  const env = validate({
    TOKENGATE_CONFIG: path,
    AUTH_TOKEN: 'x'.repeat(10_000),
    REFRESH_TOKEN: 'rt-env',
    TOKEN_REFRESH_URL: 'not a url',
    TOKEN_GRANT: 'client_credentials',
    OAUTH_SCOPE: 'a"b'
  })
  const { config } = resolveGateway(env, VARIABLES)
  t.equal(config.authToken, 'at-chat')
  t.equal(config.refreshToken, 'rt-chat')
  t.equal(config.tokenGrant, 'refresh_token')
  t.equal(missingAuthToken(validate({ TOKENGATE_CONFIG: path, TOKEN_STORE: 'memory' })), null, 'AUTH_TOKEN is never required')
  t.same(missingAuthToken(validate({ UPSTREAM_URL: 'https://api.example.com', TOKEN_STORE: 'memory' }))?.variable, 'AUTH_TOKEN', 'as before without a file')
})

t.test('the environment\'s problems and the file\'s come in one error', async (t) => {
  const path = writeConfig({ ...TWO_ROUTES, routes: [{ ...TWO_ROUTES.routes[0], credential: 'grpah' }] })
  const env = validate({ TOKENGATE_CONFIG: path, UPSTREAM_URL: 'https://api.example.com', GATEWAY_API_KEYS: 'a b' })
  t.same(problemLines(() => resolveGateway(env, { CHAT_AUTH_TOKEN: 'at' })), [
    'UPSTREAM_URL must not be set together with TOKENGATE_CONFIG: the file names each route\'s upstream',
    'GATEWAY_API_KEYS must hold keys of visible ASCII characters without spaces, separated by commas',
    'credentials.chat.refreshToken: ${CHAT_REFRESH_TOKEN} is not set',
    'credentials.graph.clientSecret: ${GRAPH_SECRET} is not set',
    'routes[0].credential: unknown credential "grpah"'
  ])
  t.same(problemLines(() => resolveGateway(validate({ TOKENGATE_CONFIG: join(path, '..', 'missing.yaml') }), {})), [
    `TOKENGATE_CONFIG cannot be read: ${join(path, '..', 'missing.yaml')} (ENOENT)`
  ])
})

t.test('reload reads the file again with the environment of start-up; a bad file throws and changes nothing', async (t) => {
  const path = writeConfig(TWO_ROUTES)
  const resolved = resolveGateway(validate({ TOKENGATE_CONFIG: path, UPSTREAM_TIMEOUT: '1500' }), { ...VARIABLES })
  writeFileSync(path, stringify({ ...TWO_ROUTES, routes: [...TWO_ROUTES.routes, { path: '/extra', upstream: 'http://127.0.0.1:9', credential: 'chat' }] }))
  const reloaded = resolved.reload()
  t.same(reloaded.routes.map((r) => [r.path, r.timeoutMs]), [['/chat', 1500], ['/graph', 60_000], ['/extra', 1500]], 'the file as it is now, the same defaults')
  t.equal(reloaded.credentials[0].accessToken, 'at-chat', 'the same variables')
  t.equal(resolved.definition.routes.length, 2, 'the definition of start-up is untouched')
  writeFileSync(path, stringify({ ...TWO_ROUTES, routes: [{ ...TWO_ROUTES.routes[0], credential: 'grpah' }] }))
  t.same(problemLines(() => resolved.reload()), ['routes[0].credential: unknown credential "grpah"'])
})

t.test('without a file: one credential `default` and one route `/` to UPSTREAM_URL', async (t) => {
  const env = validate({
    UPSTREAM_URL: 'https://api.example.com/v2',
    AUTH_TOKEN: 'at-env',
    REFRESH_TOKEN: 'rt-env',
    TOKEN_REFRESH_STYLE: 'oauth2',
    TOKEN_REFRESH_URL: 'https://idp.example.com/token',
    OAUTH_CLIENT_ID: 'gw',
    OAUTH_SCOPE: 'api',
    TOKEN_EXPIRY_BUFFER: '1',
    TOKEN_REFRESH_INTERVAL: '2',
    UPSTREAM_TIMEOUT: '1500'
  })
  const { config, definition, reload } = resolveGateway(env, {})
  t.equal(config.configFile, null)
  t.same(definition, {
    file: null,
    credentials: [{
      name: 'default',
      tokenGrant: 'refresh_token',
      refreshStyle: 'oauth2',
      refreshUrl: 'https://idp.example.com/token',
      accessToken: 'at-env',
      refreshToken: 'rt-env',
      oauthClient: { clientId: 'gw', clientSecret: null, scope: 'api' },
      expiryBufferMs: 60_000,
      refreshIntervalMs: 120_000,
      files: {}
    }],
    routes: [{ path: '/', upstream: new URL('https://api.example.com/v2'), credential: 'default', timeoutMs: 1500 }]
  })
  t.equal(definition.routes[0].upstream, config.upstream, 'the very URL of the settings')
  t.same(definitionFromEnvironment(config), definition)
  t.equal(reload(), definition, 'nothing to read again: the same definition')
  const clientCredentials = definitionFromEnvironment(resolveConfig(validate({
    UPSTREAM_URL: 'https://api.example.com', TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'svc', OAUTH_CLIENT_SECRET: 'sec'
  })))
  t.same(clientCredentials.credentials[0].refreshStyle, 'client_credentials')
  t.same(clientCredentials.credentials[0].oauthClient, { clientId: 'svc', clientSecret: 'sec', scope: null })
})

t.test('the config plugin decorates the definition, the file\'s path and the reload function', async (t) => {
  const upstream = await echoUpstream(t)
  const path = writeConfig({
    ...TWO_ROUTES,
    routes: [{ path: '/chat/', upstream: `${upstream.url}/v1`, credential: 'chat' }, TWO_ROUTES.routes[1]]
  })
  const gw = await startGateway(t, { TOKENGATE_CONFIG: path, ...VARIABLES })
  t.equal(gw.app.gatewayConfig.configFile, path)
  t.equal(gw.app.gatewayDefinition.file, path)
  t.same(gw.app.gatewayDefinition.routes.map((r) => r.path), ['/chat', '/graph'])
  t.same(gw.app.gatewayDefinition.credentials.map((c) => c.name), ['chat', 'graph'])
  t.same(gw.app.reloadGatewayDefinition(), gw.app.gatewayDefinition, 'read again, the same file gives the same definition')
  const res = await request(`${gw.url}/chat/hello`)
  const echoed = await res.body.json() as { url: string, authorization: string }
  t.same([echoed.url, echoed.authorization], ['/v1/hello', 'Bearer at-chat'], 'the route\'s upstream and its credential\'s token')

  const plain = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'at-env' })
  t.equal(plain.app.gatewayConfig.configFile, null)
  t.same(plain.app.gatewayDefinition, definitionFromEnvironment(plain.app.gatewayConfig))
})

t.test('a bad file fails start-up with every problem, the environment\'s included', async (t) => {
  const path = writeConfig({ ...TWO_ROUTES, routes: [{ ...TWO_ROUTES.routes[0], credential: 'grpah' }] })
  const startup = async (env: Record<string, string>): Promise<string[]> => {
    const app = Fastify({ logger: false })
    t.teardown(() => app.close())
    const err = await app.register(configPlugin, { env }).ready().then(() => null, (e: unknown) => e)
    t.ok(err instanceof ConfigError)
    return (err as ConfigError).problems.map(formatConfigProblem)
  }
  t.same(await startup({ TOKENGATE_CONFIG: path, ...VARIABLES, UPSTREAM_URL: 'https://x.example' }), [
    'UPSTREAM_URL must not be set together with TOKENGATE_CONFIG: the file names each route\'s upstream',
    'routes[0].credential: unknown credential "grpah"'
  ])
  t.same(await startup({ TOKENGATE_CONFIG: path, ...VARIABLES, PORT: 'eighty' }), [
    'PORT must be integer',
    'routes[0].credential: unknown credential "grpah"'
  ], 'beside a variable that fails the schema')
  t.same(await startup({ PORT: 'eighty' }), [
    'PORT must be integer',
    'UPSTREAM_URL is required (the base URL of the API to forward to, e.g. https://api.example.com/v1)',
    'AUTH_TOKEN is required (the initial access token, JWT or opaque): the token store holds none'
  ], 'without a file, UPSTREAM_URL is still required beside a schema problem')
})

t.test('without injected variables, ${VAR} reads the environment and .env; the environment wins', async (t) => {
  const folder = emptyWorkdir()
  writeFileSync(join(folder, 'gateway.yaml'), stringify(TWO_ROUTES))
  writeFileSync(join(folder, '.env'), 'TOKENGATE_CONFIG=gateway.yaml\nCHAT_AUTH_TOKEN=from-dotenv\nCHAT_REFRESH_TOKEN=rt-dotenv\nTOKEN_STORE=memory\nLOG_LEVEL=silent\n')
  const cwd = process.cwd()
  const saved = { ...process.env }
  t.teardown(() => {
    process.chdir(cwd)
    process.env = saved
  })
  process.chdir(folder)
  process.env.CHAT_AUTH_TOKEN = 'from-environment'
  process.env.GRAPH_SECRET = 'graph-secret'
  const app = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  t.equal(app.gatewayConfig.configFile, join(folder, 'gateway.yaml'))
  const chat = app.gatewayDefinition.credentials[0]
  t.equal(chat.accessToken, 'from-environment', 'the real environment wins over .env')
  t.equal(chat.refreshToken, 'rt-dotenv', '.env filled the rest')
  process.env.CHAT_AUTH_TOKEN = 'changed-later'
  t.equal(app.reloadGatewayDefinition().credentials[0].accessToken, 'from-environment', 'a reload reads the environment of start-up')
})
