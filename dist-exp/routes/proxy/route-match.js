import fp from 'fastify-plugin';
import { NoRouteError } from '../../src/errors.js';
import { isAdminPath } from '../../src/utils/gatewayPaths.js';
async function routeMatchPlugin(fastify) {
    fastify.decorateRequest('gatewayRoute', null);
    fastify.addHook('onRequest', (request, reply, done) => {
        if (isAdminPath(request.url)) {
            reply.code(404).send({ error: 'not_found', message: 'no such admin route' });
            return;
        }
        const query = request.url.indexOf('?');
        request.gatewayRoute = fastify.gatewayRoutes.table.match(query === -1 ? request.url : request.url.slice(0, query));
        done(request.gatewayRoute === null ? new NoRouteError() : undefined);
    });
}
export default fp(routeMatchPlugin, { name: 'tokengate-proxy-route-match', fastify: '5.x' });
