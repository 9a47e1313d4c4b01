// Process entry for `npm start`: build, listen, and close gracefully on SIGTERM / SIGINT.
// A bad environment exits 1 with one line per problem, each naming its variable.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, formatConfigProblem } from './errors.js'

export const SHUTDOWN_GRACE_MS = 10_000

async function main (): Promise<void> {
  let app
  try {
    app = await buildApp()
    await app.ready()
  } catch (err) {
    reportStartupFailure(err)
    process.exit(1)
  }
  const { host, port, upstream } = app.gatewayConfig
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'Shutting down after an error')
    else app.log.info({ signal }, 'Shutting down: finishing in-flight requests')
    await app.close()
  })
  await app.listen({ host, port })
  app.log.info(`tokengate forwarding to ${upstream.origin}${upstream.pathname.replace(/\/+$/, '')}`)
}

function reportStartupFailure (err: unknown): void {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) process.stderr.write(`tokengate: configuration error: ${formatConfigProblem(problem)}\n`)
    return
  }
  process.stderr.write(`tokengate: start-up failed: ${(err as Error).message}\n`)
}

await main()
