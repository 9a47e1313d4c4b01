// Process entry for `npm run token:inspect`. Reads the same environment (and .env) as the
// gateway through env-schema, the engine of @fastify/env, but needs no UPSTREAM_URL.
import envSchema from 'env-schema'
import { configSchema, type EnvConfig } from '../config/schema.js'
import { inspectToken } from './tokenInspect.js'

const schema = { ...structuredClone(configSchema), required: [] } as object
let env: Omit<EnvConfig, 'UPSTREAM_URL'>
try {
  env = envSchema({ schema, dotenv: { quiet: true } }) as unknown as EnvConfig
} catch (err) {
  process.stderr.write(`token:inspect: ${(err as Error).message}\n`)
  process.exit(1)
}
const token = env.AUTH_TOKEN?.trim() || null
const result = inspectToken({
  token,
  source: 'AUTH_TOKEN (environment)',
  refreshConfigured: Boolean(env.REFRESH_TOKEN?.trim()),
  refreshStyle: env.TOKEN_REFRESH_STYLE,
  refreshUrl: env.TOKEN_REFRESH_URL,
  bufferMs: env.TOKEN_EXPIRY_BUFFER * 60_000,
  nowMs: Date.now()
})
process.stdout.write(`${result.report}\n`)
process.exit(result.exitCode)
