import { UnknownCredentialError } from '../src/errors.js';
const SEVERITY = { ok: 0, expiring: 1, expired: 2 };
/**
 * One credential's body. No usable token: a readiness probe must not take the gateway out of
 * service while a refresh would give it one, so the probe waits on the same refresh as requests
 * do (or starts it); it fails at once when no refresh can run (none configured, refused, backing off).
 */
async function credentialHealth(credential) {
    const body = credential.health();
    if (body.status !== 'expired')
        return body;
    await credential.service.getValidAccessToken().catch(() => { });
    return credential.health();
}
export default async function healthRoutes(fastify) {
    const fromFile = fastify.gatewayDefinition.file !== null;
    fastify.get('/health/token', async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        if (!fromFile) {
            const body = await credentialHealth(fastify.credentials.first());
            return reply.code(body.status === 'expired' ? 503 : 200).send(body);
        }
        const credentials = [...fastify.credentials];
        const bodies = await Promise.all(credentials.map(credentialHealth));
        let status = 'ok';
        for (const body of bodies)
            if (SEVERITY[body.status] > SEVERITY[status])
                status = body.status;
        const byName = {};
        credentials.forEach((credential, i) => { byName[credential.name] = { ...bodies[i], routes: fastify.gatewayRoutes.routesOf(credential.name) }; });
        return reply.code(status === 'expired' ? 503 : 200).send({ status, credentials: byName });
    });
    fastify.get('/health/token/:credential', async (request, reply) => {
        const credential = fastify.credentials.get(request.params.credential);
        if (credential === undefined)
            throw new UnknownCredentialError();
        const body = await credentialHealth(credential);
        return reply.code(body.status === 'expired' ? 503 : 200).header('cache-control', 'no-store').send(body);
    });
    fastify.get('/health/live', async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        return { status: 'ok' };
    });
}
