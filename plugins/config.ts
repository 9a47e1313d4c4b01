// Reads and checks the environment once (@fastify/env over the schema in src/config) and
// decorates the instance with the typed settings. A bad environment fails start-up with a
// ConfigError listing every problem by variable.
import fastifyEnv from '@fastify/env'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { resolveConfig, problemsFromSchemaErrors, type GatewayConfig, type SchemaError } from '../src/config/gatewayConfig.js'
import { configSchema, type EnvConfig } from '../src/config/schema.js'
import { ConfigError } from '../src/errors.js'

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
  try {
    await fastify.register(fastifyEnv, {
      schema: structuredClone(configSchema) as object,
      dotenv: fromProcess ? { quiet: true } : false,
      env: fromProcess,
      data: fromProcess ? {} : { ...options.env }
    })
  } catch (err) {
    const errors = (err as { errors?: SchemaError[] }).errors
    /* c8 ignore start -- env-schema attaches ajv errors to every validation failure; anything else passes through */
    if (errors === undefined) throw err
    /* c8 ignore stop */
    throw new ConfigError(problemsFromSchemaErrors(errors))
  }
  const config = resolveConfig(fastify.config)
  fastify.log.level = config.logLevel
  fastify.decorate('gatewayConfig', config)
}

export default fp(configPlugin, { name: 'tokengate-config', fastify: '5.x' })
