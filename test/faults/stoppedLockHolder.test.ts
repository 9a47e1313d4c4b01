// A refresh lock holder frozen (SIGSTOP) for longer than the lock's TTL cannot renew it: another
// process takes the lock and writes the next version. When the frozen one continues, its write of
// that same version must be refused (the version fences it) and its release must leave the new
// holder's lock. A real process is stopped, so nothing of the holder runs while it is frozen.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import { CHILD_ENV, ROOT } from '../helpers/process.js'
import { privateRedis } from '../helpers/redis.js'
import { record } from '../helpers/stores.js'

const LOCK_TTL_MS = 300

// The holder: the built store (as `npm start` runs it) in a child, answering one line per command.
const SCRIPT = `
import { createInterface } from 'node:readline'
const { Redis } = await import(process.env.IOREDIS_MODULE)
const { RedisTokenStore } = await import(process.env.STORE_MODULE)
const client = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 })
const store = new RedisTokenStore(client, { keyPrefix: 'stopped', lockTtlMs: Number(process.env.LOCK_TTL_MS) })
let lock = null
const say = (answer) => { process.stdout.write(JSON.stringify(answer) + '\\n') }
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  if (command.op === 'acquire') { lock = await store.acquireRefreshLock(); say({ won: lock !== null }) }
  if (command.op === 'save') { await store.save(command.record); say({}) }
  if (command.op === 'release') { await lock.release(); say({}) }
}
`

t.test('a holder stopped longer than the lock TTL loses the lock; its late write and release are fenced off', async (t) => {
  const redis = await privateRedis(t)
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      ...CHILD_ENV,
      REDIS_URL: redis.url,
      LOCK_TTL_MS: String(LOCK_TTL_MS),
      IOREDIS_MODULE: pathToFileURL(join(ROOT, 'node_modules', 'ioredis', 'built', 'index.js')).href,
      STORE_MODULE: pathToFileURL(join(ROOT, 'dist', 'src', 'stores', 'redisTokenStore.js')).href
    },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  t.teardown(() => { child.kill('SIGCONT'); child.kill('SIGKILL') })
  const waiting: Array<(line: string) => void> = []
  createInterface({ input: child.stdout! }).on('line', (line) => { waiting.shift()!(line) })
  const ask = async (command: object): Promise<Record<string, unknown>> => JSON.parse(await new Promise<string>((resolve) => {
    waiting.push(resolve)
    child.stdin!.write(`${JSON.stringify(command)}\n`)
  })) as Record<string, unknown>

  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const other = new RedisTokenStore(client, { keyPrefix: 'stopped', lockTtlMs: 10_000 })
  await other.save(record(1))

  t.same(await ask({ op: 'acquire' }), { won: true }, 'the child holds the lock')
  t.equal(await other.acquireRefreshLock(), null, 'refused to the other process while the holder runs')
  child.kill('SIGSTOP')
  // Three TTLs frozen: the renewal timer (every TTL/3) cannot run, so the lease lapses.
  await delay(3 * LOCK_TTL_MS)
  const taken = await other.acquireRefreshLock()
  t.ok(taken, 'the other process takes the lapsed lock')
  await other.save({ ...record(2), refreshToken: 'rt-2-by-the-new-holder' })

  child.kill('SIGCONT')
  // What the frozen holder was about to write: the same next version, from the old record.
  t.same(await ask({ op: 'save', record: { ...record(2), refreshToken: 'rt-2-by-the-stopped-holder' } }), {})
  t.equal((await other.load())!.refreshToken, 'rt-2-by-the-new-holder', 'the late write of the same version is refused')
  // Its renewal timer may have fired on waking; it must not have extended or taken the new lock.
  await ask({ op: 'release' })
  t.ok(await client.pttl(other.lockKey) > LOCK_TTL_MS, 'the new holder\'s lock, with its own TTL, survives the old holder\'s renewal and release')
  await taken!.release()
})
