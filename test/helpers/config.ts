// The environment as @fastify/env validates it (defaults filled, numbers coerced), from a few
// variables: tests of the configuration start from the schema's own defaults, never a copy of them.
import envSchema from 'env-schema'
import { configSchema, type EnvConfig } from '../../src/config/schema.js'

export function validate (data: Record<string, string>): EnvConfig {
  return envSchema<EnvConfig>({ schema: structuredClone(configSchema) as object, data, env: false, dotenv: false })
}
