// The gateway in-process (buildApp), listening on a real port, with its log lines captured.
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface TestGateway {
  app: FastifyInstance
  url: string
  /** Every log line written so far, raw JSON text. */
  logs: string[]
  logText (): string
}

export async function startGateway (t: Teardown, env: Record<string, string | undefined>): Promise<TestGateway> {
  const logs: string[] = []
  const app = await buildApp({
    env: { HOST: '127.0.0.1', PORT: '0', TOKEN_STORE: 'memory', ...env },
    logStream: { write: (line: string) => { logs.push(line) } }
  })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  return { app, url: `http://127.0.0.1:${port}`, logs, logText: () => logs.join('') }
}
