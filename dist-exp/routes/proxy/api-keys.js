import fp from 'fastify-plugin';
import { createKeyMatcher, isLoopbackHost } from '../../src/utils/apiKeys.js';
// Beside an x-api-key header, the key is taken as a bearer token: chat SDKs let their users set
// only a base URL and an API key, which they send as `Authorization: Bearer <key>`.
const BEARER = /^Bearer +(\S+)$/i;
async function apiKeysPlugin(fastify) {
    const { apiKeys, host } = fastify.gatewayConfig;
    if (apiKeys.length === 0) {
        if (!isLoopbackHost(host)) {
            fastify.log.warn(`HOST=${host} is reachable from other machines and GATEWAY_API_KEYS is not set: ` +
                'anyone who reaches this port can call the upstream with the gateway\'s token');
        }
        return;
    }
    const matches = createKeyMatcher(apiKeys);
    fastify.addHook('onRequest', async (request, reply) => {
        if (matches(request.headers['x-api-key']))
            return;
        const bearer = BEARER.exec(request.headers.authorization ?? '');
        if (bearer !== null && matches(bearer[1]))
            return;
        request.log.warn('Missing or unknown API key (x-api-key or Authorization: Bearer); answering 401 without calling the upstream');
        return reply.code(401).send({ error: 'invalid_api_key', message: 'a valid API key is required: x-api-key: <key> or Authorization: Bearer <key>' });
    });
}
export default fp(apiKeysPlugin, { name: 'tokengate-proxy-api-keys', fastify: '5.x' });
