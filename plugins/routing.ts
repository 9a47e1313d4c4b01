// The routes of the gateway, bound to what serves them: each route's credential (its token
// engine) and its metrics recorder. The table is replaced whole when a reload changes the routes;
// a request keeps the route it was matched to until it ends.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { RouteConfig } from '../src/config/gatewayDefinition.js'
import type { Credential } from '../src/credentials/credential.js'
import { RouteTable } from '../src/routing/routeTable.js'
import type { ClientCertificateFiles } from '../src/utils/clientCertificate.js'
import type { RouteMetrics } from './metrics.js'

export interface GatewayRoute {
  /** The prefix clients call: '/' or '/chat'. */
  readonly path: string
  readonly upstream: URL
  /** The upstream's origin, where its requests go. */
  readonly upstreamOrigin: string
  /** The upstream's path without a trailing '/', which replaces the route's prefix. */
  readonly upstreamPath: string
  readonly timeoutMs: number
  /** Presented to the upstream (mutual TLS); absent: none. */
  readonly clientCertificate?: ClientCertificateFiles
  readonly credential: Credential
  readonly metrics: RouteMetrics
}

export interface GatewayRouting {
  /** The routes in service now. */
  readonly table: RouteTable<GatewayRoute>
  /** Puts `routes` in service, bound to the credentials in service now. */
  install (routes: readonly RouteConfig[]): void
  /** The paths of the routes in service that use `credential`. */
  routesOf (credential: string): string[]
  /** Calls `listener` with the routes each time others are put in service (a reload). */
  onInstall (listener: (routes: readonly GatewayRoute[]) => void): void
}

declare module 'fastify' {
  interface FastifyInstance {
    gatewayRoutes: GatewayRouting
  }
}

async function routingPlugin (fastify: FastifyInstance): Promise<void> {
  const bind = (route: RouteConfig): GatewayRoute => ({
    path: route.path,
    upstream: route.upstream,
    upstreamOrigin: route.upstream.origin,
    upstreamPath: route.upstream.pathname.replace(/\/+$/, ''),
    timeoutMs: route.timeoutMs,
    clientCertificate: route.clientCertificate,
    // The configuration is checked before it is installed: every route names a credential in service.
    credential: fastify.credentials.get(route.credential)!,
    metrics: fastify.metrics.forRoute(route.path)
  })
  let table: RouteTable<GatewayRoute> = new RouteTable(fastify.gatewayDefinition.routes.map(bind))
  const listeners: Array<(routes: readonly GatewayRoute[]) => void> = []
  fastify.decorate('gatewayRoutes', {
    get table () { return table },
    install: (routes) => {
      table = new RouteTable(routes.map(bind))
      for (const listener of listeners) listener(table.routes)
    },
    onInstall: (listener) => { listeners.push(listener) },
    routesOf: (credential) => table.routes.filter((route) => route.credential.name === credential).map((route) => route.path)
  } satisfies GatewayRouting)
}

export default fp(routingPlugin, { name: 'tokengate-routing', fastify: '5.x', dependencies: ['tokengate-token', 'tokengate-metrics'] })
