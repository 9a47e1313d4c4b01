// Redis for tests: the shared server on 127.0.0.1:6379 with a key prefix of the test's own
// (never flushed), or a private redis-server on a free port that a test may stop and start.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { waitFor } from './servers.js'

interface Teardown { teardown (fn: () => unknown): void }

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379'

/** A key prefix no other test uses; its keys are deleted on teardown. */
export function uniquePrefix (t: Teardown, url = SHARED_REDIS_URL): string {
  const prefix = `tokengate-test:${randomBytes(6).toString('hex')}`
  t.teardown(async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await client.connect()
      const keys = await client.keys(`${prefix}:*`)
      if (keys.length > 0) await client.del(...keys)
    } catch {} finally {
      client.disconnect()
    }
  })
  return prefix
}

export async function freePort (): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface PrivateRedis {
  url: string
  start (): Promise<void>
  stop (): Promise<void>
}

/**
 * A redis-server of the test's own, keeping nothing on disk unless `args` (given after the
 * defaults, so they win) say otherwise.
 */
export async function privateRedis (t: Teardown, args: string[] = []): Promise<PrivateRedis> {
  const port = await freePort()
  let child: ChildProcess | null = null
  const url = `redis://127.0.0.1:${port}`
  const ping = async (): Promise<boolean> => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on('error', () => {})
    try {
      await client.connect()
      return (await client.ping()) === 'PONG'
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  }
  const redis: PrivateRedis = {
    url,
    async start () {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' })
      let up = false
      const deadline = Date.now() + 10_000
      while (!up && Date.now() < deadline) {
        up = await ping()
        if (!up) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      if (!up) throw new Error('redis-server did not start')
    },
    async stop () {
      const running = child
      child = null
      if (running === null || running.exitCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGKILL')
      await exited
    }
  }
  t.teardown(() => redis.stop())
  await redis.start()
  await waitFor(() => child !== null, 1000, 'redis-server')
  return redis
}
