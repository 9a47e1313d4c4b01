// Reads and checks the environment once (@fastify/env over the schema in src/config), and
// TOKENGATE_CONFIG's file when it names one, and decorates the instance with the typed settings
// and the gateway's definition (its routes and credentials). A bad environment or file fails
// start-up with a ConfigError listing every problem by variable, or by its place in the file.
import fastifyEnv from '@fastify/env'
import envSchema from 'env-schema'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import {
  missingAuthToken, problemsFromSchemaErrors, resolveGateway, type GatewayConfig, type ResolvedGateway, type SchemaError
} from '../src/config/gatewayConfig.js'
import type { GatewayDefinition } from '../src/config/gatewayDefinition.js'
import type { Variables } from '../src/config/interpolation.js'
import { configSchema, type EnvConfig } from '../src/config/schema.js'
import { ConfigError, type ConfigProblem } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: EnvConfig
    gatewayConfig: GatewayConfig
    /** The routes and credentials: TOKENGATE_CONFIG's file, or the environment's route `/` and credential `default`. */
    gatewayDefinition: GatewayDefinition
    /**
     * Reads the definition again with the environment of start-up (for SIGHUP): the file as it is
     * now. Throws ConfigError for a bad file; replaces nothing, the caller applies what it gets.
     */
    reloadGatewayDefinition: () => GatewayDefinition
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
    throw new ConfigError([...problems, ...problemsBeyondSchema(sources, variablesOf(options), problems)])
  }
  const { resolved, problems } = checkEnvironment(fastify.config, variablesOf(options))
  if (problems.length > 0) throw new ConfigError(problems)
  fastify.log.level = resolved!.config.logLevel
  fastify.decorate('gatewayConfig', resolved!.config)
  fastify.decorate('gatewayDefinition', resolved!.definition)
  fastify.decorate('reloadGatewayDefinition', resolved!.reload)
}

/**
 * The whole environment, which the file's `${VAR}` are read from: @fastify/env has put .env's
 * variables into process.env by now (the real environment wins). Copied, so a reload reads the
 * file with the environment of start-up.
 */
function variablesOf (options: ConfigPluginOptions): Variables {
  return { ...(options.env ?? process.env) }
}

/** The settings and definition, or every problem a schema-valid environment still has. */
function checkEnvironment (env: EnvConfig, variables: Variables): { resolved: ResolvedGateway | null, problems: ConfigProblem[] } {
  const missing = missingAuthToken(env)
  const extra = missing === null ? [] : [missing]
  try {
    return { resolved: resolveGateway(env, variables), problems: extra }
  } catch (err) {
    // resolveGateway fails only with a ConfigError.
    return { resolved: null, problems: [...(err as ConfigError).problems, ...extra] }
  }
}

// Every variable the schema reads, as the text it was given.
const rawSchema = { type: 'object', properties: Object.fromEntries(Object.keys(configSchema.properties).map((name) => [name, { type: 'string' }])) }

/**
 * The problems the rest of the environment has, so one run reports them all: the variables that
 * failed the schema are set aside (their defaults apply) and the others go through the same
 * checks as a valid environment, TOKENGATE_CONFIG's file included.
 */
function problemsBeyondSchema (sources: object, variables: Variables, reported: ConfigProblem[]): ConfigProblem[] {
  const failed = new Set(reported.map((problem) => problem.variable))
  const raw = envSchema({ schema: rawSchema, ...sources }) as Record<string, string | undefined>
  const rest: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(raw)) if (!failed.has(name) && value !== undefined) rest[name] = value
  // The schema cannot fail again without the variables set aside.
  const { problems } = checkEnvironment(envSchema({ schema: structuredClone(configSchema) as object, dotenv: false, env: false, data: rest }) as unknown as EnvConfig, variables)
  return problems.filter((problem) => !failed.has(problem.variable))
}

export default fp(configPlugin, { name: 'tokengate-config', fastify: '5.x' })
