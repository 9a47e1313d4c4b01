// Process entry for `npm run token:inspect`. Reads the same environment (and .env) as the
// gateway through env-schema, the engine of @fastify/env, but needs no UPSTREAM_URL, and picks
// the token the gateway would start with (store or environment, by seed fingerprint). With
// TOKENGATE_CONFIG it reads the file's credentials as the gateway does and reports on each, from
// its own entry of the store.
import { resolve } from 'node:path'
import envSchema from 'env-schema'
import { Redis } from 'ioredis'
import { fileDefaults, obtainsOwnTokens, type TokenGrantKind } from '../config/gatewayConfig.js'
import { DEFAULT_CREDENTIAL, type CredentialConfig } from '../config/gatewayDefinition.js'
import { loadGatewayFile } from '../config/gatewayFile.js'
import { configSchema, type EnvConfig } from '../config/schema.js'
import { formatConfigProblem, type ConfigError } from '../errors.js'
import { FileTokenStores } from '../stores/fileTokenStores.js'
import { RedisTokenStores } from '../stores/redisTokenStores.js'
import { chooseStartupTokens } from '../stores/seedFingerprint.js'
import type { TokenRecord } from '../stores/tokenStore.js'
import { inspectToken, type InspectResult } from './tokenInspect.js'

const schema = { ...structuredClone(configSchema), required: [] } as object
let env: Omit<EnvConfig, 'UPSTREAM_URL'>
try {
  env = envSchema({ schema, dotenv: { quiet: true } }) as unknown as EnvConfig
} catch (err) {
  process.stderr.write(`token:inspect: ${(err as Error).message}\n`)
  process.exit(1)
}

const configFile = env.TOKENGATE_CONFIG?.trim() ? resolve(env.TOKENGATE_CONFIG.trim()) : null

/** What is inspected of one credential: its seed tokens and how it renews them. */
interface Subject {
  name: string
  accessToken: string | null
  refreshToken: string | null
  tokenGrant: TokenGrantKind
  refreshStyle: string
  refreshUrl: string
  clientConfigured: boolean
  expiryBufferMs: number
  /** Where the seed token was configured, for the report. */
  seedSource: string
}

function fromEnvironment (): Subject {
  return {
    name: DEFAULT_CREDENTIAL,
    accessToken: env.AUTH_TOKEN?.trim() || null,
    refreshToken: env.REFRESH_TOKEN?.trim() || null,
    tokenGrant: env.TOKEN_GRANT,
    refreshStyle: obtainsOwnTokens(env.TOKEN_GRANT) ? env.TOKEN_GRANT : env.TOKEN_REFRESH_STYLE,
    refreshUrl: env.TOKEN_REFRESH_URL,
    clientConfigured: Boolean(env.OAUTH_CLIENT_ID?.trim()),
    expiryBufferMs: env.TOKEN_EXPIRY_BUFFER * 60_000,
    seedSource: 'AUTH_TOKEN (environment)'
  }
}

function fromFile (file: string, credential: CredentialConfig): Subject {
  const tokenFile = credential.files.accessToken
  return {
    name: credential.name,
    accessToken: credential.accessToken,
    refreshToken: credential.refreshToken,
    tokenGrant: credential.tokenGrant,
    refreshStyle: credential.refreshStyle,
    refreshUrl: credential.refreshUrl,
    clientConfigured: credential.oauthClient !== null,
    expiryBufferMs: credential.expiryBufferMs,
    seedSource: tokenFile === undefined ? `credentials.${credential.name}.accessToken (${file})` : `credentials.${credential.name}.accessTokenFile (${tokenFile})`
  }
}

/** Reads one credential's record; `namespaced` as a gateway configured by a file keeps them. */
type RecordReader = (credential: string) => Promise<{ record: TokenRecord | null, where: string }>

// Each credential's store is found as the gateway finds it (TokenStores.forCredential); only
// read here: the file's lock is never taken, nothing is subscribed.
async function withStore<T> (namespaced: boolean, use: (read: RecordReader) => Promise<T>): Promise<T> {
  if (env.TOKEN_STORE === 'file') {
    const stores = new FileTokenStores(resolve(env.TOKEN_STORE_PATH), { namespaced })
    try {
      return await use(async (credential) => ({ record: await stores.forCredential(credential).load(), where: `token store (file ${stores.file.path})` }))
    } finally {
      await stores.close()
    }
  }
  if (env.TOKEN_STORE === 'redis') {
    const client = new Redis(env.REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null })
    client.on('error', () => {})
    const stores = new RedisTokenStores(client, { keyPrefix: env.TOKEN_STORE_KEY, namespaced })
    try {
      return await use(async (credential) => {
        if (client.status === 'wait') await client.connect()
        const store = stores.forCredential(credential)
        return { record: await store.load(), where: `token store (Redis key ${store.recordKey})` }
      })
    } finally {
      await stores.close()
      client.disconnect()
    }
  }
  return use(async () => ({ record: null, where: 'memory store' }))
}

async function inspect (subject: Subject, read: RecordReader): Promise<InspectResult> {
  let stored: { record: TokenRecord | null, where: string }
  try {
    stored = await read(subject.name)
  } catch (err) {
    const seed = configFile === null ? 'AUTH_TOKEN' : `the file's token of ${subject.name}`
    process.stderr.write(`token:inspect: the token store cannot be read (${(err as Error).message}); showing ${seed}\n`)
    stored = { record: null, where: 'none' }
  }
  const start = chooseStartupTokens(stored.record, subject.accessToken, subject.refreshToken)
  // client_credentials and token_exchange obtain tokens with the client's id (and secret, key or
  // subject token), no refresh token needed.
  const ownTokens = obtainsOwnTokens(subject.tokenGrant)
  return inspectToken({
    token: start.accessToken,
    source: start.source === 'store' ? `${stored.where}, version ${start.version}` : subject.seedSource,
    refreshConfigured: ownTokens ? subject.clientConfigured : start.refreshToken !== null,
    refreshStyle: subject.refreshStyle,
    refreshUrl: subject.refreshUrl,
    bufferMs: subject.expiryBufferMs,
    expiresAtMs: start.expiresAtMs,
    origin: start.source === 'store' ? 'record' : 'given',
    nowMs: Date.now()
  })
}

let subjects: Subject[]
if (configFile === null) {
  subjects = [fromEnvironment()]
} else {
  try {
    subjects = loadGatewayFile(configFile, { ...process.env }, fileDefaults(env as EnvConfig)).credentials.map((credential) => fromFile(configFile, credential))
  } catch (err) {
    // loadGatewayFile fails only with a ConfigError; its problems name the file's fields.
    for (const problem of (err as ConfigError).problems) process.stderr.write(`token:inspect: ${formatConfigProblem(problem)}\n`)
    process.exit(1)
  }
}

const results = await withStore(configFile !== null, async (read) => {
  const done: InspectResult[] = []
  for (const subject of subjects) done.push(await inspect(subject, read))
  return done
})
if (configFile === null) {
  process.stdout.write(`${results[0].report}\n`)
} else {
  // One report per credential, each headed by its name; exit 1 when any cannot be used.
  process.stdout.write(`${results.map((result, i) => `Credential: ${subjects[i].name}\n${result.report}\n`).join('\n')}`)
}
process.exit(results.some((result) => result.exitCode !== 0) ? 1 : 0)
