// From a schema-valid environment to the typed settings the app uses, with the checks JSON
// schema cannot express. Every problem names its variable; none quotes a secret.
import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import { ConfigError, type ConfigProblem } from '../errors.js'
import type { ClientAuthMethod, SigningAlg } from '../grants/clientAuth.js'
import type { RefreshStyle } from '../grants/refreshGrant.js'
import type { TokenStoreKind } from '../stores/tokenStore.js'
import { definitionFromEnvironment, type GatewayDefinition } from './gatewayDefinition.js'
import { loadGatewayFile, type GatewayFileDefaults, type Variables } from './gatewayFile.js'
import { SCOPE_PROBLEM, normaliseScope } from './oauthScope.js'
import { RESOURCE_PROBLEM, resourcesValid, splitList } from './tokenTargets.js'
import { resolveClientAuth, type ClientAuthConfig, type ClientAuthKey } from './clientAuthConfig.js'
import { CERTIFICATE_NEEDS_TLS, checkClientCertificate } from './clientCertificateConfig.js'
import type { ClientCertificateFiles } from '../utils/clientCertificate.js'
import { resolveSubjectToken, type SubjectTokenConfig } from './subjectTokenConfig.js'
import { VARIABLE_PURPOSE, configSchema, type EnvConfig } from './schema.js'

export type TokenGrantKind = 'refresh_token' | 'client_credentials' | 'token_exchange'

/** True for the grants that obtain tokens by themselves, needing neither AUTH_TOKEN nor a refresh token. */
export function obtainsOwnTokens (grant: TokenGrantKind): boolean {
  return grant !== 'refresh_token'
}

export const AUTH_TOKEN_REQUIRED = 'is required (the initial access token, JWT or opaque): the token store holds none'

/** OAuth 2.0 client authentication (RFC 6749 §2.3.1) and the scope to ask for. */
export interface OAuthClientConfig {
  clientId: string
  /** Null for a public client: its id then travels in the form body instead of HTTP Basic. */
  clientSecret: string | null
  scope: string | null
  /** Set when a method was chosen (OAUTH_CLIENT_AUTH, clientAuth); absent: as above. */
  auth?: ClientAuthConfig
  /** Sent with every token request, one parameter per value (RFC 8693 audience); set only when given. */
  audience?: string[]
  /** As audience: absolute URIs without a fragment (RFC 8707 resource). */
  resource?: string[]
  /** token_exchange: the token exchanged (src/config/subjectTokenConfig.ts); set for that grant only. */
  subjectToken?: SubjectTokenConfig
}

/**
 * The gateway's settings. The fields of the single credential (upstream, authToken, refreshToken,
 * refreshUrl, refreshStyle, tokenGrant, oauthClient) come from the environment; with
 * TOKENGATE_CONFIG, from the file's first route and its credential, so that `upstream` stays a URL
 * for the code that knows one upstream. What the gateway fronts, every route and credential, is
 * its GatewayDefinition (src/config/gatewayDefinition.ts).
 */
export interface GatewayConfig {
  upstream: URL
  /**
   * Absolute path of TOKENGATE_CONFIG's file; null when the environment alone configures the
   * gateway. With a file the stores keep each credential apart by its name.
   */
  configFile: string | null
  authToken: string | null
  refreshToken: string | null
  refreshUrl: string
  /** What health reports and which exchange runs: TOKEN_GRANT=client_credentials or token_exchange wins over TOKEN_REFRESH_STYLE. */
  refreshStyle: RefreshStyle
  tokenGrant: TokenGrantKind
  /** Set for the oauth2, client_credentials and token_exchange styles, null for json. */
  oauthClient: OAuthClientConfig | null
  /** TOKEN_REFRESH_INTERVAL, also the default of the file's credentials. */
  refreshIntervalMs: number
  /** TOKEN_EXPIRY_BUFFER, also the default of the file's credentials. */
  expiryBufferMs: number
  refreshTimeoutMs: number
  store: TokenStoreKind
  /** Absolute path of the file store. */
  storePath: string
  redisUrl: string
  storeKey: string
  /** Enables the admin routes; null when unset. */
  adminKey: string | null
  host: string
  port: number
  upstreamTimeoutMs: number
  /** Client keys for proxied routes (GATEWAY_API_KEYS); empty when none are required. */
  apiKeys: string[]
  /** PEM text of UPSTREAM_CA_FILE, trusted in addition to the system's CAs; null when unset. */
  upstreamCa: string | null
  /** UPSTREAM_CLIENT_CERT_FILE and UPSTREAM_CLIENT_KEY_FILE: the single route's client certificate; null when unset. */
  upstreamClientCertificate: ClientCertificateFiles | null
  /** Requests in flight to the upstream at once; more wait for a free connection, up to upstreamTimeoutMs. */
  upstreamMaxConnections: number
  /** How long a client may send nothing while its request (head or body) is incomplete. */
  clientTimeoutMs: number
  /** How long an idle keep-alive connection of a client stays open. */
  clientKeepAliveTimeoutMs: number
  /** Requests served on one client connection before it is closed; 0: no limit. */
  clientMaxRequestsPerConnection: number
  /** Connections the kernel holds for the gateway before it accepts them (capped by net.core.somaxconn). */
  clientListenBacklog: number
  /** Bytes of request bodies held at once for a 401 replay, over all requests. */
  replayBufferTotalBytes: number
  /** Largest WebSocket message relayed, either way. */
  wsMaxMessageBytes: number
  /** Largest access token the gateway accepts (it travels in a header). */
  accessTokenMaxBytes: number
  /** Where traces go (OTLP over HTTP); null: tracing is off. */
  otelEndpoint: URL | null
  otelServiceName: string
  logLevel: EnvConfig['LOG_LEVEL']
}

// The variables the schema reads as numbers.
const NUMERIC_VARIABLES = Object.entries(configSchema.properties)
  .filter(([, property]) => property.type === 'number' || property.type === 'integer')
  .map(([variable]) => variable as keyof EnvConfig)

/** The environment's settings; with TOKENGATE_CONFIG, its file is read too (`variables` fill its `${VAR}`). */
export function resolveConfig (env: EnvConfig, variables: Variables = {}): GatewayConfig {
  return resolveGateway(env, variables).config
}

export interface ResolvedGateway {
  config: GatewayConfig
  definition: GatewayDefinition
  /**
   * Reads the definition again (on SIGHUP) with the same environment: TOKENGATE_CONFIG's file as
   * it is now, or, without one, the environment's single route. Throws ConfigError; applies nothing.
   */
  reload: () => GatewayDefinition
}

/**
 * The typed settings and what the gateway fronts, with every problem of the environment and of
 * TOKENGATE_CONFIG's file in one ConfigError. `variables` is the whole environment (process.env
 * and .env), which the file's `${VAR}` are read from.
 */
export function resolveGateway (env: EnvConfig, variables: Variables): ResolvedGateway {
  const problems: ConfigProblem[] = []
  // ajv coerces "Infinity" or "1e400" to Infinity and then skips minimum and maximum, which it
  // checks only for finite numbers: PORT=Infinity or TOKEN_REFRESH_INTERVAL=1e400 would pass.
  for (const variable of NUMERIC_VARIABLES) {
    if (!Number.isFinite(env[variable])) problems.push({ variable, message: 'must be a finite number' })
  }
  const configText = nonEmpty(env.TOKENGATE_CONFIG)
  const configFile = configText === null ? null : resolvePath(configText)
  // With a file, its credentials replace the variables of the single one, which are not even checked.
  const single = configFile === null ? resolveSingleCredential(env, problems) : null
  if (configFile !== null && nonEmpty(env.UPSTREAM_URL) !== null) {
    problems.push({ variable: 'UPSTREAM_URL', message: 'must not be set together with TOKENGATE_CONFIG: the file names each route\'s upstream' })
  }
  if (env.TOKEN_STORE === 'redis') parseRedisUrl(env.REDIS_URL, problems)
  const apiKeys = parseApiKeys(env.GATEWAY_API_KEYS, problems)
  const upstreamCa = readCaFile(nonEmpty(env.UPSTREAM_CA_FILE), problems)
  const upstreamClientCertificate = resolveUpstreamClientCertificate(env, configFile !== null, problems)
  const otelUrl = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT)
  const otelEndpoint = otelUrl === null ? null : parseHttpUrl(otelUrl, 'OTEL_EXPORTER_OTLP_ENDPOINT', problems)
  const defaults = fileDefaults(env)
  const readFile = (): GatewayDefinition => loadGatewayFile(configFile!, variables, defaults)
  let fromFile: GatewayDefinition | null = null
  if (configFile !== null) {
    try {
      fromFile = readFile()
    } catch (err) {
      // loadGatewayFile fails only with a ConfigError.
      problems.push(...(err as ConfigError).problems)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const config: GatewayConfig = {
    ...(single ?? firstRoute(fromFile!)),
    configFile,
    refreshIntervalMs: defaults.refreshIntervalMs,
    expiryBufferMs: defaults.expiryBufferMs,
    refreshTimeoutMs: env.TOKEN_REFRESH_TIMEOUT,
    store: env.TOKEN_STORE,
    storePath: resolvePath(env.TOKEN_STORE_PATH),
    redisUrl: env.REDIS_URL,
    storeKey: env.TOKEN_STORE_KEY,
    adminKey: nonEmpty(env.GATEWAY_ADMIN_KEY),
    host: env.HOST,
    port: env.PORT,
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT,
    apiKeys,
    upstreamCa,
    upstreamClientCertificate,
    upstreamMaxConnections: env.UPSTREAM_MAX_CONNECTIONS,
    clientTimeoutMs: env.CLIENT_TIMEOUT,
    clientKeepAliveTimeoutMs: env.CLIENT_KEEP_ALIVE_TIMEOUT,
    clientMaxRequestsPerConnection: env.CLIENT_MAX_REQUESTS_PER_CONNECTION,
    clientListenBacklog: env.CLIENT_LISTEN_BACKLOG,
    replayBufferTotalBytes: env.REPLAY_BUFFER_TOTAL,
    wsMaxMessageBytes: env.WS_MAX_MESSAGE,
    accessTokenMaxBytes: env.ACCESS_TOKEN_MAX_SIZE,
    otelEndpoint,
    otelServiceName: nonEmpty(env.OTEL_SERVICE_NAME) ?? configSchema.properties.OTEL_SERVICE_NAME.default,
    logLevel: env.LOG_LEVEL
  }
  if (fromFile === null) {
    const definition = definitionFromEnvironment(config)
    return { config, definition, reload: () => definition }
  }
  return { config, definition: fromFile, reload: readFile }
}

/** What the file's credentials and routes leave unsaid, from the environment. */
export function fileDefaults (env: EnvConfig): GatewayFileDefaults {
  return {
    expiryBufferMs: env.TOKEN_EXPIRY_BUFFER * 60_000,
    refreshIntervalMs: env.TOKEN_REFRESH_INTERVAL * 60_000,
    timeoutMs: env.UPSTREAM_TIMEOUT,
    accessTokenMaxBytes: env.ACCESS_TOKEN_MAX_SIZE
  }
}

/** The fields of the environment's one route and credential (UPSTREAM_URL, AUTH_TOKEN, …). */
type SingleCredential = Pick<GatewayConfig, 'upstream' | 'authToken' | 'refreshToken' | 'refreshUrl' | 'refreshStyle' | 'tokenGrant' | 'oauthClient'>

function resolveSingleCredential (env: EnvConfig, problems: ConfigProblem[]): SingleCredential | null {
  const upstream = env.UPSTREAM_URL === undefined
    ? missing('UPSTREAM_URL', problems)
    : parseHttpUrl(env.UPSTREAM_URL, 'UPSTREAM_URL', problems)
  const refreshUrl = parseHttpUrl(env.TOKEN_REFRESH_URL, 'TOKEN_REFRESH_URL', problems)
  if (upstream?.search) {
    problems.push({ variable: 'UPSTREAM_URL', message: 'must not have a query string' })
  }
  const refreshStyle: RefreshStyle = obtainsOwnTokens(env.TOKEN_GRANT) ? env.TOKEN_GRANT as RefreshStyle : env.TOKEN_REFRESH_STYLE
  const oauthClient = resolveOAuthClient(env, refreshStyle, refreshUrl, problems)
  const authToken = nonEmpty(env.AUTH_TOKEN)
  // A limit that is no finite number is reported on its own (above), not as AUTH_TOKEN's problem.
  if (authToken !== null && Number.isFinite(env.ACCESS_TOKEN_MAX_SIZE) && Buffer.byteLength(authToken) > env.ACCESS_TOKEN_MAX_SIZE) {
    problems.push({ variable: 'AUTH_TOKEN', message: `is ${Buffer.byteLength(authToken)} bytes, more than ACCESS_TOKEN_MAX_SIZE (${env.ACCESS_TOKEN_MAX_SIZE}): it could not travel in a header` })
  }
  if (upstream === null || refreshUrl === null) return null
  return { upstream, authToken, refreshToken: nonEmpty(env.REFRESH_TOKEN), refreshUrl: refreshUrl.href, refreshStyle, tokenGrant: env.TOKEN_GRANT, oauthClient }
}

/**
 * Until requests are routed by path, the code written for one upstream and one credential
 * serves the file's first route with its credential: GatewayConfig stays typed for one.
 */
function firstRoute (definition: GatewayDefinition): SingleCredential {
  const route = definition.routes[0]
  // The file is checked: every route names one of its credentials.
  const credential = definition.credentials.find((candidate) => candidate.name === route.credential)!
  return {
    upstream: route.upstream,
    authToken: credential.accessToken,
    refreshToken: credential.refreshToken,
    refreshUrl: credential.refreshUrl,
    refreshStyle: credential.refreshStyle,
    tokenGrant: credential.tokenGrant,
    oauthClient: credential.oauthClient
  }
}

function missing (variable: string, problems: ConfigProblem[]): null {
  problems.push({ variable, message: `is required (${VARIABLE_PURPOSE[variable]})` })
  return null
}

/**
 * AUTH_TOKEN missing where no store can hold tokens yet (memory, or a token file that does not
 * exist), so start-up reports it beside the other problems; a store that may hold tokens is read
 * first (plugins/token.ts).
 */
export function missingAuthToken (env: EnvConfig): ConfigProblem | null {
  // With TOKENGATE_CONFIG, AUTH_TOKEN is not read: each credential of the file has its own.
  if (nonEmpty(env.TOKENGATE_CONFIG) !== null) return null
  if (nonEmpty(env.AUTH_TOKEN) !== null || obtainsOwnTokens(env.TOKEN_GRANT)) return null
  const noStoredTokens = env.TOKEN_STORE === 'memory' || (env.TOKEN_STORE === 'file' && !existsSync(resolvePath(env.TOKEN_STORE_PATH)))
  return noStoredTokens ? { variable: 'AUTH_TOKEN', message: AUTH_TOKEN_REQUIRED } : null
}

const CLIENT_AUTH_VARIABLES: Record<ClientAuthKey, string> = {
  clientAuth: 'OAUTH_CLIENT_AUTH',
  clientSecret: 'OAUTH_CLIENT_SECRET',
  privateKeyFile: 'OAUTH_PRIVATE_KEY_FILE',
  keyId: 'OAUTH_KEY_ID',
  signingAlg: 'OAUTH_SIGNING_ALG',
  clientAssertionFile: 'OAUTH_CLIENT_ASSERTION_FILE',
  clientCertFile: 'OAUTH_CLIENT_CERT_FILE',
  clientKeyFile: 'OAUTH_CLIENT_KEY_FILE',
  tokenUrl: 'TOKEN_REFRESH_URL'
}

function resolveOAuthClient (env: EnvConfig, style: RefreshStyle, tokenUrl: URL | null, problems: ConfigProblem[]): OAuthClientConfig | null {
  if (style === 'json') {
    // Never sent: the seed's JSON refresh authenticates no client and names no audience.
    for (const variable of ['OAUTH_CLIENT_AUTH', 'OAUTH_AUDIENCE', 'OAUTH_RESOURCE', 'OAUTH_CLIENT_CERT_FILE', 'OAUTH_CLIENT_KEY_FILE'] as const) {
      if (nonEmpty(env[variable]) !== null) problems.push({ variable, message: 'is used only with TOKEN_REFRESH_STYLE=oauth2 or TOKEN_GRANT=client_credentials or token_exchange' })
    }
    subjectTokenOf(env, style, problems)
    return null
  }
  const because = style === 'oauth2' ? 'TOKEN_REFRESH_STYLE=oauth2' : `TOKEN_GRANT=${style}`
  const clientId = nonEmpty(env.OAUTH_CLIENT_ID)
  const clientSecret = nonEmpty(env.OAUTH_CLIENT_SECRET)
  if (clientId === null) {
    problems.push({ variable: 'OAUTH_CLIENT_ID', message: `is required when ${because} (${VARIABLE_PURPOSE.OAUTH_CLIENT_ID})` })
  }
  const auth = resolveClientAuth({
    method: (nonEmpty(env.OAUTH_CLIENT_AUTH) ?? undefined) as ClientAuthMethod | undefined,
    hasSecret: clientSecret !== null,
    privateKeyFile: nonEmpty(env.OAUTH_PRIVATE_KEY_FILE) ?? undefined,
    keyId: nonEmpty(env.OAUTH_KEY_ID) ?? undefined,
    signingAlg: (nonEmpty(env.OAUTH_SIGNING_ALG) ?? undefined) as SigningAlg | undefined,
    clientAssertionFile: nonEmpty(env.OAUTH_CLIENT_ASSERTION_FILE) ?? undefined,
    clientCertFile: nonEmpty(env.OAUTH_CLIENT_CERT_FILE) ?? undefined,
    clientKeyFile: nonEmpty(env.OAUTH_CLIENT_KEY_FILE) ?? undefined,
    tokenUrl,
    clientCredentials: style === 'client_credentials'
  }, {
    names: CLIENT_AUTH_VARIABLES,
    report: (key, message) => { problems.push({ variable: CLIENT_AUTH_VARIABLES[key], message }) },
    field: (key) => CLIENT_AUTH_VARIABLES[key],
    directory: process.cwd()
  })
  // RFC 6749 §4.4: the client credentials grant is for confidential clients only; a chosen
  // method has had its own needs checked above.
  if (auth === undefined && clientSecret === null && style === 'client_credentials') {
    problems.push({ variable: 'OAUTH_CLIENT_SECRET', message: `is required when ${because} (${VARIABLE_PURPOSE.OAUTH_CLIENT_SECRET})` })
  }
  const scope = normaliseScope(env.OAUTH_SCOPE ?? '')
  if (scope === undefined) problems.push({ variable: 'OAUTH_SCOPE', message: SCOPE_PROBLEM })
  const audience = listVariable(env, 'OAUTH_AUDIENCE', problems)
  const resource = listVariable(env, 'OAUTH_RESOURCE', problems)
  if (resource !== undefined && !resourcesValid(resource)) problems.push({ variable: 'OAUTH_RESOURCE', message: RESOURCE_PROBLEM })
  const subjectToken = subjectTokenOf(env, style, problems)
  if (clientId === null) return null
  const client: OAuthClientConfig = { clientId, clientSecret, scope: scope ?? null }
  if (auth !== undefined) client.auth = auth
  if (audience !== undefined) client.audience = audience
  if (resource !== undefined) client.resource = resource
  if (subjectToken !== null) client.subjectToken = subjectToken
  return client
}

const SUBJECT_TOKEN_VARIABLES = {
  grant: 'TOKEN_GRANT',
  subjectTokenFile: 'OAUTH_SUBJECT_TOKEN_FILE',
  subjectTokenType: 'OAUTH_SUBJECT_TOKEN_TYPE'
} as const

function subjectTokenOf (env: EnvConfig, style: RefreshStyle, problems: ConfigProblem[]): SubjectTokenConfig | null {
  return resolveSubjectToken({
    file: nonEmpty(env.OAUTH_SUBJECT_TOKEN_FILE) ?? undefined,
    type: nonEmpty(env.OAUTH_SUBJECT_TOKEN_TYPE) ?? undefined,
    tokenExchange: style === 'token_exchange'
  }, {
    names: SUBJECT_TOKEN_VARIABLES,
    report: (key, message) => { problems.push({ variable: SUBJECT_TOKEN_VARIABLES[key], message }) },
    field: SUBJECT_TOKEN_VARIABLES.subjectTokenFile,
    directory: process.cwd()
  })
}

// Comma-separated values; undefined when unset or blank, a problem when only commas.
function listVariable (env: EnvConfig, variable: 'OAUTH_AUDIENCE' | 'OAUTH_RESOURCE', problems: ConfigProblem[]): string[] | undefined {
  const text = nonEmpty(env[variable])
  if (text === null) return undefined
  const values = splitList(text)
  if (values === null) problems.push({ variable, message: 'must list at least one value (comma-separated)' })
  return values ?? undefined
}

// A key travels in a header: visible ASCII, and no comma, which separates the keys.
const API_KEY = /^[\x21-\x2B\x2D-\x7E]+$/

function parseApiKeys (value: string | undefined, problems: ConfigProblem[]): string[] {
  if (nonEmpty(value) === null) return []
  const keys = value!.split(',').map((key) => key.trim()).filter((key) => key !== '')
  if (keys.length === 0) {
    problems.push({ variable: 'GATEWAY_API_KEYS', message: 'must list at least one key (comma-separated)' })
  } else if (!keys.every((key) => API_KEY.test(key))) {
    problems.push({ variable: 'GATEWAY_API_KEYS', message: 'must hold keys of visible ASCII characters without spaces, separated by commas' })
  }
  return keys
}

/**
 * UPSTREAM_CLIENT_CERT_FILE and UPSTREAM_CLIENT_KEY_FILE, both or neither: the client certificate
 * the single route presents to its upstream. A file's routes name their own.
 */
function resolveUpstreamClientCertificate (env: EnvConfig, withFile: boolean, problems: ConfigProblem[]): ClientCertificateFiles | null {
  const certFile = nonEmpty(env.UPSTREAM_CLIENT_CERT_FILE)
  const keyFile = nonEmpty(env.UPSTREAM_CLIENT_KEY_FILE)
  const given = { UPSTREAM_CLIENT_CERT_FILE: certFile, UPSTREAM_CLIENT_KEY_FILE: keyFile }
  if (withFile) {
    for (const [variable, value] of Object.entries(given)) {
      if (value !== null) problems.push({ variable, message: 'must not be set together with TOKENGATE_CONFIG: a route of the file names its own clientCertFile and clientKeyFile' })
    }
    return null
  }
  if (certFile === null && keyFile === null) return null
  if (env.UPSTREAM_URL !== undefined && URL.canParse(env.UPSTREAM_URL.trim()) && new URL(env.UPSTREAM_URL.trim()).protocol === 'http:') {
    problems.push({ variable: 'UPSTREAM_URL', message: `must be an https URL when UPSTREAM_CLIENT_CERT_FILE is set (${CERTIFICATE_NEEDS_TLS})` })
  }
  if (certFile === null || keyFile === null) {
    // Named on the variable that was set: that is the one the operator wrote and will look for.
    const [variable, missing] = certFile === null ? ['UPSTREAM_CLIENT_KEY_FILE', 'UPSTREAM_CLIENT_CERT_FILE'] : ['UPSTREAM_CLIENT_CERT_FILE', 'UPSTREAM_CLIENT_KEY_FILE']
    problems.push({ variable, message: `needs ${missing} beside it (a client certificate needs both files)` })
    return null
  }
  const paths = checkClientCertificate({ certFile, keyFile, directory: process.cwd(), certName: 'UPSTREAM_CLIENT_CERT_FILE' }, (file, message) => {
    problems.push({ variable: file === 'cert' ? 'UPSTREAM_CLIENT_CERT_FILE' : 'UPSTREAM_CLIENT_KEY_FILE', message })
  })
  return paths === null ? null : { ...paths, certField: 'UPSTREAM_CLIENT_CERT_FILE', keyField: 'UPSTREAM_CLIENT_KEY_FILE' }
}

function readCaFile (path: string | null, problems: ConfigProblem[]): string | null {
  if (path === null) return null
  let pem: string
  try {
    pem = readFileSync(path, 'utf8')
  } catch (err) {
    problems.push({ variable: 'UPSTREAM_CA_FILE', message: `cannot be read (${(err as NodeJS.ErrnoException).code})` })
    return null
  }
  try {
    // Parsing is the check: a key, a garbled file or a DER file fails here, not at the first request.
    // eslint-disable-next-line no-new
    new X509Certificate(pem)
  } catch {
    problems.push({ variable: 'UPSTREAM_CA_FILE', message: 'must be a PEM file holding at least one CERTIFICATE' })
    return null
  }
  return pem
}

function nonEmpty (value: string | undefined): string | null {
  return value === undefined || value.trim() === '' ? null : value.trim()
}

function parseRedisUrl (value: string, problems: ConfigProblem[]): void {
  let url: URL | null = null
  try {
    url = new URL(value)
  } catch {}
  if (url === null || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    problems.push({ variable: 'REDIS_URL', message: 'must be a redis:// or rediss:// URL' })
  }
}

function parseHttpUrl (value: string, variable: string, problems: ConfigProblem[]): URL | null {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    problems.push({ variable, message: 'must be an absolute http:// or https:// URL' })
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push({ variable, message: 'must be an absolute http:// or https:// URL' })
    return null
  }
  if (url.username || url.password) {
    problems.push({ variable, message: 'must not carry credentials' })
    return null
  }
  return url
}

/** Error objects of ajv, as env-schema attaches them to its error. */
export interface SchemaError {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

/** One problem per ajv error, each naming the variable it is about. */
export function problemsFromSchemaErrors (errors: SchemaError[]): ConfigProblem[] {
  return errors.map((error) => {
    if (error.keyword === 'required') {
      const variable = String(error.params.missingProperty)
      const purpose = VARIABLE_PURPOSE[variable]
      return { variable, message: `is required${purpose ? ` (${purpose})` : ''}` }
    }
    const variable = error.instancePath.replace(/^\//, '')
    if (error.keyword === 'enum') {
      const allowed = (error.params.allowedValues as unknown[]).join(', ')
      return { variable, message: `must be one of: ${allowed}` }
    }
    return { variable, message: error.message ?? 'is invalid' }
  })
}
