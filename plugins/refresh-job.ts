// The periodic refresh: a toad-scheduler job (through @fastify/schedule) that runs the service's
// check every TOKEN_REFRESH_INTERVAL minutes, refreshing tokens that would not last until the next.
import fastifySchedule from '@fastify/schedule'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AsyncTask, SimpleIntervalJob } from 'toad-scheduler'

export const REFRESH_JOB_ID = 'tokengate-token-refresh'

async function refreshJobPlugin (fastify: FastifyInstance): Promise<void> {
  const { gatewayConfig: config, tokenService: service } = fastify
  await fastify.register(fastifySchedule)
  const minutes = config.refreshIntervalMs / 60_000

  if (!service.refreshEnabled) {
    fastify.log.warn('Token refresh is disabled: no REFRESH_TOKEN is configured. AUTH_TOKEN is forwarded as it is and must be replaced by hand before it expires')
    return
  }

  const task = new AsyncTask(
    REFRESH_JOB_ID,
    () => service.checkAndRefresh(),
    /* c8 ignore next 3 -- checkAndRefresh records its failures and never rejects */
    (err) => { fastify.log.error({ err }, '[Periodic Refresh] check failed') }
  )
  const job = new SimpleIntervalJob({ milliseconds: config.refreshIntervalMs }, task, { id: REFRESH_JOB_ID, preventOverrun: true })

  fastify.addHook('onReady', async () => {
    fastify.scheduler.addSimpleIntervalJob(job)
    service.setCheckInterval(config.refreshIntervalMs)
    fastify.log.info(`Starting automatic token refresh every ${minutes} minutes`)
    service.startRefreshAhead()
  })
  // @fastify/schedule stops its timers on close but does not wait for a running task. close()
  // awaits the refresh in flight and starts no further retry of it.
  fastify.addHook('onClose', async () => {
    fastify.scheduler.removeById(REFRESH_JOB_ID)
    await service.close()
  })
}

export default fp(refreshJobPlugin, { name: 'tokengate-refresh-job', fastify: '5.x', dependencies: ['tokengate-token'] })
