// A credential as a value: its token engine, opened over its own store record from the tokens
// the store holds or the configuration gives (the seed fingerprint decides), and its health. The
// app creates one per credential of the configuration and knows nothing of what is inside.
import { AUTH_TOKEN_REQUIRED, obtainsOwnTokens } from '../config/gatewayConfig.js';
import { ConfigError } from '../errors.js';
import { createGrant } from '../grants/createGrant.js';
import { TokenRefreshService } from '../services/tokenRefreshService.js';
import { chooseStartupTokens } from '../stores/seedFingerprint.js';
import { isSharedTokenStore } from '../stores/tokenStore.js';
/**
 * Opens a credential: reads its record from the store, chooses the start-up tokens, builds the
 * engine and saves environment tokens that win. Throws ConfigError when it has nothing to start
 * from. Does not refresh: the caller starts that when the gateway is ready.
 */
export async function openCredential(config, options) {
    const { store, logger: log, places } = options;
    const stored = await loadStored(config, options);
    const start = chooseStartupTokens(stored, config.accessToken, config.refreshToken);
    // client_credentials and token_exchange fetch their first token at start-up; refresh_token starts from one.
    if (start.accessToken === null && !obtainsOwnTokens(config.tokenGrant)) {
        throw new ConfigError([{ ...places.accessToken, message: AUTH_TOKEN_REQUIRED }]);
    }
    if (start.source === 'store') {
        log.info({ store: store.kind, version: start.version }, 'Using the tokens from the token store (the environment is the one they were seeded from)');
    }
    else if (stored !== null) {
        log.info({ store: store.kind }, 'AUTH_TOKEN / REFRESH_TOKEN differ from the ones the store was seeded from: using the environment\'s');
    }
    const grant = createGrant({
        style: config.refreshStyle,
        url: config.refreshUrl,
        oauthClient: config.oauthClient,
        timeoutMs: options.refreshTimeoutMs,
        clientSecretFile: config.files.clientSecret === undefined ? undefined : { path: config.files.clientSecret, field: `credentials.${config.name}.clientSecretFile` }
    });
    const service = new TokenRefreshService(start.accessToken, start.refreshToken, config.refreshUrl, async (_accessToken, _refreshToken, { trigger, ...record }) => { await store.save(record); }, {
        grant,
        credential: config.name,
        bufferMs: config.expiryBufferMs,
        checkIntervalMs: config.refreshIntervalMs,
        refreshTimeoutMs: options.refreshTimeoutMs,
        maxAccessTokenBytes: options.accessTokenMaxBytes,
        expiresAtMs: start.expiresAtMs,
        // Environment tokens that win become the store's next version.
        version: start.source === 'environment' ? start.version + 1 : start.version,
        seedFingerprint: start.fingerprint,
        shared: isSharedTokenStore(store) ? store : undefined,
        logger: log
    });
    // New environment tokens are written at once, so the store forgets the ones they replace.
    const seeded = service.currentRecord();
    if (start.source === 'environment' && seeded !== null) {
        try {
            await store.save(seeded);
        }
        catch (err) {
            service.reportStoreError(err.message);
            log.error({ err: { message: err.message } }, 'Could not save the tokens to the store; serving them from memory');
        }
    }
    await service.watchSharedStore();
    return {
        name: config.name,
        config,
        service,
        store,
        health: () => healthBody(service.getHealth(), store.kind),
        close: async () => {
            await service.close();
            // After the service, so no refresh is left to use the grant's connections.
            await grant.close?.();
        }
    };
}
// Field order follows the contract, so operators reading it raw see what the README shows.
function healthBody(health, store) {
    return {
        status: health.status,
        tokenType: health.tokenType,
        expiresAt: health.expiresAt,
        expiresInSeconds: health.expiresInSeconds,
        refreshEnabled: health.refreshEnabled,
        refreshStyle: health.refreshStyle,
        store,
        lastRefreshAt: health.lastRefreshAt,
        lastRefreshError: health.lastRefreshError,
        consecutiveFailures: health.consecutiveFailures,
        refreshTokenRejected: health.refreshTokenRejected,
        refreshCount: health.refreshCount,
        nextCheckAt: health.nextCheckAt,
        subject: health.subject,
        issuer: health.issuer,
        storeError: health.storeError
    };
}
/**
 * The stored record, or null. An unreadable record is never overwritten silently: with tokens
 * from the configuration to start from it is moved aside (kept for the operator), without them
 * opening fails naming the store.
 */
async function loadStored(config, options) {
    const { store, places } = options;
    try {
        return await store.load();
    }
    catch (err) {
        const reason = err.message;
        if (!canSetAside(store)) {
            throw new ConfigError([{ ...places.store, message: `cannot read the stored tokens: ${reason}` }]);
        }
        if (config.accessToken === null) {
            throw new ConfigError([{
                    ...places.store,
                    message: `${store.path} cannot be used (${reason}) and no ${nameOf(places.accessToken)} is set to start from: ` +
                        (options.sharesItsFile === true ? `repair or remove the entry of credential ${config.name}` : 'repair or remove the file')
                }]);
        }
        if (options.sharesItsFile === true) {
            options.logger.warn({ path: store.path }, `The stored tokens of credential ${config.name} cannot be used (${reason}); starting from ${nameOf(places.accessToken)}, and its entry is replaced at the next save (the other credentials' entries are kept)`);
            return null;
        }
        let aside;
        try {
            aside = await store.moveAside();
        }
        catch (moveErr) {
            throw new ConfigError([{
                    ...places.store,
                    message: `${store.path} cannot be used (${reason}) nor moved aside (${moveErr.code})`
                }]);
        }
        options.logger.warn({ path: store.path, movedTo: aside }, `The token file ${store.path} cannot be used (${reason}); moved it to ${aside} and starting from ${nameOf(places.accessToken)}`);
        return null;
    }
}
function canSetAside(store) {
    return typeof store.moveAside === 'function';
}
function nameOf(place) {
    return place.place ?? place.variable;
}
