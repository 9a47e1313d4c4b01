import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
export const REFRESH_TRIGGERS = ['startup', 'request', 'periodic', 'refresh-ahead', 'upstream-401', 'admin'];
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
// Refreshes are bounded by TOKEN_REFRESH_TIMEOUT (10 s) times three attempts plus backoff.
const REFRESH_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
// Time to the upstream's response headers, bounded by UPSTREAM_TIMEOUT (30 s by default).
const UPSTREAM_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
async function metricsPlugin(fastify) {
    const registry = new Registry();
    const registers = [registry];
    collectDefaultMetrics({ register: registry });
    // Scrape-time values, read from the same state as GET /health/token, one series per credential
    // in service now (reset first, so a credential a reload removed disappears).
    const perCredential = (name, help, read) => {
        // eslint-disable-next-line no-new -- a registered metric lives in its registry
        new Gauge({
            name,
            help,
            labelNames: ['credential'],
            registers,
            collect() {
                this.reset();
                for (const credential of fastify.credentials)
                    this.set({ credential: credential.name }, read(credential));
            }
        });
    };
    const gauge = (name, help, read) => {
        perCredential(name, help, (credential) => read(credential.service.getHealth()));
    };
    gauge('tokengate_token_expires_in_seconds', 'Seconds until the access token expires; 0 when no usable token is held, +Inf when its expiry is unknown (opaque token)', tokenExpiresInSeconds);
    perCredential('tokengate_token_refresh_overdue_seconds', 'Seconds the access token has been past its refresh time without being renewed (0 while it is not due); alert on this, not on expires_in, with short-lived tokens', (credential) => credential.service.refreshOverdueMs() / 1000);
    gauge('tokengate_token_refresh_consecutive_failures', 'Refreshes that failed in a row since the last success', (h) => h.consecutiveFailures);
    gauge('tokengate_token_refresh_token_rejected', '1 after the identity provider refused the refresh token (new tokens are needed), else 0', (h) => Number(h.refreshTokenRejected));
    const refreshes = new Counter({
        name: 'tokengate_token_refreshes_total',
        help: 'Refreshes by what started them and how they ended (one per call to the identity provider, shared by every waiting request)',
        labelNames: ['credential', 'trigger', 'outcome'],
        registers
    });
    const refreshDuration = new Histogram({
        name: 'tokengate_token_refresh_duration_seconds',
        help: 'Duration of refreshes, retries and their backoff included',
        labelNames: ['credential', 'outcome'],
        buckets: REFRESH_BUCKETS_S,
        registers
    });
    const storeErrors = new Counter({
        name: 'tokengate_token_store_errors_total',
        help: 'Token store operations that failed, by operation',
        labelNames: ['credential', 'operation'],
        registers
    });
    const requests = new Counter({
        name: 'tokengate_proxy_requests_total',
        help: 'Proxied requests by the status class the client got (the gateway\'s own 502, 503 and 504 included)',
        labelNames: ['route', 'status_class'],
        registers
    });
    const upstreamDuration = new Histogram({
        name: 'tokengate_upstream_response_seconds',
        help: 'Time from sending a request to the upstream until its response headers, by the upstream\'s status class',
        labelNames: ['route', 'status_class'],
        buckets: UPSTREAM_BUCKETS_S,
        registers
    });
    // Every series exists from the start, so rate() and increase() see the first event.
    fastify.credentials.listen({
        opened: (credential) => {
            const name = credential.name;
            for (const outcome of ['success', 'failure']) {
                for (const trigger of REFRESH_TRIGGERS)
                    refreshes.inc({ credential: name, trigger, outcome }, 0);
                refreshDuration.zero({ credential: name, outcome });
            }
            storeErrors.inc({ credential: name, operation: 'save' }, 0);
            storeErrors.inc({ credential: name, operation: 'shared' }, 0);
            credential.service.observe({
                onRefreshOutcome: (event) => {
                    refreshes.inc({ credential: name, trigger: event.trigger, outcome: event.outcome });
                    refreshDuration.observe({ credential: name, outcome: event.outcome }, event.durationMs / 1000);
                },
                onStoreError: (operation) => { storeErrors.inc({ credential: name, operation }); }
            });
        },
        retired: () => { }
    });
    // The hot path indexes children prepared once per route instead of hashing labels per request.
    const routeMetrics = new Map();
    const forRoute = (route) => {
        let recorder = routeMetrics.get(route);
        if (recorder === undefined) {
            const requestsByClass = STATUS_CLASSES.map((statusClass) => requests.labels(route, statusClass));
            const upstreamByClass = STATUS_CLASSES.map((statusClass) => upstreamDuration.labels(route, statusClass));
            for (const counter of requestsByClass)
                counter.inc(0);
            for (const statusClass of STATUS_CLASSES)
                upstreamDuration.zero({ route, status_class: statusClass });
            recorder = {
                observe: (statusCode, upstreamLatencyMs) => {
                    const index = Math.min(Math.max(Math.floor(statusCode / 100), 1), 5) - 1;
                    requestsByClass[index].inc();
                    if (upstreamLatencyMs !== null)
                        upstreamByClass[index].observe(upstreamLatencyMs / 1000);
                }
            };
            routeMetrics.set(route, recorder);
        }
        return recorder;
    };
    fastify.decorate('metrics', {
        registry,
        forRoute,
        trackProxyCapacity: (read) => {
            const capacity = (name, help, field) => {
                // eslint-disable-next-line no-new -- a registered metric lives in its registry
                new Gauge({ name, help, registers, collect() { this.set(read()[field]); } });
            };
            capacity('tokengate_upstream_connections_in_use', 'Requests holding an upstream connection now (at most UPSTREAM_MAX_CONNECTIONS)', 'upstreamInUse');
            capacity('tokengate_upstream_requests_waiting', 'Requests waiting for a free upstream connection (503 upstream_busy after UPSTREAM_TIMEOUT)', 'upstreamWaiting');
            capacity('tokengate_replay_buffer_bytes', 'Bytes of request bodies held for a replay after an upstream 401 (at most REPLAY_BUFFER_TOTAL)', 'replayBufferBytes');
        }
    });
}
/** 0 when no usable token is held; +Inf when a usable token's expiry is unknown. */
export function tokenExpiresInSeconds(health) {
    if (health.status === 'expired')
        return 0;
    return health.expiresInSeconds ?? Infinity;
}
export default fp(metricsPlugin, { name: 'tokengate-metrics', fastify: '5.x', dependencies: ['tokengate-token'] });
