// The environment as @fastify/env validates it (defaults filled, numbers coerced), from a few
// variables: tests of the configuration start from the schema's own defaults, never a copy of them.
import envSchema from 'env-schema'
import { configSchema, type EnvConfig } from '../../src/config/schema.js'
import { ConfigError, formatConfigProblem } from '../../src/errors.js'

export function validate (data: Record<string, string>): EnvConfig {
  return envSchema<EnvConfig>({ schema: structuredClone(configSchema) as object, data, env: false, dotenv: false })
}

/**
 * The problems a configuration step reports, as start-up prints them: [] when it reports none.
 * Any error other than a ConfigError is thrown on.
 */
export function configProblems (run: () => unknown): string[] {
  try {
    run()
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatConfigProblem)
    throw err
  }
  return []
}
