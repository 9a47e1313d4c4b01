// The one description of the environment (docs/configuration.md), read through
// @fastify/env / env-schema. Defaults live here and nowhere else.
import { CLIENT_AUTH_METHODS, SIGNING_ALGS, type ClientAuthMethod, type SigningAlg } from '../grants/clientAuth.js'

export const DEFAULT_TOKEN_REFRESH_URL = 'https://api.genies.com/auth/v2/refresh-session'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** The longest a timer can wait: Node fires a longer setTimeout after 1 ms, toad-scheduler refuses it. */
export const MAX_TIMER_MS = 2_147_483_647

// UPSTREAM_URL is required unless TOKENGATE_CONFIG names a file (which names each route's
// upstream, and then UPSTREAM_URL must stay unset): resolveConfig checks both, since a schema
// condition would report itself as an extra, nameless problem.
export const configSchema = {
  type: 'object',
  properties: {
    UPSTREAM_URL: { type: 'string' },
    TOKENGATE_CONFIG: { type: 'string' },
    AUTH_TOKEN: { type: 'string' },
    REFRESH_TOKEN: { type: 'string' },
    TOKEN_REFRESH_URL: { type: 'string', default: DEFAULT_TOKEN_REFRESH_URL },
    TOKEN_REFRESH_STYLE: { type: 'string', enum: ['json', 'oauth2'], default: 'json' },
    TOKEN_GRANT: { type: 'string', enum: ['refresh_token', 'client_credentials', 'token_exchange'], default: 'refresh_token' },
    OAUTH_CLIENT_ID: { type: 'string' },
    OAUTH_CLIENT_SECRET: { type: 'string' },
    OAUTH_SCOPE: { type: 'string' },
    OAUTH_CLIENT_AUTH: { type: 'string', enum: CLIENT_AUTH_METHODS },
    OAUTH_PRIVATE_KEY_FILE: { type: 'string' },
    OAUTH_KEY_ID: { type: 'string' },
    OAUTH_SIGNING_ALG: { type: 'string', enum: SIGNING_ALGS },
    OAUTH_CLIENT_ASSERTION_FILE: { type: 'string' },
    OAUTH_CLIENT_CERT_FILE: { type: 'string' },
    OAUTH_CLIENT_KEY_FILE: { type: 'string' },
    OAUTH_AUDIENCE: { type: 'string' },
    OAUTH_RESOURCE: { type: 'string' },
    OAUTH_SUBJECT_TOKEN_FILE: { type: 'string' },
    OAUTH_SUBJECT_TOKEN_TYPE: { type: 'string' },
    TOKEN_REFRESH_INTERVAL: { type: 'number', exclusiveMinimum: 0, maximum: Math.floor(MAX_TIMER_MS / 60_000), default: 30 },
    // Minutes; a buffer longer than the longest interval makes no sense and its milliseconds must stay finite.
    TOKEN_EXPIRY_BUFFER: { type: 'number', minimum: 0, maximum: Math.floor(MAX_TIMER_MS / 60_000), default: 5 },
    TOKEN_REFRESH_TIMEOUT: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: 10_000 },
    TOKEN_STORE: { type: 'string', enum: ['file', 'memory', 'redis'], default: 'file' },
    TOKEN_STORE_PATH: { type: 'string', minLength: 1, default: './data/tokens.json' },
    REDIS_URL: { type: 'string', default: 'redis://127.0.0.1:6379' },
    TOKEN_STORE_KEY: { type: 'string', minLength: 1, default: 'tokengate:default' },
    GATEWAY_ADMIN_KEY: { type: 'string' },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65_535, default: 3000 },
    GATEWAY_API_KEYS: { type: 'string' },
    UPSTREAM_TIMEOUT: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: 30_000 },
    UPSTREAM_CA_FILE: { type: 'string' },
    UPSTREAM_CLIENT_CERT_FILE: { type: 'string' },
    UPSTREAM_CLIENT_KEY_FILE: { type: 'string' },
    UPSTREAM_MAX_CONNECTIONS: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    CLIENT_TIMEOUT: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: 60_000 },
    CLIENT_KEEP_ALIVE_TIMEOUT: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS, default: 72_000 },
    CLIENT_MAX_REQUESTS_PER_CONNECTION: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 1000 },
    CLIENT_LISTEN_BACKLOG: { type: 'integer', minimum: 1, maximum: 65_535, default: 4096 },
    REPLAY_BUFFER_TOTAL: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 64 * 1024 * 1024 },
    WS_MAX_MESSAGE: { type: 'integer', minimum: 1, maximum: 1024 * 1024 * 1024, default: 16 * 1024 * 1024 },
    ACCESS_TOKEN_MAX_SIZE: { type: 'integer', minimum: 16, maximum: 1024 * 1024, default: 8192 },
    OTEL_EXPORTER_OTLP_ENDPOINT: { type: 'string' },
    OTEL_SERVICE_NAME: { type: 'string', minLength: 1, default: 'tokengate' },
    LOG_LEVEL: { type: 'string', enum: LOG_LEVELS, default: 'info' }
  }
} as const

/** The environment as validated by the schema (defaults filled, numbers coerced). */
export interface EnvConfig {
  /** Required unless TOKENGATE_CONFIG is set (resolveConfig checks it). */
  UPSTREAM_URL?: string
  TOKENGATE_CONFIG?: string
  AUTH_TOKEN?: string
  REFRESH_TOKEN?: string
  TOKEN_REFRESH_URL: string
  TOKEN_REFRESH_STYLE: 'json' | 'oauth2'
  TOKEN_GRANT: 'refresh_token' | 'client_credentials' | 'token_exchange'
  OAUTH_CLIENT_ID?: string
  OAUTH_CLIENT_SECRET?: string
  OAUTH_SCOPE?: string
  OAUTH_CLIENT_AUTH?: ClientAuthMethod
  OAUTH_PRIVATE_KEY_FILE?: string
  OAUTH_KEY_ID?: string
  OAUTH_SIGNING_ALG?: SigningAlg
  OAUTH_CLIENT_ASSERTION_FILE?: string
  OAUTH_CLIENT_CERT_FILE?: string
  OAUTH_CLIENT_KEY_FILE?: string
  OAUTH_AUDIENCE?: string
  OAUTH_RESOURCE?: string
  OAUTH_SUBJECT_TOKEN_FILE?: string
  OAUTH_SUBJECT_TOKEN_TYPE?: string
  TOKEN_REFRESH_INTERVAL: number
  TOKEN_EXPIRY_BUFFER: number
  TOKEN_REFRESH_TIMEOUT: number
  TOKEN_STORE: 'file' | 'memory' | 'redis'
  TOKEN_STORE_PATH: string
  REDIS_URL: string
  TOKEN_STORE_KEY: string
  GATEWAY_ADMIN_KEY?: string
  HOST: string
  PORT: number
  GATEWAY_API_KEYS?: string
  UPSTREAM_TIMEOUT: number
  UPSTREAM_CA_FILE?: string
  UPSTREAM_CLIENT_CERT_FILE?: string
  UPSTREAM_CLIENT_KEY_FILE?: string
  UPSTREAM_MAX_CONNECTIONS: number
  CLIENT_TIMEOUT: number
  CLIENT_KEEP_ALIVE_TIMEOUT: number
  CLIENT_MAX_REQUESTS_PER_CONNECTION: number
  CLIENT_LISTEN_BACKLOG: number
  REPLAY_BUFFER_TOTAL: number
  WS_MAX_MESSAGE: number
  ACCESS_TOKEN_MAX_SIZE: number
  OTEL_EXPORTER_OTLP_ENDPOINT?: string
  OTEL_SERVICE_NAME: string
  LOG_LEVEL: typeof LOG_LEVELS[number]
}

/** What a variable is for, so a missing one can be explained in its error line. */
export const VARIABLE_PURPOSE: Record<string, string> = {
  UPSTREAM_URL: 'the base URL of the API to forward to, e.g. https://api.example.com/v1',
  AUTH_TOKEN: 'the initial access token (JWT or opaque)',
  OAUTH_CLIENT_ID: 'the client id the identity provider knows the gateway by',
  OAUTH_CLIENT_SECRET: 'the client secret, sent by HTTP Basic authentication'
}
