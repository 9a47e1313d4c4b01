import fp from 'fastify-plugin';
import { ConfigError, formatConfigProblem, redactedError } from '../src/errors.js';
async function reloadPlugin(fastify) {
    const file = fastify.gatewayDefinition.file;
    let previous = Promise.resolve();
    const reload = async () => {
        if (file === null)
            return { applied: false, changes: null };
        try {
            const definition = fastify.reloadGatewayDefinition();
            const changes = await fastify.credentials.apply(definition.credentials);
            fastify.gatewayRoutes.install(definition.routes);
            fastify.log.info({ ...changes, routes: definition.routes.map((route) => route.path) }, `Configuration reloaded from ${file}: ${describe(changes)}`);
            return { applied: true, changes };
        }
        catch (err) {
            if (err instanceof ConfigError) {
                for (const problem of err.problems)
                    fastify.log.error({ file }, `Configuration reload refused: ${formatConfigProblem(problem)}`);
                fastify.log.error({ file }, 'Configuration reload refused; the running configuration stays');
            }
            else {
                // A store that cannot be reached while a new credential opens, say: nothing was changed.
                fastify.log.error({ file, err: redactedError(err) }, 'Configuration reload failed; the running configuration stays');
            }
            return { applied: false, changes: null };
        }
    };
    fastify.decorate('reloadConfiguration', () => {
        // One after the other; reload() never rejects, so the chain never breaks.
        const next = previous.then(reload);
        previous = next;
        return next;
    });
    // Without a file there is nothing to re-read: SIGHUP keeps its meaning of a graceful stop (src/server.ts).
    if (file === null)
        return;
    const onHangup = () => {
        fastify.log.info({ file }, 'SIGHUP: reloading the configuration');
        // reloadConfiguration never rejects: every failure is logged and leaves the configuration as it was.
        fastify.reloadConfiguration();
    };
    fastify.addHook('onReady', async () => { process.on('SIGHUP', onHangup); });
    fastify.addHook('onClose', async () => { process.off('SIGHUP', onHangup); });
}
// A file always has a credential (every route names one), so the list is never empty.
function describe(changes) {
    const part = (label, names) => names.length === 0 ? null : `${label} ${names.join(', ')}`;
    return [part('added', changes.added), part('changed', changes.changed), part('removed', changes.removed), part('kept', changes.kept)]
        .filter((text) => text !== null).join('; ');
}
export default fp(reloadPlugin, { name: 'tokengate-reload', fastify: '5.x', dependencies: ['tokengate-token', 'tokengate-routing'] });
