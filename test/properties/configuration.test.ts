// Properties of configuration parsing, through the real config plugin (@fastify/env over the
// schema, then resolveConfig): every variable, given any text, yields either a value the gateway
// can use or a ConfigError whose every problem names that variable.
import { isAbsolute } from 'node:path'
import fc from 'fast-check'
import Fastify from 'fastify'
import t from 'tap'
import configPlugin from '../../plugins/config.js'
import type { GatewayConfig } from '../../src/config/gatewayConfig.js'
import { configSchema } from '../../src/config/schema.js'
import { CLIENT_AUTH_METHODS, SIGNING_ALGS } from '../../src/grants/clientAuth.js'
import { ConfigError } from '../../src/errors.js'

// The most a timer can wait: Node turns a longer delay into 1 ms (TimeoutOverflowWarning).
const MAX_TIMER_MS = 2 ** 31 - 1
const NUM_RUNS = 40

// A valid environment for every style, so a problem can only come from the variable under test.
const BASE: Record<string, string> = {
  UPSTREAM_URL: 'https://api.example.com/v2',
  AUTH_TOKEN: 'opaque-token',
  OAUTH_CLIENT_ID: 'client',
  OAUTH_CLIENT_SECRET: 'secret'
}

const finiteIn = (value: number, min: number, max: number): boolean => Number.isFinite(value) && value >= min && value <= max

/** What "a value the gateway can use" means, per variable. */
const USABLE: Record<string, (config: GatewayConfig) => boolean> = {
  UPSTREAM_URL: (c) => ['http:', 'https:'].includes(c.upstream.protocol) && c.upstream.search === '',
  TOKENGATE_CONFIG: (c) => c.configFile === null || isAbsolute(c.configFile),
  AUTH_TOKEN: (c) => c.authToken === null || c.authToken.trim() !== '',
  REFRESH_TOKEN: (c) => c.refreshToken === null || c.refreshToken.trim() !== '',
  TOKEN_REFRESH_URL: (c) => /^https?:\/\//.test(c.refreshUrl),
  TOKEN_REFRESH_STYLE: (c) => ['json', 'oauth2'].includes(c.refreshStyle),
  TOKEN_GRANT: (c) => ['refresh_token', 'client_credentials', 'token_exchange'].includes(c.tokenGrant),
  OAUTH_CLIENT_ID: () => true,
  OAUTH_CLIENT_SECRET: () => true,
  OAUTH_SCOPE: () => true,
  // Alone, neither file of a client certificate makes one: the other is missing.
  OAUTH_CLIENT_CERT_FILE: (c) => c.oauthClient?.auth?.clientCertificate === undefined,
  OAUTH_CLIENT_KEY_FILE: (c) => c.oauthClient?.auth?.clientCertificate === undefined,
  UPSTREAM_CLIENT_CERT_FILE: (c) => c.upstreamClientCertificate === null,
  UPSTREAM_CLIENT_KEY_FILE: (c) => c.upstreamClientCertificate === null,
  // The base environment's grant is refresh_token: a subject token is never taken.
  OAUTH_SUBJECT_TOKEN_FILE: (c) => c.oauthClient?.subjectToken === undefined,
  OAUTH_SUBJECT_TOKEN_TYPE: (c) => c.oauthClient?.subjectToken === undefined,
  OAUTH_CLIENT_AUTH: (c) => c.oauthClient?.auth === undefined || (CLIENT_AUTH_METHODS as readonly string[]).includes(c.oauthClient.auth.method),
  OAUTH_PRIVATE_KEY_FILE: (c) => c.oauthClient?.auth?.privateKey == null || isAbsolute(c.oauthClient.auth.privateKey.path),
  OAUTH_KEY_ID: () => true,
  OAUTH_SIGNING_ALG: (c) => c.oauthClient?.auth?.privateKey == null || c.oauthClient.auth.privateKey.signingAlg === null || (SIGNING_ALGS as readonly string[]).includes(c.oauthClient.auth.privateKey.signingAlg),
  OAUTH_AUDIENCE: (c) => (c.oauthClient?.audience ?? ['a']).every((value) => value !== '' && value === value.trim()),
  OAUTH_RESOURCE: (c) => (c.oauthClient?.resource ?? []).every((value) => URL.canParse(value) && !value.includes('#')),
  OAUTH_CLIENT_ASSERTION_FILE: (c) => c.oauthClient?.auth?.assertionFile == null || isAbsolute(c.oauthClient.auth.assertionFile.path),
  TOKEN_REFRESH_INTERVAL: (c) => finiteIn(c.refreshIntervalMs, Number.MIN_VALUE, MAX_TIMER_MS),
  TOKEN_EXPIRY_BUFFER: (c) => finiteIn(c.expiryBufferMs, 0, Number.MAX_VALUE),
  TOKEN_REFRESH_TIMEOUT: (c) => Number.isInteger(c.refreshTimeoutMs) && finiteIn(c.refreshTimeoutMs, 1, MAX_TIMER_MS),
  TOKEN_STORE: (c) => ['file', 'memory', 'redis'].includes(c.store),
  TOKEN_STORE_PATH: (c) => c.storePath.startsWith('/'),
  REDIS_URL: () => true,
  TOKEN_STORE_KEY: (c) => c.storeKey.length > 0,
  GATEWAY_ADMIN_KEY: (c) => c.adminKey === null || c.adminKey.trim() !== '',
  HOST: (c) => c.host.length > 0,
  PORT: (c) => Number.isInteger(c.port) && finiteIn(c.port, 0, 65_535),
  GATEWAY_API_KEYS: (c) => c.apiKeys.every((key) => /^[\x21-\x2B\x2D-\x7E]+$/.test(key)),
  UPSTREAM_TIMEOUT: (c) => Number.isInteger(c.upstreamTimeoutMs) && finiteIn(c.upstreamTimeoutMs, 1, MAX_TIMER_MS),
  UPSTREAM_CA_FILE: (c) => c.upstreamCa === null || c.upstreamCa.includes('CERTIFICATE'),
  UPSTREAM_MAX_CONNECTIONS: (c) => Number.isInteger(c.upstreamMaxConnections) && finiteIn(c.upstreamMaxConnections, 1, 1_000_000),
  CLIENT_TIMEOUT: (c) => Number.isInteger(c.clientTimeoutMs) && finiteIn(c.clientTimeoutMs, 1, MAX_TIMER_MS),
  CLIENT_KEEP_ALIVE_TIMEOUT: (c) => Number.isInteger(c.clientKeepAliveTimeoutMs) && finiteIn(c.clientKeepAliveTimeoutMs, 1, MAX_TIMER_MS),
  CLIENT_MAX_REQUESTS_PER_CONNECTION: (c) => Number.isInteger(c.clientMaxRequestsPerConnection) && finiteIn(c.clientMaxRequestsPerConnection, 0, 1e9),
  CLIENT_LISTEN_BACKLOG: (c) => Number.isInteger(c.clientListenBacklog) && finiteIn(c.clientListenBacklog, 1, 65_535),
  REPLAY_BUFFER_TOTAL: (c) => Number.isSafeInteger(c.replayBufferTotalBytes) && c.replayBufferTotalBytes >= 0,
  WS_MAX_MESSAGE: (c) => Number.isInteger(c.wsMaxMessageBytes) && finiteIn(c.wsMaxMessageBytes, 1, 1024 ** 3),
  ACCESS_TOKEN_MAX_SIZE: (c) => Number.isInteger(c.accessTokenMaxBytes) && finiteIn(c.accessTokenMaxBytes, 16, 1024 ** 2),
  OTEL_EXPORTER_OTLP_ENDPOINT: (c) => c.otelEndpoint === null || ['http:', 'https:'].includes(c.otelEndpoint.protocol),
  OTEL_SERVICE_NAME: () => true,
  LOG_LEVEL: (c) => ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(c.logLevel)
}

// Text as an operator might type it: anything at all, numbers in every notation JavaScript and
// JSON know (and a few they do not), URLs and near-URLs, and the values the schema lists.
const numberText = fc.oneof(
  fc.double().map(String),
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.constantFrom('Infinity', '-Infinity', '+Infinity', '1e400', '-1e400', 'NaN', '1e-400', '0x1F', '0b101', '0o17', '1_000',
    ' 5 ', '5 minutes', '-0', '.5', '5.', '007', '2147483647', '2147483648', '35791', '35792', '4294967296', '65535', '65536',
    '9007199254740993', '1e21', '')
)
const urlText = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.constantFrom('http://', 'https://user:pass@host/', 'ftp://host', 'redis://127.0.0.1:6379', 'rediss://h', 'http://[::1]:80/x',
    'http://exa mple.com', '//host/path', 'javascript:alert(1)', 'http://host/?', 'http://host:99999/')
)
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
  numberText,
  urlText,
  fc.constantFrom(...Object.values(configSchema.properties).flatMap((p) => ('enum' in p ? [...p.enum] : [])), ' ', ',', ',,', 'a,b', 'a b')
)

interface Outcome { config: GatewayConfig | null, error: unknown }

async function parse (env: Record<string, string>): Promise<Outcome> {
  const app = Fastify({ logger: false })
  try {
    await app.register(configPlugin, { env })
    await app.ready()
    return { config: app.gatewayConfig, error: null }
  } catch (error) {
    return { config: null, error }
  } finally {
    await app.close()
  }
}

t.test('the base environment is valid', async (t) => {
  const { config, error } = await parse(BASE)
  t.equal(error, null)
  for (const [variable, usable] of Object.entries(USABLE)) t.ok(usable(config!), `${variable} from the base environment is usable`)
})

t.test('every schema variable is covered here', async (t) => {
  t.same(Object.keys(USABLE).sort(), Object.keys(configSchema.properties).sort())
})

// TOKENGATE_CONFIG stands in for UPSTREAM_URL, which must then be unset; a blank one is no file,
// and UPSTREAM_URL is missing: the one problem that may name another variable.
const { UPSTREAM_URL: _upstream, ...WITHOUT_UPSTREAM } = BASE
const baseFor = (variable: string): Record<string, string> => variable === 'TOKENGATE_CONFIG' ? WITHOUT_UPSTREAM : BASE
// TOKEN_GRANT=token_exchange without its subject token file: the missing file is the problem.
const named = (variable: string, text: string): string => variable === 'TOKENGATE_CONFIG' && text.trim() === ''
  ? 'UPSTREAM_URL'
  : variable === 'TOKEN_GRANT' && text === 'token_exchange' ? 'OAUTH_SUBJECT_TOKEN_FILE' : variable
// Every value a variable lists is tried, besides the random ones.
const listed = (variable: string): Array<[string]> => {
  const property: object = configSchema.properties[variable as keyof typeof configSchema.properties]
  return 'enum' in property ? (property.enum as string[]).map((value) => [value]) : []
}

for (const variable of Object.keys(configSchema.properties)) {
  t.test(`${variable}: any text gives a usable value or an error naming ${variable}`, async (t) => {
    let values = 0
    let errors = 0
    await fc.assert(fc.asyncProperty(anyText, async (text) => {
      const { config, error } = await parse({ ...baseFor(variable), [variable]: text })
      if (error === null) {
        values++
        return USABLE[variable](config!)
      }
      errors++
      if (!(error instanceof ConfigError)) throw new Error(`not a ConfigError: ${String(error)}`)
      return error.problems.length > 0 && error.problems.every((problem) => problem.variable === named(variable, text))
    }), { numRuns: NUM_RUNS, examples: listed(variable) })
    t.pass(`${values} values, ${errors} errors`)
  })
}
