// The periodic refresh: one toad-scheduler job per credential (through @fastify/schedule) that
// runs its engine's check every refresh interval, refreshing tokens that would not last until the
// next. Credentials a reload adds get theirs, removed ones lose theirs.
import fastifySchedule from '@fastify/schedule';
import fp from 'fastify-plugin';
import { AsyncTask, SimpleIntervalJob } from 'toad-scheduler';
import { DEFAULT_CREDENTIAL } from '../src/config/gatewayDefinition.js';
export const REFRESH_JOB_ID = 'tokengate-token-refresh';
/** The job's id: the single-credential gateway's keeps the name it always had. */
export function refreshJobId(credential) {
    return credential === DEFAULT_CREDENTIAL ? REFRESH_JOB_ID : `${REFRESH_JOB_ID}:${credential}`;
}
async function refreshJobPlugin(fastify) {
    await fastify.register(fastifySchedule);
    const fromFile = fastify.gatewayDefinition.file !== null;
    const start = (credential) => {
        const service = credential.service;
        const log = fromFile ? fastify.log.child({ credential: credential.name }) : fastify.log;
        if (!service.refreshEnabled) {
            log.warn(fromFile
                ? `Token refresh is disabled for credential ${credential.name}: it has no refresh token. Its access token is forwarded as it is and must be replaced by hand before it expires`
                : 'Token refresh is disabled: no REFRESH_TOKEN is configured. AUTH_TOKEN is forwarded as it is and must be replaced by hand before it expires');
            return;
        }
        const intervalMs = credential.config.refreshIntervalMs;
        const id = refreshJobId(credential.name);
        const task = new AsyncTask(id, () => service.checkAndRefresh(), 
        /* c8 ignore next 3 -- checkAndRefresh records its failures and never rejects */
        (err) => { log.error({ err }, '[Periodic Refresh] check failed'); });
        fastify.scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ milliseconds: intervalMs }, task, { id, preventOverrun: true }));
        service.setCheckInterval(intervalMs);
        log.info(`Starting automatic token refresh every ${intervalMs / 60_000} minutes`);
        service.startRefreshAhead();
    };
    let ready = false;
    fastify.credentials.listen({
        opened: (credential) => { if (ready)
            start(credential); },
        // The credential closes itself (awaiting its refresh in flight); its job must not run again.
        retired: (credential) => { fastify.scheduler.removeById(refreshJobId(credential.name)); }
    });
    fastify.addHook('onReady', async () => {
        ready = true;
        for (const credential of fastify.credentials)
            start(credential);
    });
    // @fastify/schedule stops its timers on close but does not wait for a running task. close()
    // awaits the refresh in flight and starts no further retry of it.
    fastify.addHook('onClose', async () => {
        for (const credential of fastify.credentials)
            fastify.scheduler.removeById(refreshJobId(credential.name));
        await Promise.all([...fastify.credentials].map((credential) => credential.service.close()));
    });
}
export default fp(refreshJobPlugin, { name: 'tokengate-refresh-job', fastify: '5.x', dependencies: ['tokengate-token'] });
