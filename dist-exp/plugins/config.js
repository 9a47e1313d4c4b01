// Reads and checks the environment once (@fastify/env over the schema in src/config), and
// TOKENGATE_CONFIG's file when it names one, and decorates the instance with the typed settings
// and the gateway's definition (its routes and credentials). A bad environment or file fails
// start-up with a ConfigError listing every problem by variable, or by its place in the file.
import fastifyEnv from '@fastify/env';
import envSchema from 'env-schema';
import fp from 'fastify-plugin';
import { missingAuthToken, problemsFromSchemaErrors, resolveGateway } from '../src/config/gatewayConfig.js';
import { configSchema } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';
async function configPlugin(fastify, options) {
    const fromProcess = options.env === undefined;
    const sources = { dotenv: fromProcess ? { quiet: true } : false, env: fromProcess, data: fromProcess ? {} : { ...options.env } };
    try {
        await fastify.register(fastifyEnv, { schema: structuredClone(configSchema), ...sources });
    }
    catch (err) {
        const errors = err.errors;
        /* c8 ignore start -- env-schema attaches ajv errors to every validation failure; anything else passes through */
        if (errors === undefined)
            throw err;
        /* c8 ignore stop */
        const problems = problemsFromSchemaErrors(errors);
        throw new ConfigError([...problems, ...problemsBeyondSchema(sources, variablesOf(options), problems)]);
    }
    const { resolved, problems } = checkEnvironment(fastify.config, variablesOf(options));
    if (problems.length > 0)
        throw new ConfigError(problems);
    fastify.log.level = resolved.config.logLevel;
    fastify.decorate('gatewayConfig', resolved.config);
    fastify.decorate('gatewayDefinition', resolved.definition);
    fastify.decorate('reloadGatewayDefinition', resolved.reload);
}
/**
 * The whole environment, which the file's `${VAR}` are read from: @fastify/env has put .env's
 * variables into process.env by now (the real environment wins). Copied, so a reload reads the
 * file with the environment of start-up.
 */
function variablesOf(options) {
    return { ...(options.env ?? process.env) };
}
/** The settings and definition, or every problem a schema-valid environment still has. */
function checkEnvironment(env, variables) {
    const missing = missingAuthToken(env);
    const extra = missing === null ? [] : [missing];
    try {
        return { resolved: resolveGateway(env, variables), problems: extra };
    }
    catch (err) {
        // resolveGateway fails only with a ConfigError.
        return { resolved: null, problems: [...err.problems, ...extra] };
    }
}
// Every variable the schema reads, as the text it was given.
const rawSchema = { type: 'object', properties: Object.fromEntries(Object.keys(configSchema.properties).map((name) => [name, { type: 'string' }])) };
/**
 * The problems the rest of the environment has, so one run reports them all: the variables that
 * failed the schema are set aside (their defaults apply) and the others go through the same
 * checks as a valid environment, TOKENGATE_CONFIG's file included.
 */
function problemsBeyondSchema(sources, variables, reported) {
    const failed = new Set(reported.map((problem) => problem.variable));
    const raw = envSchema({ schema: rawSchema, ...sources });
    const rest = {};
    for (const [name, value] of Object.entries(raw))
        if (!failed.has(name) && value !== undefined)
            rest[name] = value;
    // The schema cannot fail again without the variables set aside.
    const { problems } = checkEnvironment(envSchema({ schema: structuredClone(configSchema), dotenv: false, env: false, data: rest }), variables);
    return problems.filter((problem) => !failed.has(problem.variable));
}
export default fp(configPlugin, { name: 'tokengate-config', fastify: '5.x' });
