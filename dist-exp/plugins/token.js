import fp from 'fastify-plugin';
import { defaultRefreshUrlWarning } from '../src/config/startupSummary.js';
import { openCredential } from '../src/credentials/credential.js';
import { CredentialSet } from '../src/credentials/credentialSet.js';
import { UnknownCredentialError } from '../src/errors.js';
async function tokenPlugin(fastify) {
    const config = fastify.gatewayConfig;
    const definition = fastify.gatewayDefinition;
    const fromFile = definition.file !== null;
    const storePlace = config.store === 'redis' ? 'REDIS_URL' : 'TOKEN_STORE_PATH';
    const open = async (credential) => {
        const places = fromFile
            ? { accessToken: { variable: 'TOKENGATE_CONFIG', place: `credentials.${credential.name}.accessToken` }, store: { variable: storePlace } }
            : { accessToken: { variable: 'AUTH_TOKEN' }, store: { variable: storePlace } };
        return openCredential(credential, {
            store: fastify.tokenStores.forCredential(credential.name),
            // One credential's log lines name it when there can be several.
            logger: (fromFile ? fastify.log.child({ credential: credential.name }) : fastify.log),
            refreshTimeoutMs: config.refreshTimeoutMs,
            accessTokenMaxBytes: config.accessTokenMaxBytes,
            places,
            sharesItsFile: fromFile
        });
    };
    const credentials = new CredentialSet(open);
    await credentials.apply(definition.credentials);
    if (!fromFile) {
        const only = credentials.get(definition.credentials[0].name);
        const defaultUrl = defaultRefreshUrlWarning(config, only.service.refreshEnabled);
        if (defaultUrl !== null)
            fastify.log.warn(defaultUrl);
    }
    // The single credential, or the first of several, for what has no credential of its own to name.
    const primary = () => credentials.first();
    fastify.decorate('credentials', credentials);
    fastify.decorate('tokenService', { getter: () => primary().service });
    fastify.decorate('getValidAccessToken', (name) => {
        const credential = name === undefined ? primary() : credentials.get(name);
        if (credential === undefined)
            return Promise.reject(new UnknownCredentialError());
        return credential.service.getValidAccessToken();
    });
    fastify.decorate('tokenHealth', () => primary().health());
    // Listening does not wait for these refreshes: a still-valid token serves meanwhile. A
    // credential a reload adds starts its own at once.
    let ready = false;
    credentials.listen({
        opened: (credential) => { if (ready)
            credential.service.refreshIfDue('startup'); },
        retired: () => { }
    });
    fastify.addHook('onReady', async () => {
        ready = true;
        for (const credential of credentials)
            credential.service.refreshIfDue('startup');
    });
    fastify.addHook('onClose', async () => { await credentials.close(); });
}
export default fp(tokenPlugin, { name: 'tokengate-token', fastify: '5.x', dependencies: ['tokengate-config', 'tokengate-store'] });
