// From the environment to typed settings: the checks JSON schema cannot express, and one
// problem per variable from the schema's own errors (produced here by the real env-schema).
import { resolve } from 'node:path'
import t from 'tap'
import { problemsFromSchemaErrors, resolveConfig, type SchemaError } from '../../src/config/gatewayConfig.js'
import { DEFAULT_TOKEN_REFRESH_URL, MAX_TIMER_MS, type EnvConfig } from '../../src/config/schema.js'
import { ConfigError } from '../../src/errors.js'
import { validate } from '../helpers/config.js'

/** The schema errors env-schema attaches to its error, for data that does not validate. */
function schemaErrors (data: Record<string, string>): SchemaError[] {
  try {
    validate(data)
  } catch (err) {
    return (err as { errors: SchemaError[] }).errors
  }
  throw new Error('expected the data to be invalid')
}

function configError (env: EnvConfig): ConfigError {
  try {
    resolveConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('defaults, converted to the units the app uses', async (t) => {
  const config = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com/v2' }))
  t.same(config, {
    upstream: new URL('https://api.example.com/v2'),
    configFile: null,
    authToken: null,
    refreshToken: null,
    refreshUrl: DEFAULT_TOKEN_REFRESH_URL,
    refreshStyle: 'json',
    tokenGrant: 'refresh_token',
    oauthClient: null,
    refreshIntervalMs: 30 * 60_000,
    expiryBufferMs: 5 * 60_000,
    refreshTimeoutMs: 10_000,
    store: 'file',
    storePath: resolve(process.cwd(), 'data/tokens.json'),
    redisUrl: 'redis://127.0.0.1:6379',
    storeKey: 'tokengate:default',
    adminKey: null,
    apiKeys: [],
    upstreamCa: null,
    upstreamClientCertificate: null,
    host: '127.0.0.1',
    port: 3000,
    upstreamTimeoutMs: 30_000,
    upstreamMaxConnections: 10_000,
    clientTimeoutMs: 60_000,
    clientKeepAliveTimeoutMs: 72_000,
    clientMaxRequestsPerConnection: 1000,
    clientListenBacklog: 4096,
    replayBufferTotalBytes: 64 * 1024 * 1024,
    wsMaxMessageBytes: 16 * 1024 * 1024,
    accessTokenMaxBytes: 8192,
    otelEndpoint: null,
    otelServiceName: 'tokengate',
    logLevel: 'info'
  })
  t.equal(config.upstream.pathname, '/v2', 'the path is kept as a prefix')
})

t.test('every variable given', async (t) => {
  const config = resolveConfig(validate({
    UPSTREAM_URL: 'http://127.0.0.1:9000',
    AUTH_TOKEN: '  eyJ.token.sig  ',
    REFRESH_TOKEN: 'rt_1',
    TOKEN_REFRESH_URL: 'http://127.0.0.1:9001/auth/v2/refresh-session',
    TOKEN_REFRESH_STYLE: 'json',
    TOKEN_REFRESH_INTERVAL: '0.05',
    TOKEN_EXPIRY_BUFFER: '0.5',
    TOKEN_REFRESH_TIMEOUT: '300',
    TOKEN_STORE: 'redis',
    TOKEN_STORE_PATH: '/var/lib/tokengate/tokens.json',
    REDIS_URL: 'rediss://cache.internal:6380/2',
    TOKEN_STORE_KEY: 'gw:eu',
    GATEWAY_ADMIN_KEY: ' admin-key ',
    HOST: '0.0.0.0',
    PORT: '0',
    UPSTREAM_TIMEOUT: '1500',
    LOG_LEVEL: 'debug'
  }))
  t.equal(config.upstream.href, 'http://127.0.0.1:9000/')
  t.equal(config.authToken, 'eyJ.token.sig', 'surrounding whitespace (e.g. from .env) is trimmed')
  t.equal(config.refreshToken, 'rt_1')
  t.equal(config.refreshUrl, 'http://127.0.0.1:9001/auth/v2/refresh-session')
  t.equal(config.refreshIntervalMs, 3000, 'fractional minutes: 0.05 = 3 s')
  t.equal(config.expiryBufferMs, 30_000)
  t.equal(config.refreshTimeoutMs, 300)
  t.equal(config.store, 'redis')
  t.equal(config.storePath, '/var/lib/tokengate/tokens.json')
  t.equal(config.redisUrl, 'rediss://cache.internal:6380/2')
  t.equal(config.storeKey, 'gw:eu')
  t.equal(config.adminKey, 'admin-key', 'trimmed like the tokens')
  t.equal(config.host, '0.0.0.0')
  t.equal(config.port, 0)
  t.equal(config.upstreamTimeoutMs, 1500)
  t.equal(config.logLevel, 'debug')
})

t.test('empty or blank tokens and admin key count as absent', async (t) => {
  const config = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', AUTH_TOKEN: '', REFRESH_TOKEN: '   ', GATEWAY_ADMIN_KEY: ' ' }))
  t.equal(config.authToken, null)
  t.equal(config.refreshToken, null)
  t.equal(config.adminKey, null)
})

t.test('an AUTH_TOKEN larger than ACCESS_TOKEN_MAX_SIZE is refused, naming both; one at the limit is taken', async (t) => {
  const err = configError(validate({ UPSTREAM_URL: 'https://api.example.com', AUTH_TOKEN: 'x'.repeat(61_440) }))
  t.same(err.problems, [{ variable: 'AUTH_TOKEN', message: 'is 61440 bytes, more than ACCESS_TOKEN_MAX_SIZE (8192): it could not travel in a header' }])
  t.notMatch(err.message, 'xxxx', 'the token is not quoted')
  t.equal(resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', AUTH_TOKEN: 'y'.repeat(8192) })).authToken, 'y'.repeat(8192))
  // A limit that is no number at all is its own problem, not AUTH_TOKEN's (found by the property test).
  const infinite = configError(validate({ UPSTREAM_URL: 'https://api.example.com', AUTH_TOKEN: 'short', ACCESS_TOKEN_MAX_SIZE: '-Infinity' }))
  t.same(infinite.problems, [{ variable: 'ACCESS_TOKEN_MAX_SIZE', message: 'must be a finite number' }])
})

t.test('a relative store path is resolved against the working directory', async (t) => {
  const config = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', TOKEN_STORE: 'memory', TOKEN_STORE_PATH: 'state/t.json' }))
  t.equal(config.store, 'memory')
  t.equal(config.storePath, resolve(process.cwd(), 'state/t.json'))
})

t.test('REDIS_URL is checked only when the Redis store is chosen', async (t) => {
  const base = validate({ UPSTREAM_URL: 'https://api.example.com', REDIS_URL: 'http://cache:6379' })
  t.equal(resolveConfig(base).redisUrl, 'http://cache:6379', 'not used by the file store, so not an error')
  for (const REDIS_URL of ['http://cache:6379', 'cache:6379x', 'not a url at all', '']) {
    const err = configError({ ...base, TOKEN_STORE: 'redis', REDIS_URL })
    t.same(err.problems, [{ variable: 'REDIS_URL', message: 'must be a redis:// or rediss:// URL' }], JSON.stringify(REDIS_URL))
  }
  const withPassword = configError({ ...base, TOKEN_STORE: 'redis', REDIS_URL: 'ftp://user:s3cret@cache', UPSTREAM_URL: 'nope' })
  t.same(withPassword.problems.map((p) => p.variable), ['UPSTREAM_URL', 'REDIS_URL'], 'reported with the other problems')
  t.notMatch(withPassword.message, 's3cret')
  for (const REDIS_URL of ['redis://127.0.0.1:6379', 'rediss://:password@cache.internal:6380/1', 'redis://cache']) {
    t.equal(resolveConfig({ ...base, TOKEN_STORE: 'redis', REDIS_URL }).redisUrl, REDIS_URL)
  }
})

t.test('URL problems name their variable and never quote the value', async (t) => {
  const base = validate({ UPSTREAM_URL: 'https://api.example.com' })
  const cases: Array<[Partial<EnvConfig>, Array<{ variable: string, message: string }>]> = [
    [{ UPSTREAM_URL: 'api.example.com' }, [{ variable: 'UPSTREAM_URL', message: 'must be an absolute http:// or https:// URL' }]],
    [{ UPSTREAM_URL: 'ftp://files.example.com' }, [{ variable: 'UPSTREAM_URL', message: 'must be an absolute http:// or https:// URL' }]],
    [{ UPSTREAM_URL: 'https://user:s3cret@api.example.com' }, [{ variable: 'UPSTREAM_URL', message: 'must not carry credentials' }]],
    [{ UPSTREAM_URL: 'https://user@api.example.com' }, [{ variable: 'UPSTREAM_URL', message: 'must not carry credentials' }]],
    [{ UPSTREAM_URL: 'https://api.example.com/v1?key=s3cret' }, [{ variable: 'UPSTREAM_URL', message: 'must not have a query string' }]],
    [{ TOKEN_REFRESH_URL: 'not a url' }, [{ variable: 'TOKEN_REFRESH_URL', message: 'must be an absolute http:// or https:// URL' }]],
    [{ TOKEN_REFRESH_URL: 'https://:pw@idp.example.com/refresh' }, [{ variable: 'TOKEN_REFRESH_URL', message: 'must not carry credentials' }]],
    [{ UPSTREAM_URL: '', TOKEN_REFRESH_URL: 'file:///etc/passwd' }, [
      { variable: 'UPSTREAM_URL', message: 'must be an absolute http:// or https:// URL' },
      { variable: 'TOKEN_REFRESH_URL', message: 'must be an absolute http:// or https:// URL' }
    ]]
  ]
  for (const [override, problems] of cases) {
    const err = configError({ ...base, ...override })
    t.same(err.problems, problems, JSON.stringify(override))
    t.notMatch(err.message, /s3cret|pw@/, 'no secret in the message')
  }
})

t.test('a query string on the refresh URL is allowed (some providers key tenants that way)', async (t) => {
  const config = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', TOKEN_REFRESH_URL: 'https://idp.example.com/refresh?tenant=a' }))
  t.equal(config.refreshUrl, 'https://idp.example.com/refresh?tenant=a')
})

t.test('an empty query mark is not a query string', async (t) => {
  t.equal(resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com/v1?' })).upstream.pathname, '/v1')
})

t.test('numbers that are not finite pass the schema (ajv skips its limits for them) and are refused here, naming the variable', async (t) => {
  for (const text of ['Infinity', '-Infinity', '1e400']) {
    const env = validate({ UPSTREAM_URL: 'https://api.example.com', PORT: text, TOKEN_REFRESH_INTERVAL: text, TOKEN_EXPIRY_BUFFER: text, TOKEN_REFRESH_TIMEOUT: text, UPSTREAM_TIMEOUT: text })
    t.equal(env.PORT, Number(text), `the schema let PORT=${text} through`)
    t.same(configError(env).problems.map((p) => p.variable).sort(),
      ['PORT', 'TOKEN_EXPIRY_BUFFER', 'TOKEN_REFRESH_INTERVAL', 'TOKEN_REFRESH_TIMEOUT', 'UPSTREAM_TIMEOUT'])
    t.same(new Set(configError(env).problems.map((p) => p.message)), new Set(['must be a finite number']))
  }
})

t.test('durations beyond what a timer can wait (2^31-1 ms, about 24.8 days) are refused, naming the variable', async (t) => {
  t.equal(MAX_TIMER_MS, 2 ** 31 - 1)
  const problems = problemsFromSchemaErrors(schemaErrors({
    UPSTREAM_URL: 'https://api.example.com',
    TOKEN_REFRESH_INTERVAL: '35792',
    TOKEN_REFRESH_TIMEOUT: '2147483648',
    UPSTREAM_TIMEOUT: '4294967296'
  }))
  t.same(problems, [
    { variable: 'TOKEN_REFRESH_INTERVAL', message: 'must be <= 35791' },
    { variable: 'TOKEN_REFRESH_TIMEOUT', message: 'must be <= 2147483647' },
    { variable: 'UPSTREAM_TIMEOUT', message: 'must be <= 2147483647' }
  ])
  const longest = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', TOKEN_REFRESH_INTERVAL: '35791', TOKEN_REFRESH_TIMEOUT: '2147483647', UPSTREAM_TIMEOUT: '2147483647' }))
  t.ok(longest.refreshIntervalMs <= MAX_TIMER_MS, 'the longest interval fits a timer')
  t.equal(longest.refreshTimeoutMs, MAX_TIMER_MS)
  t.equal(longest.upstreamTimeoutMs, MAX_TIMER_MS)
})

t.test('UPSTREAM_URL is required without TOKENGATE_CONFIG, and says what it is for', async (t) => {
  // The schema cannot require it: with TOKENGATE_CONFIG it must stay unset (test/config/configFileVariable.test.ts).
  t.same(configError(validate({})).problems, [{
    variable: 'UPSTREAM_URL',
    message: 'is required (the base URL of the API to forward to, e.g. https://api.example.com/v1)'
  }])
  t.same(configError(validate({ TOKENGATE_CONFIG: '  ' })).problems.map((p) => p.variable), ['UPSTREAM_URL'], 'a blank TOKENGATE_CONFIG is no file')
})

t.test('problemsFromSchemaErrors, from the real schema validator', async (t) => {
  t.test('a missing required variable says what it is for', async (t) => {
    t.same(problemsFromSchemaErrors([{ instancePath: '', keyword: 'required', params: { missingProperty: 'UPSTREAM_URL' } }]), [{
      variable: 'UPSTREAM_URL',
      message: 'is required (the base URL of the API to forward to, e.g. https://api.example.com/v1)'
    }])
  })
  t.test('one problem per invalid variable, all of them at once', async (t) => {
    const problems = problemsFromSchemaErrors(schemaErrors({
      UPSTREAM_URL: 'https://api.example.com',
      TOKEN_STORE: 'redis-cluster',
      LOG_LEVEL: 'loud',
      PORT: '70000',
      TOKEN_REFRESH_INTERVAL: '0',
      TOKEN_REFRESH_TIMEOUT: 'ten'
    }))
    t.same(problems, [
      { variable: 'TOKEN_REFRESH_INTERVAL', message: 'must be > 0' },
      { variable: 'TOKEN_REFRESH_TIMEOUT', message: 'must be integer' },
      { variable: 'TOKEN_STORE', message: 'must be one of: file, memory, redis' },
      { variable: 'PORT', message: 'must be <= 65535' },
      { variable: 'LOG_LEVEL', message: 'must be one of: fatal, error, warn, info, debug, trace, silent' }
    ])
  })
  t.test('a required variable without a known purpose', async (t) => {
    t.same(problemsFromSchemaErrors([{ instancePath: '', keyword: 'required', params: { missingProperty: 'SOMETHING_NEW' } }]),
      [{ variable: 'SOMETHING_NEW', message: 'is required' }])
  })
  t.test('an error without a message', async (t) => {
    t.same(problemsFromSchemaErrors([{ instancePath: '/HOST', keyword: 'custom', params: {} }]),
      [{ variable: 'HOST', message: 'is invalid' }])
  })
  t.test('no errors, no problems', async (t) => {
    t.same(problemsFromSchemaErrors([]), [])
  })
})

t.test('a buffer whose milliseconds would overflow is refused, naming TOKEN_EXPIRY_BUFFER', async (t) => {
  // Found by the property test: 2.9961552247705267e+303 minutes is finite, its milliseconds are not.
  const { buildApp } = await import('../../src/app.js')
  const err = await buildApp({ env: { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', TOKEN_STORE: 'memory', TOKEN_EXPIRY_BUFFER: '2.9961552247705267e+303' }, logStream: { write: () => {} } })
    .then(async (app) => { await app.close(); return null }, (e: unknown) => e as { problems: Array<{ variable: string }> })
  t.same(err?.problems.map((p) => p.variable), ['TOKEN_EXPIRY_BUFFER'])
})

t.test('OpenTelemetry: the endpoint is an http(s) URL or unset; a blank service name is the default', async (t) => {
  const on = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', OTEL_EXPORTER_OTLP_ENDPOINT: ' http://collector:4318 ', OTEL_SERVICE_NAME: ' gateway-eu ' }))
  t.equal(on.otelEndpoint?.href, 'http://collector:4318/')
  t.equal(on.otelServiceName, 'gateway-eu')
  const blank = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com', OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_SERVICE_NAME: '   ' }))
  t.equal(blank.otelEndpoint, null, 'blank: tracing off')
  t.equal(blank.otelServiceName, 'tokengate')
  t.same(configError(validate({ UPSTREAM_URL: 'https://api.example.com', OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' })).problems,
    [{ variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', message: 'must be an absolute http:// or https:// URL' }])
})

t.test('client authentication defaults: no OAUTH_CLIENT_AUTH keeps HTTP Basic with a secret, client_id alone without', async (t) => {
  const confidential = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com/v2', TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gw', OAUTH_CLIENT_SECRET: 's' }))
  t.same(confidential.oauthClient, { clientId: 'gw', clientSecret: 's', scope: null }, 'no auth: client_secret_basic')
  const publicClient = resolveConfig(validate({ UPSTREAM_URL: 'https://api.example.com/v2', TOKEN_REFRESH_STYLE: 'oauth2', OAUTH_CLIENT_ID: 'spa' }))
  t.same(publicClient.oauthClient, { clientId: 'spa', clientSecret: null, scope: null }, 'no auth, no secret: none')
})
