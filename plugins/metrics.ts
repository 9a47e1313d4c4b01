// Prometheus metrics (prom-client) on a registry of this app's own, so several gateways in one
// process never share counters. Subscribes to the token service; the proxy scope reports each
// request through `fastify.metrics.observeProxied`, the stores through `storeError`.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { RefreshOutcomeEvent, RefreshTrigger, TokenHealth } from '../src/services/tokenRefreshService.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics
  }
}

export interface GatewayMetrics {
  readonly registry: Registry
  /**
   * One proxied request has been answered with `statusCode`; `upstreamLatencyMs` is how long the
   * upstream took to send its response headers, null when it was not reached (502, 503, 504).
   */
  observeProxied: (statusCode: number, upstreamLatencyMs: number | null) => void
  /** A token store operation failed (`save`, `load`, …); the stores report it here. */
  storeError: (operation: string) => void
  /** The proxy's bounded resources, read at scrape time. */
  trackProxyCapacity: (read: () => ProxyCapacity) => void
}

export interface ProxyCapacity {
  /** Requests holding an upstream connection (of UPSTREAM_MAX_CONNECTIONS). */
  upstreamInUse: number
  /** Requests waiting for one. */
  upstreamWaiting: number
  /** Bytes of request bodies held for 401 replays (of REPLAY_BUFFER_TOTAL). */
  replayBufferBytes: number
}

export const REFRESH_TRIGGERS: readonly RefreshTrigger[] = ['startup', 'request', 'periodic', 'refresh-ahead', 'upstream-401', 'admin']
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
// Refreshes are bounded by TOKEN_REFRESH_TIMEOUT (10 s) times three attempts plus backoff.
const REFRESH_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
// Time to the upstream's response headers, bounded by UPSTREAM_TIMEOUT (30 s by default).
const UPSTREAM_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

async function metricsPlugin (fastify: FastifyInstance): Promise<void> {
  const service = fastify.tokenService
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })

  // Scrape-time values, read from the same state as GET /health/token.
  const gauge = (name: string, help: string, read: (health: TokenHealth) => number): void => {
    // eslint-disable-next-line no-new -- a registered metric lives in its registry
    new Gauge({ name, help, registers, collect () { this.set(read(service.getHealth())) } })
  }
  gauge('tokengate_token_expires_in_seconds',
    'Seconds until the access token expires; 0 when no usable token is held, +Inf when its expiry is unknown (opaque token)',
    tokenExpiresInSeconds)
  // eslint-disable-next-line no-new -- a registered metric lives in its registry
  new Gauge({
    name: 'tokengate_token_refresh_overdue_seconds',
    help: 'Seconds the access token has been past its refresh time without being renewed (0 while it is not due); alert on this, not on expires_in, with short-lived tokens',
    registers,
    collect () { this.set(service.refreshOverdueMs() / 1000) }
  })
  gauge('tokengate_token_refresh_consecutive_failures',
    'Refreshes that failed in a row since the last success', (h) => h.consecutiveFailures)
  gauge('tokengate_token_refresh_token_rejected',
    '1 after the identity provider refused the refresh token (new tokens are needed), else 0', (h) => Number(h.refreshTokenRejected))

  const refreshes = new Counter({
    name: 'tokengate_token_refreshes_total',
    help: 'Refreshes by what started them and how they ended (one per call to the identity provider, shared by every waiting request)',
    labelNames: ['trigger', 'outcome'] as const,
    registers
  })
  const refreshDuration = new Histogram({
    name: 'tokengate_token_refresh_duration_seconds',
    help: 'Duration of refreshes, retries and their backoff included',
    labelNames: ['outcome'] as const,
    buckets: REFRESH_BUCKETS_S,
    registers
  })
  const storeErrors = new Counter({
    name: 'tokengate_token_store_errors_total',
    help: 'Token store operations that failed, by operation',
    labelNames: ['operation'] as const,
    registers
  })
  const requests = new Counter({
    name: 'tokengate_proxy_requests_total',
    help: 'Proxied requests by the status class the client got (the gateway\'s own 502, 503 and 504 included)',
    labelNames: ['status_class'] as const,
    registers
  })
  const upstreamDuration = new Histogram({
    name: 'tokengate_upstream_response_seconds',
    help: 'Time from sending a request to the upstream until its response headers, by the upstream\'s status class',
    labelNames: ['status_class'] as const,
    buckets: UPSTREAM_BUCKETS_S,
    registers
  })

  // Every series exists from the start, so rate() and increase() see the first event.
  for (const outcome of ['success', 'failure']) {
    for (const trigger of REFRESH_TRIGGERS) refreshes.inc({ trigger, outcome }, 0)
    refreshDuration.zero({ outcome })
  }
  storeErrors.inc({ operation: 'save' }, 0)
  storeErrors.inc({ operation: 'shared' }, 0)
  for (const statusClass of STATUS_CLASSES) {
    requests.inc({ status_class: statusClass }, 0)
    upstreamDuration.zero({ status_class: statusClass })
  }
  // The hot path indexes prepared children instead of hashing labels per request.
  const requestsByClass = STATUS_CLASSES.map((statusClass) => requests.labels(statusClass))
  const upstreamByClass = STATUS_CLASSES.map((statusClass) => upstreamDuration.labels(statusClass))

  const storeError = (operation: string): void => { storeErrors.inc({ operation }) }
  service.observe({
    onRefreshOutcome: (event: RefreshOutcomeEvent) => {
      refreshes.inc({ trigger: event.trigger, outcome: event.outcome })
      refreshDuration.observe({ outcome: event.outcome }, event.durationMs / 1000)
    },
    onStoreError: storeError
  })

  fastify.decorate('metrics', {
    registry,
    observeProxied: (statusCode: number, upstreamLatencyMs: number | null) => {
      const index = Math.min(Math.max(Math.floor(statusCode / 100), 1), 5) - 1
      requestsByClass[index].inc()
      if (upstreamLatencyMs !== null) upstreamByClass[index].observe(upstreamLatencyMs / 1000)
    },
    storeError,
    trackProxyCapacity: (read) => {
      const capacity = (name: string, help: string, field: keyof ProxyCapacity): void => {
        // eslint-disable-next-line no-new -- a registered metric lives in its registry
        new Gauge({ name, help, registers, collect () { this.set(read()[field]) } })
      }
      capacity('tokengate_upstream_connections_in_use', 'Requests holding an upstream connection now (at most UPSTREAM_MAX_CONNECTIONS)', 'upstreamInUse')
      capacity('tokengate_upstream_requests_waiting', 'Requests waiting for a free upstream connection (503 upstream_busy after UPSTREAM_TIMEOUT)', 'upstreamWaiting')
      capacity('tokengate_replay_buffer_bytes', 'Bytes of request bodies held for a replay after an upstream 401 (at most REPLAY_BUFFER_TOTAL)', 'replayBufferBytes')
    }
  } satisfies GatewayMetrics)
}

/** 0 when no usable token is held; +Inf when a usable token's expiry is unknown. */
export function tokenExpiresInSeconds (health: TokenHealth): number {
  if (health.status === 'expired') return 0
  return health.expiresInSeconds ?? Infinity
}

export default fp(metricsPlugin, { name: 'tokengate-metrics', fastify: '5.x', dependencies: ['tokengate-token'] })
