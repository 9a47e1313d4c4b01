// Reads and checks the environment once (@fastify/env over the schema in src/config) and
// decorates the instance with the typed settings. A bad environment fails start-up with a
// ConfigError listing every problem by variable.
import fastifyEnv from '@fastify/env'
import envSchema from 'env-schema'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { missingAuthToken, resolveConfig, problemsFromSchemaErrors, type GatewayConfig, type SchemaError } from '../src/config/gatewayConfig.js'
import { configSchema, type EnvConfig } from '../src/config/schema.js'
import { ConfigError, type ConfigProblem } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: EnvConfig
    gatewayConfig: GatewayConfig
  }
}

export interface ConfigPluginOptions {
  /** Variables to use instead of process.env and .env (tests, embedding). */
  env?: Record<string, string | undefined>
}

async function configPlugin (fastify: FastifyInstance, options: ConfigPluginOptions): Promise<void> {
  const fromProcess = options.env === undefined
  const sources = { dotenv: fromProcess ? { quiet: true } : false, env: fromProcess, data: fromProcess ? {} : { ...options.env } }
  try {
    await fastify.register(fastifyEnv, { schema: structuredClone(configSchema) as object, ...sources })
  } catch (err) {
    const errors = (err as { errors?: SchemaError[] }).errors
    /* c8 ignore start -- env-schema attaches ajv errors to every validation failure; anything else passes through */
    if (errors === undefined) throw err
    /* c8 ignore stop */
    const problems = problemsFromSchemaErrors(errors)
    throw new ConfigError([...problems, ...problemsBeyondSchema(sources, problems)])
  }
  const { config, problems } = checkEnvironment(fastify.config)
  if (problems.length > 0) throw new ConfigError(problems)
  fastify.log.level = config!.logLevel
  fastify.decorate('gatewayConfig', config!)
}

/** The typed settings, or every problem a schema-valid environment still has. */
function checkEnvironment (env: EnvConfig): { config: GatewayConfig | null, problems: ConfigProblem[] } {
  const missing = missingAuthToken(env)
  const extra = missing === null ? [] : [missing]
  try {
    const config = resolveConfig(env)
    return { config, problems: extra }
  } catch (err) {
    // resolveConfig fails only with a ConfigError.
    return { config: null, problems: [...(err as ConfigError).problems, ...extra] }
  }
}

// Every variable the schema reads, as the text it was given.
const rawSchema = { type: 'object', properties: Object.fromEntries(Object.keys(configSchema.properties).map((name) => [name, { type: 'string' }])) }

/**
 * The problems the rest of the environment has, so one run reports them all: the variables that
 * failed the schema are set aside (defaults, or a stand-in for a missing UPSTREAM_URL) and the
 * others go through the same checks as a valid environment.
 */
function problemsBeyondSchema (sources: object, reported: ConfigProblem[]): ConfigProblem[] {
  const failed = new Set(reported.map((problem) => problem.variable))
  const raw = envSchema({ schema: rawSchema, ...sources }) as Record<string, string | undefined>
  const rest: Record<string, string | undefined> = { UPSTREAM_URL: 'http://upstream.invalid' }
  for (const [name, value] of Object.entries(raw)) if (!failed.has(name) && value !== undefined) rest[name] = value
  // The schema cannot fail again without the variables set aside.
  const { problems } = checkEnvironment(envSchema({ schema: structuredClone(configSchema) as object, dotenv: false, env: false, data: rest }) as unknown as EnvConfig)
  return problems.filter((problem) => !failed.has(problem.variable))
}

export default fp(configPlugin, { name: 'tokengate-config', fastify: '5.x' })
