// The connection pools of routes that present a client certificate to their upstream (mutual TLS,
// clientCertFile / clientKeyFile, UPSTREAM_CLIENT_CERT_FILE / UPSTREAM_CLIENT_KEY_FILE). A TLS
// connection carries one certificate for its whole life, so such a route cannot share the proxy's
// pool: it gets one of its own per certificate pair, and a new one when the files change.
// Routes without a certificate keep the shared pool.
//
// The files are looked at (stat) at most once per CERTIFICATE_CHECK_INTERVAL_MS per route, on a
// request: a rotation reaches new connections within a second, with no system call per proxied
// request and no timer or file watcher to keep alive or lose on a reload (fs.watch misses a
// Kubernetes secret's symlink swap on some file systems).
import type { FastifyBaseLogger } from 'fastify'
import type { Dispatcher } from 'undici'
import type { GatewayRoute } from '../../plugins/routing.js'
import type { ClientCertificateFiles, ClientCertificatePair, Closable } from '../../src/utils/clientCertificate.js'
import { ClientCertificateAgent, ClientCertificateSource, closeQuietly } from '../../src/utils/clientCertificate.js'
import { type Clock, systemClock } from '../../src/utils/clock.js'

export const CERTIFICATE_CHECK_INTERVAL_MS = 1_000

type RouteDispatcher = Dispatcher & Closable

interface Options<D extends RouteDispatcher> {
  /** A pool presenting the pair, with the proxy's other settings. */
  build: (pair: ClientCertificatePair) => D
  log: FastifyBaseLogger
  now?: Clock
}

/** One certificate pair's pool, its files looked at again at most once a second. */
class CertificatePool<D extends RouteDispatcher> {
  private checkedAt = Number.NEGATIVE_INFINITY
  private inUse: D | null = null
  private problem: string | null = null
  readonly agent: ClientCertificateAgent<D>

  constructor (files: ClientCertificateFiles, build: (pair: ClientCertificatePair) => D, private readonly log: FastifyBaseLogger, private readonly now: Clock) {
    this.agent = new ClientCertificateAgent(new ClientCertificateSource(files), build)
  }

  /** The pool for the pair on disk; null while the files have never been usable. */
  current (): D | null {
    const now = this.now()
    if (now - this.checkedAt < CERTIFICATE_CHECK_INTERVAL_MS) return this.inUse
    this.checkedAt = now
    try {
      this.inUse = this.agent.dispatcher()
      this.problem = null
    } catch (err) {
      // Once per problem, not once a second: the message names the field and the path, never the content.
      const message = (err as Error).message
      if (message !== this.problem) {
        this.log.error({ reason: message }, this.inUse === null
          ? 'Upstream client certificate unusable; the route\'s requests go without one until it is fixed'
          : 'Upstream client certificate unusable; the route keeps presenting the previous one')
      }
      this.problem = message
    }
    return this.inUse
  }
}

export class UpstreamDispatchers<D extends RouteDispatcher> {
  private readonly pools = new Map<string, CertificatePool<D>>()
  private readonly now: Clock

  constructor (private readonly options: Options<D>) {
    this.now = options.now ?? systemClock
  }

  /** The route's own pool; null for a route without a certificate (the shared pool is its). */
  of (route: GatewayRoute): D | null {
    const files = route.clientCertificate
    if (files === undefined) return null
    return this.poolOf(files).current()
  }

  /** The pair the route presents now (a WebSocket upgrade's connection carries it too); null without one. */
  pairOf (route: GatewayRoute): ClientCertificatePair | null {
    const files = route.clientCertificate
    if (files === undefined) return null
    const pool = this.poolOf(files)
    pool.current()
    return pool.agent.pair
  }

  /** After a reload: closes the pools no route in service uses any more (their requests in flight finish first). */
  retain (routes: readonly GatewayRoute[]): void {
    const used = new Set(routes.flatMap((route) => route.clientCertificate === undefined ? [] : [keyOf(route.clientCertificate)]))
    for (const [key, pool] of this.pools) {
      if (used.has(key)) continue
      this.pools.delete(key)
      closeQuietly(pool.agent)
    }
  }

  async close (): Promise<void> {
    const pools = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(pools.map((pool) => pool.agent.close()))
  }

  private poolOf (files: ClientCertificateFiles): CertificatePool<D> {
    const key = keyOf(files)
    let pool = this.pools.get(key)
    if (pool === undefined) {
      pool = new CertificatePool(files, this.options.build, this.options.log, this.now)
      this.pools.set(key, pool)
    }
    return pool
  }
}

function keyOf (files: ClientCertificateFiles): string {
  return `${files.certFile}\n${files.keyFile}`
}
