// First hook of the proxy scope after the span: the request's route. A spelling of /admin/ that
// reached the proxy is still the gateway's (404 not_found); a path no route matches is not
// proxied (404 no_route); otherwise the request carries its route to every later hook.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { GatewayRoute } from '../../plugins/routing.js'
import { NoRouteError } from '../../src/errors.js'
import { isAdminPath } from '../../src/utils/gatewayPaths.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The route the request was matched to (null until then, and when none matches). */
    gatewayRoute: GatewayRoute | null
  }
}

async function routeMatchPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.decorateRequest('gatewayRoute', null)
  fastify.addHook('onRequest', (request, reply, done) => {
    if (isAdminPath(request.url)) {
      reply.code(404).send({ error: 'not_found', message: 'no such admin route' })
      return
    }
    const query = request.url.indexOf('?')
    request.gatewayRoute = fastify.gatewayRoutes.table.match(query === -1 ? request.url : request.url.slice(0, query))
    done(request.gatewayRoute === null ? new NoRouteError() : undefined)
  })
}

export default fp(routeMatchPlugin, { name: 'tokengate-proxy-route-match', fastify: '5.x' })
