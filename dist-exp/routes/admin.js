import { CredentialRequiredError, UnknownCredentialError, httpErrorOf } from '../src/errors.js';
import { HEADER_SAFE_TOKEN } from '../src/grants/tokenAnswer.js';
import { createKeyMatcher } from '../src/utils/apiKeys.js';
class BadAdminBody extends Error {
    statusCode = 400;
}
// Checked by hand rather than by a route schema: Fastify's validator coerces types (a number
// would become a token), and a token must arrive exactly as the operator sent it.
function replaceTokensBody(body, maxAccessTokenBytes) {
    const { accessToken, refreshToken, ...rest } = (body ?? {});
    const valid = typeof accessToken === 'string' && HEADER_SAFE_TOKEN.test(accessToken) && Buffer.byteLength(accessToken) <= maxAccessTokenBytes &&
        (refreshToken === undefined || (typeof refreshToken === 'string' && refreshToken.trim() !== '')) &&
        Object.keys(rest).length === 0;
    if (!valid)
        throw new BadAdminBody('bad body');
    return { accessToken: accessToken, refreshToken: refreshToken ?? null };
}
export default async function adminRoutes(fastify) {
    const { adminKey, accessTokenMaxBytes } = fastify.gatewayConfig;
    const isAdminKey = createKeyMatcher(adminKey === null ? [] : [adminKey]);
    fastify.addHook('onRequest', async (request, reply) => {
        if (adminKey === null) {
            return reply.code(404).send({ error: 'not_found', message: 'admin routes are disabled (no GATEWAY_ADMIN_KEY)' });
        }
        if (!isAdminKey(request.headers['x-admin-key'])) {
            request.log.warn('Admin request with a missing or wrong x-admin-key');
            return reply.code(401).send({ error: 'unauthorized', message: 'x-admin-key is missing or wrong' });
        }
    });
    // Bad bodies get a short message that never echoes what was sent.
    fastify.setErrorHandler((error, request, reply) => {
        const answer = httpErrorOf(error);
        if (answer !== null)
            return reply.code(answer.statusCode).send(answer.body);
        if (error.statusCode !== undefined && error.statusCode < 500) {
            return reply.code(400).send({
                error: 'bad_request',
                message: `body must be JSON {"accessToken": "…", "refreshToken"?: "…"} with non-empty strings, the access token of visible ASCII and at most ${accessTokenMaxBytes} bytes (ACCESS_TOKEN_MAX_SIZE)`
            });
        }
        request.log.error({ err: error }, 'Admin route failed');
        return reply.code(500).send({ error: 'internal_error', message: 'the admin action failed' });
    });
    /** The credential of `?credential=`; the only one when it is absent and there is one. */
    const credentialOf = (request) => {
        const name = request.query.credential;
        if (name === undefined) {
            if (fastify.credentials.size > 1)
                throw new CredentialRequiredError([...fastify.credentials].map((c) => c.name).join(', '));
            return fastify.credentials.first();
        }
        const credential = typeof name === 'string' ? fastify.credentials.get(name) : undefined;
        if (credential === undefined)
            throw new UnknownCredentialError();
        return credential;
    };
    fastify.post('/admin/token/refresh', async (request, reply) => {
        const credential = credentialOf(request);
        try {
            await credential.service.refreshAccessToken('admin');
        }
        catch {
            request.log.warn({ credential: credential.name }, 'Forced refresh failed');
            return reply.code(502).send(credential.health());
        }
        return credential.health();
    });
    fastify.put('/admin/token', async (request) => {
        const credential = credentialOf(request);
        const body = replaceTokensBody(request.body, accessTokenMaxBytes);
        await credential.service.replaceTokens(body.accessToken, body.refreshToken);
        return credential.health();
    });
    // The whole /admin/ namespace is the gateway's own: nothing under it reaches the upstream.
    fastify.all('/admin/*', async (_request, reply) => reply.code(404).send({ error: 'not_found', message: 'no such admin route' }));
}
