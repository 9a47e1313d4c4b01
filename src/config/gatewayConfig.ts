// From a schema-valid environment to the typed settings the app uses, with the checks JSON
// schema cannot express. Every problem names its variable; none quotes a secret.
import { resolve as resolvePath } from 'node:path'
import { ConfigError, type ConfigProblem } from '../errors.js'
import type { RefreshStyle } from '../grants/refreshGrant.js'
import type { TokenStoreKind } from '../stores/tokenStore.js'
import { VARIABLE_PURPOSE, type EnvConfig } from './schema.js'

export interface GatewayConfig {
  upstream: URL
  authToken: string | null
  refreshToken: string | null
  refreshUrl: string
  refreshStyle: RefreshStyle
  refreshIntervalMs: number
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
  logLevel: EnvConfig['LOG_LEVEL']
}

export function resolveConfig (env: EnvConfig): GatewayConfig {
  const problems: ConfigProblem[] = []
  const upstream = parseHttpUrl(env.UPSTREAM_URL, 'UPSTREAM_URL', problems)
  const refreshUrl = parseHttpUrl(env.TOKEN_REFRESH_URL, 'TOKEN_REFRESH_URL', problems)
  if (env.TOKEN_STORE === 'redis') parseRedisUrl(env.REDIS_URL, problems)
  if (upstream?.search) {
    problems.push({ variable: 'UPSTREAM_URL', message: 'must not have a query string' })
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return {
    upstream: upstream!,
    authToken: nonEmpty(env.AUTH_TOKEN),
    refreshToken: nonEmpty(env.REFRESH_TOKEN),
    refreshUrl: refreshUrl!.href,
    refreshStyle: env.TOKEN_REFRESH_STYLE,
    refreshIntervalMs: env.TOKEN_REFRESH_INTERVAL * 60_000,
    expiryBufferMs: env.TOKEN_EXPIRY_BUFFER * 60_000,
    refreshTimeoutMs: env.TOKEN_REFRESH_TIMEOUT,
    store: env.TOKEN_STORE,
    storePath: resolvePath(env.TOKEN_STORE_PATH),
    redisUrl: env.REDIS_URL,
    storeKey: env.TOKEN_STORE_KEY,
    adminKey: nonEmpty(env.GATEWAY_ADMIN_KEY),
    host: env.HOST,
    port: env.PORT,
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT,
    logLevel: env.LOG_LEVEL
  }
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
