// The one start-up line that says where tokens go: the upstream they are sent to, the identity
// provider they come from (its origin only), the grant, and where they are kept.
import { isLoopbackHost } from '../utils/apiKeys.js';
import { DEFAULT_TOKEN_REFRESH_URL } from './schema.js';
/** `refreshEnabled`: whether the gateway can obtain tokens at all (a refresh token, client credentials, a token exchange). */
export function startupSummary(config, refreshEnabled) {
    const upstream = `${config.upstream.origin}${config.upstream.pathname.replace(/\/+$/, '')}`;
    const identityProvider = refreshEnabled ? new URL(config.refreshUrl).origin : null;
    const grant = config.tokenGrant === 'refresh_token' ? `refresh_token, ${config.refreshStyle} style` : config.tokenGrant;
    const store = config.store === 'file'
        ? `the file ${config.storePath}`
        : config.store === 'redis' ? `Redis ${redactedRedisUrl(config.redisUrl)} under ${config.storeKey}` : 'memory (lost on restart)';
    const source = identityProvider === null ? 'AUTH_TOKEN as given (no refresh)' : `tokens from ${identityProvider} (grant ${grant})`;
    return {
        msg: `tokengate forwarding to ${upstream} with ${source}, kept in ${store}`,
        fields: { upstream, identityProvider, grant, store: config.store }
    };
}
/** The warning for a gateway that refreshes at the default URL, or null. */
export function defaultRefreshUrlWarning(config, refreshEnabled) {
    if (!refreshEnabled || config.refreshUrl !== DEFAULT_TOKEN_REFRESH_URL)
        return null;
    return `TOKEN_REFRESH_URL is the default, ${DEFAULT_TOKEN_REFRESH_URL} (the identity provider of the system tokengate grew from): ` +
        'set it to your identity provider\'s refresh or token endpoint unless that is the one you mean';
}
/**
 * The warning for a gateway in a container that listens on loopback only: unless the container
 * shares the host's network, nothing outside it can reach the gateway, though its own
 * HEALTHCHECK (which asks from inside) reports it healthy. Usually a HOST from an .env file that
 * was written for running on the host.
 */
export function loopbackInContainerWarning(config, inContainer) {
    if (!inContainer || !isLoopbackHost(config.host))
        return null;
    return `HOST=${config.host} inside a container: only the container itself can reach the gateway (unless it shares the host's network), ` +
        'though its health check passes; leave HOST unset in the container\'s environment (the image sets 0.0.0.0)';
}
// A Redis URL may carry a password.
export function redactedRedisUrl(url) {
    const parsed = new URL(url);
    if (parsed.password)
        parsed.password = '***';
    return parsed.href;
}
/** The start-up line of a gateway configured by a file: its routes, where they go and with which credential. */
export function routesSummary(definition) {
    const routes = definition.routes.map((route) => `${route.path} -> ${route.upstream.origin}${route.upstream.pathname.replace(/\/+$/, '')} (credential ${route.credential})`);
    return {
        msg: `tokengate serving ${definition.routes.length} route(s) with ${definition.credentials.length} credential(s) from ${definition.file}: ${routes.join(', ')}`,
        fields: { file: definition.file, routes: definition.routes.map((route) => route.path), credentials: definition.credentials.map((c) => c.name) }
    };
}
