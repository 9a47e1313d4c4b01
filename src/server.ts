// Process entry for `npm start`: build, listen, and close gracefully on SIGTERM / SIGINT (and
// SIGHUP, unless a TOKENGATE_CONFIG file is set: then SIGHUP reloads it).
// A bad environment or TOKENGATE_CONFIG file exits 1 with one line per problem, each naming its
// variable or its place in the file.
// Shutdown: stop accepting, let in-flight requests finish (streams too) for up to
// SHUTDOWN_GRACE_MS, then cut what is left; stop the job, await the refresh in flight, close the
// store, exit 0. A second signal exits at once; past SHUTDOWN_TIMEOUT_MS the process exits 1.
import { existsSync } from 'node:fs'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { loopbackInContainerWarning, routesSummary, startupSummary } from './config/startupSummary.js'
import { ConfigError, formatConfigProblem } from './errors.js'
import { createBatchedLogDestination } from './utils/batchedLogDestination.js'

export const SHUTDOWN_GRACE_MS = 10_000
// The whole shutdown: the grace above plus one refresh attempt in flight (TOKEN_REFRESH_TIMEOUT).
export const SHUTDOWN_TIMEOUT_MS = 30_000
const SHUTDOWN_IDLE_SWEEP_MS = 100

async function main (): Promise<void> {
  let app
  try {
    // Synchronous writes on stdout, one per event-loop turn: the last lines of a shutdown are
    // neither lost nor reordered by the exit, and a busy gateway pays one system call for many
    // lines (src/utils/batchedLogDestination.ts).
    app = await buildApp({ logStream: createBatchedLogDestination(1) })
    await app.ready()
  } catch (err) {
    reportStartupFailure(err)
    process.exit(1)
  }
  const { host, port, clientListenBacklog } = app.gatewayConfig
  const log = app.log
  closeWithGrace({
    delay: SHUTDOWN_TIMEOUT_MS,
    // With a configuration file, SIGHUP reloads it (plugins/reload.ts) instead of stopping.
    skip: app.gatewayDefinition.file === null ? [] : ['SIGHUP'],
    logger: { error: (message: unknown) => log.error({ err: message }, 'Shutdown failed') },
    onSecondSignal: (signal) => { log.warn({ signal }, `Second ${signal}: exiting at once`) },
    onSecondError: (err) => { log.error({ err }, 'Second error during shutdown: exiting at once') },
    onTimeout: (delayMs) => { log.error(`Shutdown did not finish within ${delayMs} ms: exiting`) }
  }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'Shutting down after an error')
    else log.info({ signal }, 'Shutting down: finishing in-flight requests')
    // A keep-alive connection whose last response has just ended would stay open as long as the
    // client likes: each one is closed as soon as it is idle, not only those idle at the signal.
    const sweep = setInterval(() => { app.server.closeIdleConnections() }, SHUTDOWN_IDLE_SWEEP_MS)
    // Open streams (server-sent events) would hold app.close() for as long as they last.
    const cut = setTimeout(() => {
      log.warn(`In-flight requests still open after ${SHUTDOWN_GRACE_MS / 1000} s: closing their connections`)
      app.server.closeAllConnections()
    }, SHUTDOWN_GRACE_MS)
    try {
      await app.close()
    } finally {
      clearInterval(sweep)
      clearTimeout(cut)
    }
    log.info('tokengate stopped')
  })
  try {
    // Node's default backlog of 511 overflowed when thousands of clients connected at once
    // (5,000 streams in the bench: 242 connections reset by the kernel before the gateway saw them).
    await app.listen({ host, port, backlog: clientListenBacklog })
  } catch (err) {
    // A port in use or an address this machine does not have: say which variables to change.
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    process.stderr.write(`tokengate: configuration error: HOST / PORT: cannot listen on ${host}:${port} (${code})\n`)
    await app.close().catch(() => {})
    process.exit(1)
  }
  if (app.gatewayDefinition.file === null) {
    const summary = startupSummary(app.gatewayConfig, app.tokenService.refreshEnabled)
    app.log.info(summary.fields, summary.msg)
  } else {
    const summary = routesSummary(app.gatewayDefinition)
    app.log.info(summary.fields, summary.msg)
  }
  // Docker and podman mark their containers with one of these files.
  const loopback = loopbackInContainerWarning(app.gatewayConfig, existsSync('/.dockerenv') || existsSync('/run/.containerenv'))
  if (loopback !== null) app.log.warn(loopback)
}

function reportStartupFailure (err: unknown): void {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) process.stderr.write(`tokengate: configuration error: ${formatConfigProblem(problem)}\n`)
    return
  }
  process.stderr.write(`tokengate: start-up failed: ${(err as Error).message}\n`)
}

await main()
