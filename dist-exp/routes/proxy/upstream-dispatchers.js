import { ClientCertificateAgent, ClientCertificateSource, closeQuietly } from '../../src/utils/clientCertificate.js';
import { systemClock } from '../../src/utils/clock.js';
export const CERTIFICATE_CHECK_INTERVAL_MS = 1_000;
/** One certificate pair's pool, its files looked at again at most once a second. */
class CertificatePool {
    log;
    now;
    checkedAt = Number.NEGATIVE_INFINITY;
    inUse = null;
    problem = null;
    agent;
    constructor(files, build, log, now) {
        this.log = log;
        this.now = now;
        this.agent = new ClientCertificateAgent(new ClientCertificateSource(files), build);
    }
    /** The pool for the pair on disk; null while the files have never been usable. */
    current() {
        const now = this.now();
        if (now - this.checkedAt < CERTIFICATE_CHECK_INTERVAL_MS)
            return this.inUse;
        this.checkedAt = now;
        try {
            this.inUse = this.agent.dispatcher();
            this.problem = null;
        }
        catch (err) {
            // Once per problem, not once a second: the message names the field and the path, never the content.
            const message = err.message;
            if (message !== this.problem) {
                this.log.error({ reason: message }, this.inUse === null
                    ? 'Upstream client certificate unusable; the route\'s requests go without one until it is fixed'
                    : 'Upstream client certificate unusable; the route keeps presenting the previous one');
            }
            this.problem = message;
        }
        return this.inUse;
    }
}
export class UpstreamDispatchers {
    options;
    pools = new Map();
    now;
    constructor(options) {
        this.options = options;
        this.now = options.now ?? systemClock;
    }
    /** The route's own pool; null for a route without a certificate (the shared pool is its). */
    of(route) {
        const files = route.clientCertificate;
        if (files === undefined)
            return null;
        return this.poolOf(files).current();
    }
    /** The pair the route presents now (a WebSocket upgrade's connection carries it too); null without one. */
    pairOf(route) {
        const files = route.clientCertificate;
        if (files === undefined)
            return null;
        const pool = this.poolOf(files);
        pool.current();
        return pool.agent.pair;
    }
    /** After a reload: closes the pools no route in service uses any more (their requests in flight finish first). */
    retain(routes) {
        const used = new Set(routes.flatMap((route) => route.clientCertificate === undefined ? [] : [keyOf(route.clientCertificate)]));
        for (const [key, pool] of this.pools) {
            if (used.has(key))
                continue;
            this.pools.delete(key);
            closeQuietly(pool.agent);
        }
    }
    async close() {
        const pools = [...this.pools.values()];
        this.pools.clear();
        await Promise.all(pools.map((pool) => pool.agent.close()));
    }
    poolOf(files) {
        const key = keyOf(files);
        let pool = this.pools.get(key);
        if (pool === undefined) {
            pool = new CertificatePool(files, this.options.build, this.options.log, this.now);
            this.pools.set(key, pool);
        }
        return pool;
    }
}
function keyOf(files) {
    return `${files.certFile}\n${files.keyFile}`;
}
