import fp from 'fastify-plugin';
import { RouteTable } from '../src/routing/routeTable.js';
async function routingPlugin(fastify) {
    const bind = (route) => ({
        path: route.path,
        upstream: route.upstream,
        upstreamOrigin: route.upstream.origin,
        upstreamPath: route.upstream.pathname.replace(/\/+$/, ''),
        timeoutMs: route.timeoutMs,
        clientCertificate: route.clientCertificate,
        // The configuration is checked before it is installed: every route names a credential in service.
        credential: fastify.credentials.get(route.credential),
        metrics: fastify.metrics.forRoute(route.path)
    });
    let table = new RouteTable(fastify.gatewayDefinition.routes.map(bind));
    const listeners = [];
    fastify.decorate('gatewayRoutes', {
        get table() { return table; },
        install: (routes) => {
            table = new RouteTable(routes.map(bind));
            for (const listener of listeners)
                listener(table.routes);
        },
        onInstall: (listener) => { listeners.push(listener); },
        routesOf: (credential) => table.routes.filter((route) => route.credential.name === credential).map((route) => route.path)
    });
}
export default fp(routingPlugin, { name: 'tokengate-routing', fastify: '5.x', dependencies: ['tokengate-token', 'tokengate-metrics'] });
