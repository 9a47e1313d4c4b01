// npm run chaos [-- --minutes N]: three gateways sharing a private Redis (AOF on) refresh one
// credential against a provider with single-use refresh tokens and family revocation, under
// client load and a schedule of faults (kills of the lock holder, pauses longer than the lock
// TTL, Redis restarted, killed (also during a provider call) and paused, slow provider, 5xx
// bursts, hangs, one replica's clock jumping). Everything is recorded, then checked; the exit
// code is non-zero on any violation. Loopback only.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Agent, request } from 'undici'
import { Redis } from 'ioredis'
import { GATEWAY_ENTRY, GATEWAY_NODE_ARGS, freePort, mustStart, startServer, type ServerProcess } from '../bench/processes.js'
import { ChaosProvider } from './provider.js'
import { check, type ClientOutcome, type FaultWindow, type History, type StoreObservation } from './checker.js'

const minutesArg = process.argv.indexOf('--minutes')
const MINUTES = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 10
if (!(MINUTES > 0)) throw new Error('--minutes must be a positive number')
const TOKEN_TTL_S = 30
const LOCK_TTL_MS = 5_000 // the store's default (DEFAULT_LOCK_TTL_MS); the gateway has no setting for it
const REFRESH_TIMEOUT_MS = 9_000
const SLOW_PROVIDER_MS = LOCK_TTL_MS + 1_500
const PAUSE_MS = LOCK_TTL_MS + 2_000
const REDIS_DOWN_MS = 2_000
// Below a third of the lock's TTL less a renewal period: a lock held across the pause survives it.
const REDIS_PAUSE_MS = 2_000
// A provider call held this long, with Redis killed as it arrives: the holder's answer comes while
// Redis is down, so its save fails after the provider spent the refresh token.
const IN_CALL_HOLD_MS = 1_000
// Past a whole token's life, so a token that looked fresh looks expired and the reverse.
const CLOCK_JUMP_MS = TOKEN_TTL_S * 1_500
const CLOCK_HOLD_MS = 3_000
// Loaded into the gateways of this run only: their Date.now() follows a file of their own.
const CLOCK_SHIFT = pathToFileURL(join(fileURLToPath(new URL('.', import.meta.url)), 'clockShift.js')).href
const ADMIN_KEY = 'chaos-admin-key'
const KEY = 'chaos'
const CLIENTS_PER_REPLICA = 3
const FAULT_KINDS = ['kill-before', 'kill-during', 'kill-after', 'pause', 'redis-restart', 'redis-kill', 'redis-kill-in-call', 'redis-pause', 'slow-provider', '5xx-burst', 'hang', 'clock-jump'] as const
type FaultKind = typeof FAULT_KINDS[number]

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const say = (line: string): void => { process.stdout.write(`${line}\n`) }
const folder = mkdtempSync(join(tmpdir(), 'tokengate-chaos-'))
const dispatcher = new Agent({ connections: 64, headersTimeout: 3_000, bodyTimeout: 3_000, connectTimeout: 1_000 })

// Redis: one private server, its AOF in the run's folder, restarted on the same port. Run as
// docs/configuration.md recommends for the token store: every write fsynced before it is
// acknowledged (appendfsync always), so a rotated refresh token survives Redis being killed.
const redisPort = await freePort()
const redisUrl = `redis://127.0.0.1:${redisPort}`
let redisChild: ChildProcess | null = null
async function startRedis (): Promise<void> {
  redisChild = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', folder, '--save', ''], { stdio: 'ignore' })
  const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {}) // refused until redis-server listens: connect() rejects, and is retried
  for (let i = 0; i < 100; i++) {
    try { await probe.connect(); await probe.ping(); probe.disconnect(); return } catch { await sleep(50) }
  }
  throw new Error('redis-server did not start')
}
// Killed, not stopped: nothing is flushed at exit; what was acknowledged must be in the AOF
// already. (The operating system's cache survives the kill: a machine crash cannot be played.)
async function killRedisForAWhile (): Promise<void> {
  const child = redisChild!
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  await sleep(REDIS_DOWN_MS)
  await startRedis()
}

async function stopRedis (): Promise<void> {
  const child = redisChild!
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM') // a clean shutdown flushes the AOF; see docs/chaos.md for SIGKILL
  await exited
}

// The upstream stand-in: a bearer the provider issued, not past its exp, or 401.
const provider = new ChaosProvider(TOKEN_TTL_S)
await provider.listen()
const expiredServed: Array<{ at: number, exp: number }> = []
let upstreamChecked = 0
const upstream = createServer((req, res) => {
  upstreamChecked++
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
  let exp = 0
  try { exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number }).exp } catch {}
  if (!provider.issued.has(token) || exp * 1000 <= Date.now()) {
    expiredServed.push({ at: Date.now(), exp })
    res.writeHead(401).end('{"error":"expired_or_unknown"}')
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

await startRedis()
const seed = provider.seed()

interface Replica { name: string, port: number, server: ServerProcess | null, state: 'up' | 'down' | 'paused', clockFile: string }
const replicas: Replica[] = []
for (const name of ['g1', 'g2', 'g3']) {
  const clockFile = join(folder, `${name}.clock-offset-ms`)
  writeFileSync(clockFile, '0')
  replicas.push({ name, port: await freePort(), server: null, state: 'down', clockFile })
}

async function startReplica (replica: Replica): Promise<void> {
  // A replica keeps its port, so clients find it again after a restart.
  const env = {
    PORT: String(replica.port),
    UPSTREAM_URL: upstreamUrl,
    AUTH_TOKEN: seed.accessToken,
    REFRESH_TOKEN: seed.refreshToken,
    TOKEN_REFRESH_URL: `${provider.url}/r/${replica.name}/refresh`,
    TOKEN_EXPIRY_BUFFER: '0.25',
    TOKEN_REFRESH_INTERVAL: '0.05',
    TOKEN_REFRESH_TIMEOUT: String(REFRESH_TIMEOUT_MS),
    TOKEN_STORE: 'redis',
    REDIS_URL: redisUrl,
    TOKEN_STORE_KEY: KEY,
    GATEWAY_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: 'warn',
    CHAOS_CLOCK_FILE: replica.clockFile
  }
  const args = [...GATEWAY_NODE_ARGS, '--import', CLOCK_SHIFT, GATEWAY_ENTRY]
  const started = await startServer({ name: replica.name, command: process.execPath, args, env, url: `http://127.0.0.1:${replica.port}` })
  replica.server = await mustStart(started)
  replica.state = 'up'
}
for (const replica of replicas) await startReplica(replica)

// The store, observed: every announced version (the save's own publish) and the record polled.
const store: StoreObservation[] = []
const announced: Array<{ at: number, version: number }> = []
const watcher = new Redis(redisUrl, { maxRetriesPerRequest: 0, retryStrategy: () => 100, enableOfflineQueue: false })
const listener = new Redis(redisUrl, { retryStrategy: () => 100 })
watcher.on('error', () => {})
listener.on('error', () => {})
await listener.subscribe(`${KEY}:updates`)
listener.on('message', (_channel: string, message: string) => { announced.push({ at: Date.now(), version: Number(message) }) })
let lastSeen = -1
const run = { going: true }
const storePoller = (async () => {
  while (run.going) {
    try {
      const text = await watcher.get(`${KEY}:tokens`)
      if (text !== null) {
        const record = JSON.parse(text) as { version: number, refreshToken: string }
        if (record.version !== lastSeen) {
          store.push({ at: Date.now(), version: record.version, refreshToken: record.refreshToken })
          lastSeen = record.version
          onStoreVersion(record.refreshToken)
        }
      }
    } catch {}
    await sleep(25)
  }
})()

// Client load on every replica; an outcome per request.
const clients: ClientOutcome[] = []
async function client (replica: Replica): Promise<void> {
  while (run.going) {
    const at = Date.now()
    let status = 0
    try {
      const res = await request(`http://127.0.0.1:${replica.port}/api/thing`, { dispatcher, signal: AbortSignal.timeout(3_000) })
      status = res.statusCode
      await res.body.dump()
    } catch {}
    clients.push({ at, replica: replica.name, status, ms: Date.now() - at })
    await sleep(status === 0 ? 100 : 40)
  }
}
const load = replicas.flatMap((replica) => Array.from({ length: CLIENTS_PER_REPLICA }, async () => { await client(replica) }))

async function adminRefresh (replica: Replica): Promise<void> {
  try {
    const res = await request(`http://127.0.0.1:${replica.port}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY }, dispatcher, signal: AbortSignal.timeout(30_000) })
    await res.body.dump()
  } catch {}
}
const upReplicas = (): Replica[] => replicas.filter((r) => r.state === 'up')
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!

// Extra rotations: an operator's refresh on two replicas at once every few seconds, so the lock
// is contended and the run reaches many rotations with 30-second tokens.
const forcer = (async () => {
  while (run.going) {
    await sleep(1_200)
    const up = upReplicas()
    if (up.length > 0) { adminRefresh(pick(up)).catch(() => {}); adminRefresh(pick(up)).catch(() => {}) }
  }
})()

// Hooks the fault scheduler arms for one provider call or one stored version.
let onArrival: ((replica: string) => void) | null = null
let storeWaiter: { refreshToken: string, then: () => void } | null = null
provider.onArrival = (name) => { const hook = onArrival; onArrival = null; hook?.(name) }
provider.onCommit = (call) => {
  if (pendingAfter !== null && call.replica === pendingAfter.replica) {
    const then = pendingAfter.then
    pendingAfter = null
    storeWaiter = { refreshToken: call.returned!, then }
  }
}
let pendingAfter: { replica: string, then: () => void } | null = null
function onStoreVersion (refreshToken: string): void {
  if (storeWaiter !== null && storeWaiter.refreshToken === refreshToken) { const { then } = storeWaiter; storeWaiter = null; then() }
}

const faults: FaultWindow[] = []
const byName = (name: string): Replica => replicas.find((r) => r.name === name)!

async function killAndRestart (replica: Replica, window: FaultWindow): Promise<void> {
  replica.state = 'down'
  replica.server!.child.kill('SIGKILL')
  await new Promise((resolve) => { if (replica.server!.child.exitCode !== null || replica.server!.child.signalCode !== null) resolve(null); else replica.server!.child.once('exit', resolve) })
  await sleep(500)
  await startReplica(replica)
  window.end = Date.now()
}

/** Waits for the next provider call, triggering one with an operator's refresh. */
async function nextCall (delayMs: number): Promise<string | null> {
  const previousDelay = provider.delayMs
  provider.delayMs = delayMs
  const arrived = new Promise<string | null>((resolve) => {
    onArrival = resolve
    setTimeout(() => { if (onArrival === resolve) { onArrival = null; resolve(null) } }, 15_000)
  })
  const up = upReplicas()
  if (up.length > 0) adminRefresh(pick(up)).catch(() => {})
  const name = await arrived
  provider.delayMs = previousDelay
  return name
}

async function inject (kind: FaultKind): Promise<FaultWindow | null> {
  const window: FaultWindow = { kind, start: Date.now(), end: 0, replica: null }
  switch (kind) {
    case 'kill-before':
    case 'kill-during': {
      // The call is held long enough (before the provider commits anything) for the kill to land:
      // at once for "before", a second and a half in (lock renewed, call in flight) for "during".
      const holdMs = kind === 'kill-before' ? 400 : 3_000
      const arrivedAt = Date.now()
      const name = await nextCall(holdMs)
      if (name === null || byName(name).state !== 'up') return null
      window.replica = name
      window.start = arrivedAt
      if (kind === 'kill-during') await sleep(1_500)
      await killAndRestart(byName(name), window)
      return window
    }
    case 'kill-after': {
      // Killed once its rotation is in Redis (the answer saved), before it has released the lock.
      const killed = new Promise<string | null>((resolve) => {
        onArrival = (name) => { pendingAfter = { replica: name, then: () => { resolve(name) } } }
        setTimeout(() => { resolve(null) }, 15_000)
      })
      const up = upReplicas()
      if (up.length > 0) adminRefresh(pick(up)).catch(() => {})
      const name = await killed
      pendingAfter = null
      storeWaiter = null
      if (name === null || byName(name).state !== 'up') return null
      window.replica = name
      await killAndRestart(byName(name), window)
      return window
    }
    case 'pause': {
      // A replica not in a provider call, stopped longer than the lock's TTL, then continued. Nor
      // one holding a rotation the store has not taken yet (its save failed while Redis was away,
      // and it is writing it back): frozen there, it holds the only copy of the new refresh token,
      // the window no lock can cover (docs/chaos.md, "Limits").
      const busy = new Set(provider.calls.filter((c) => c.outcome === 'pending').map((c) => c.replica))
      const lastRotation = provider.calls.filter((c) => c.outcome === 'ok').at(-1)
      if (lastRotation !== undefined && store.at(-1)?.refreshToken !== lastRotation.returned) busy.add(lastRotation.replica)
      const candidates = upReplicas().filter((r) => !busy.has(r.name))
      if (candidates.length === 0) return null
      const replica = pick(candidates)
      window.replica = replica.name
      replica.state = 'paused'
      replica.server!.child.kill('SIGSTOP')
      await sleep(PAUSE_MS)
      replica.server!.child.kill('SIGCONT')
      replica.state = 'up'
      window.end = Date.now()
      return window
    }
    case 'redis-restart':
      await stopRedis()
      await sleep(REDIS_DOWN_MS)
      await startRedis()
      window.end = Date.now()
      return window
    case 'redis-kill': {
      await killRedisForAWhile()
      window.end = Date.now()
      return window
    }
    case 'redis-kill-in-call': {
      // Redis killed as the lock holder's provider call arrives, and back 2 s later (the lock,
      // fsynced, survives for what is left of its lease): the new tokens cannot be saved at once.
      const name = await nextCall(IN_CALL_HOLD_MS)
      if (name === null) return null
      await killRedisForAWhile()
      window.end = Date.now()
      return window
    }
    case 'redis-pause':
      // Its connections stay open and its commands wait: Redis unreachable while its process lives.
      redisChild!.kill('SIGSTOP')
      await sleep(REDIS_PAUSE_MS)
      redisChild!.kill('SIGCONT')
      window.end = Date.now()
      return window
    case 'clock-jump': {
      // One replica's wall clock steps forward past a token's life, then as far behind the true
      // time, then back to it (the gateway reads the file within 50 ms).
      const candidates = upReplicas()
      if (candidates.length === 0) return null
      const replica = pick(candidates)
      window.replica = replica.name
      writeFileSync(replica.clockFile, String(CLOCK_JUMP_MS))
      await sleep(CLOCK_HOLD_MS)
      writeFileSync(replica.clockFile, String(-CLOCK_JUMP_MS))
      await sleep(CLOCK_HOLD_MS)
      writeFileSync(replica.clockFile, '0')
      await sleep(100)
      window.end = Date.now()
      return window
    }
    case 'slow-provider': {
      // Answers slower than the lock's TTL, faster than the gateway's refresh timeout.
      provider.delayMs = SLOW_PROVIDER_MS
      const name = await nextCall(SLOW_PROVIDER_MS)
      provider.delayMs = SLOW_PROVIDER_MS
      await sleep(SLOW_PROVIDER_MS + 500)
      provider.delayMs = 0
      window.end = Date.now()
      return name === null ? null : window
    }
    case '5xx-burst':
    case 'hang': {
      if (kind === 'hang') provider.faults.push('hang')
      else provider.faults.push('5xx', '5xx', '5xx')
      const name = await nextCall(0)
      await sleep(kind === 'hang' ? REFRESH_TIMEOUT_MS + 1_000 : 3_000)
      provider.faults.length = 0
      window.end = Date.now()
      return name === null ? null : window
    }
  }
}

const durationMs = MINUTES * 60_000
const startedAt = Date.now()
say(`tokengate chaos: ${MINUTES} min, 3 gateways, redis ${redisUrl} (AOF), provider ${provider.url}, ${TOKEN_TTL_S}-second tokens; history in ${folder}`)
await sleep(3_000)
let round = 0
const schedule = [...FAULT_KINDS]
let roundStartedAt = Date.now()
while (Date.now() - startedAt < durationMs - 15_000) {
  // Every kind in turn, in a shuffled order each round, so each is injected about equally often.
  if (round % FAULT_KINDS.length === 0) {
    if (round > 0) say(`  round ${round / FAULT_KINDS.length} took ${Math.round((Date.now() - roundStartedAt) / 1000)} s`)
    roundStartedAt = Date.now()
    schedule.sort(() => Math.random() - 0.5)
  }
  const kind = schedule[round % FAULT_KINDS.length]!
  round++
  try {
    const window = await inject(kind)
    if (window !== null) {
      faults.push(window)
      say(`  ${Math.round((Date.now() - startedAt) / 1000)} s: ${kind}${window.replica === null ? '' : ` ${window.replica}`} (${window.end - window.start} ms); ${provider.calls.filter((c) => c.outcome === 'ok').length} rotations, ${clients.length} requests`)
    }
  } catch (err) {
    say(`  fault ${kind} could not be injected: ${(err as Error).message}`)
  }
  await sleep(200 + Math.random() * 400)
}
// Quiet end: every replica up, nothing pending, so the last rotations can be checked.
await sleep(10_000)
run.going = false
await Promise.allSettled([...load, forcer, storePoller])
for (const replica of replicas) await replica.server?.stop()
// The last word of the store, once no gateway can write any more (the poller has stopped).
const final = await watcher.get(`${KEY}:tokens`).catch(() => null)
if (final !== null) {
  const record = JSON.parse(final) as { version: number, refreshToken: string }
  if (record.version !== lastSeen) store.push({ at: Date.now(), version: record.version, refreshToken: record.refreshToken })
}
watcher.disconnect()
listener.disconnect()
await stopRedis()
await provider.close()
upstream.close()
await dispatcher.close()

const history: History = { calls: provider.calls, store, announced, clients, faults, expiredServed, revokedFamilies: provider.revokedFamilies, endedAt: Date.now() }
writeFileSync(join(folder, 'history.json'), JSON.stringify(history))
const result = check(history, FAULT_KINDS)
for (const line of result.report) say(line)
say(`upstream requests checked: ${upstreamChecked}`)
say(`chaos: ${result.rotations} rotations, ${faults.length} faults, ${result.violations.length} violations`)
process.exitCode = result.violations.length === 0 ? 0 : 1
