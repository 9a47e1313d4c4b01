// The file store's lock over real folders and real processes: taken and let go, refused while its
// holder lives, taken over once it is gone (a dead pid, our own pid, a silent host, a torn file),
// the heartbeat, and processes racing for it.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { StoreLockedError } from '../../src/errors.js'
import { FileLock, LOCK_HEARTBEAT_MS, LOCK_STALE_MS, parseHolder, type LockHolder } from '../../src/stores/fileLock.js'
import { fill, smallDisk, type SmallDisk } from '../helpers/disk.js'
import { lockContender } from '../helpers/lockContender.js'
import { canLockFolders, lockFolder } from '../helpers/process.js'
import { waitFor } from '../helpers/servers.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-file-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const holderOf = (path: string): LockHolder => JSON.parse(readFileSync(path, 'utf8')) as LockHolder
const ageBack = (path: string, ms: number): void => {
  const at = new Date(Date.now() - ms)
  utimesSync(path, at, at)
}
// A lock file of another process, put in place as a take-over does: a new file renamed over the path.
const plant = (path: string, holder: Partial<LockHolder>, ageMs = 0): void => {
  writeFileSync(`${path}.planted`, JSON.stringify({ pid: 1, hostname: hostname(), startedAt: '2026-11-30T12:00:00.000Z', nonce: 'planted', ...holder }), { mode: 0o600 })
  renameSync(`${path}.planted`, path)
  ageBack(path, ageMs)
}
// A pid that ran and has exited: a child's own.
const deadPid = (): number => Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }))

/** A FileLock released at the end of the test. */
function lockAt (t: Test, path: string, options: ConstructorParameters<typeof FileLock>[1] = {}): FileLock {
  const lock = new FileLock(path, options)
  t.teardown(() => lock.release())
  return lock
}

async function refusal (t: Test, promise: Promise<unknown>): Promise<StoreLockedError> {
  try {
    await promise
  } catch (err) {
    t.ok(err instanceof StoreLockedError, 'a StoreLockedError')
    t.equal((err as StoreLockedError).code, 'TOKENGATE_STORE_LOCKED')
    return err as StoreLockedError
  }
  t.fail('expected the lock to be refused')
  return new StoreLockedError('', '')
}

t.test('the limits: a heartbeat every 10 s, abandoned after 30 s', async (t) => {
  t.equal(LOCK_HEARTBEAT_MS, 10_000)
  t.equal(LOCK_STALE_MS, 30_000)
})

t.test('acquire writes the holder in a 0600 file, creating a 0700 folder; release removes it', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state', 'tokens.json.lock')
  const lock = lockAt(t, path)
  t.equal(lock.held, false)
  const before = Date.now()
  await lock.acquire()
  t.equal(lock.held, true)
  t.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700)
  t.equal(statSync(path).mode & 0o777, 0o600)
  const holder = holderOf(path)
  t.equal(holder.pid, process.pid)
  t.equal(holder.hostname, hostname())
  t.ok(Date.parse(holder.startedAt) >= before - 1 && Date.parse(holder.startedAt) <= Date.now(), 'startedAt is now')
  t.match(holder.nonce, /^[0-9a-f]{16}$/)
  await lock.acquire()
  t.equal(holderOf(path).nonce, holder.nonce, 'acquiring again while held changes nothing')
  t.equal(await lock.verify(), true)

  await lock.release()
  t.equal(lock.held, false)
  t.equal(existsSync(path), false, 'the lock file is gone')
  t.same(readdirSync(join(dir, 'state')), [], 'and nothing else was left')
  await lock.release()
  t.equal(await lock.verify(), false, 'not held: verify says so')
  await lock.acquire()
  t.not(holderOf(path).nonce, holder.nonce, 'taken again, with a new nonce')
})

t.test('held by a live process: refused, naming its pid, host and start', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  const holder = await lockContender(t)
  t.same(await holder.acquire(path), { won: true })
  const startedAt = holderOf(path).startedAt
  const err = await refusal(t, lockAt(t, path).acquire())
  t.equal(err.lockPath, path)
  t.equal(err.holder, `pid ${holder.pid} on host ${hostname()}, since ${startedAt}`)
  t.equal(err.message, `${path} is held by another process (pid ${holder.pid} on host ${hostname()}, since ${startedAt})`)
  t.equal(holderOf(path).pid, holder.pid, 'the holder\'s lock is untouched')
  t.same(readdirSync(join(path, '..')), ['tokens.json.lock'], 'no guard or temp file is left')

  ageBack(path, LOCK_STALE_MS * 10)
  await refusal(t, lockAt(t, path).acquire())
  t.pass('on this host a live pid holds it however old its heartbeat')

  await holder.release()
  t.equal(existsSync(path), false)
  const lock = lockAt(t, path)
  await lock.acquire()
  t.equal(holderOf(path).pid, process.pid, 'free again once its holder let it go')
})

t.test('taken over from a dead pid on this host, and from our own pid (a restarted container)', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  for (const [what, pid] of [['a dead pid', deadPid()], ['our own pid', process.pid]] as const) {
    plant(path, { pid })
    const lock = new FileLock(path)
    await lock.acquire()
    t.equal(holderOf(path).pid, process.pid, `${what}: taken over`)
    t.not(holderOf(path).nonce, 'planted', what)
    t.same(readdirSync(join(path, '..')), ['tokens.json.lock'], `${what}: the guard and the temp lock are gone`)
    await lock.release()
  }
})

t.test('another host\'s lock: refused while its heartbeat is fresh, taken over once 30 s old', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  // A pid of another host means nothing here: ours, alive, must not make it count as abandoned.
  plant(path, { hostname: 'another-host', pid: process.pid, startedAt: '2026-11-30T12:00:00.000Z' }, LOCK_STALE_MS - 5_000)
  const err = await refusal(t, lockAt(t, path).acquire())
  t.equal(err.holder, `pid ${process.pid} on host another-host, since 2026-11-30T12:00:00.000Z`)

  // The injected clock decides the age, not the machine's.
  await refusal(t, lockAt(t, path, { now: () => Date.now() - 60_000 }).acquire())
  const later = lockAt(t, path, { now: () => Date.now() + 10_000 })
  await later.acquire()
  t.equal(holderOf(path).pid, process.pid, 'the clock moved on: taken over')
  await later.release()

  plant(path, { hostname: 'another-host' }, LOCK_STALE_MS + 1_000)
  const lock = lockAt(t, path)
  await lock.acquire()
  t.equal(holderOf(path).hostname, hostname(), 'untouched for longer than 30 s: taken over')
})

t.test('an unreadable lock file (a crash while it was written): refused while new, taken over once old', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  for (const text of ['', '{"pid": 12', 'null', '[]', '{}']) {
    writeFileSync(path, text)
    ageBack(path, 2_000)
    const err = await refusal(t, lockAt(t, path).acquire())
    t.equal(err.holder, 'unreadable lock, last changed 2 s ago: abandoned once 30 s old', JSON.stringify(text))
    ageBack(path, LOCK_STALE_MS + 1_000)
    const lock = new FileLock(path)
    await lock.acquire()
    t.equal(holderOf(path).pid, process.pid, `${JSON.stringify(text)}: taken over once old`)
    await lock.release()
  }
})

t.test('a new lock file being written as it is looked at: refused naming its holder once readable', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  // What a process that has just made the lock file with O_EXCL shows before it has written it.
  writeFileSync(path, '')
  setTimeout(() => { writeFileSync(path, JSON.stringify({ pid: 4242, hostname: 'another-host', startedAt: '2026-11-30T12:00:00.000Z', nonce: 'theirs' })) }, 15)
  const err = await refusal(t, lockAt(t, path).acquire())
  t.equal(err.holder, 'pid 4242 on host another-host, since 2026-11-30T12:00:00.000Z')
})

t.test('parseHolder takes only a whole holder', async (t) => {
  const whole = { pid: 7, hostname: 'h', startedAt: 's', nonce: 'n' }
  t.same(parseHolder(JSON.stringify({ ...whole, extra: true })), whole)
  for (const value of [null, 7, 'text', { ...whole, pid: 0 }, { ...whole, pid: -1 }, { ...whole, pid: 1.5 }, { ...whole, pid: '7' },
    { ...whole, hostname: 1 }, { ...whole, startedAt: null }, { ...whole, nonce: undefined }]) {
    t.equal(parseHolder(JSON.stringify(value)), null, JSON.stringify(value))
  }
  t.equal(parseHolder('{'), null)
})

t.test('the take-over guard', async (t) => {
  await t.test('one left by a process that died taking over (older than 30 s) is passed over, and removed with the next take-over', async (t) => {
    const path = join(tempDir(t), 'tokens.json.lock')
    plant(path, { pid: deadPid() })
    writeFileSync(`${path}.takeover.1`, '')
    ageBack(`${path}.takeover.1`, LOCK_STALE_MS + 1_000)
    const lock = lockAt(t, path)
    await lock.acquire()
    t.equal(holderOf(path).pid, process.pid)
    t.same(readdirSync(join(path, '..')), ['tokens.json.lock'], 'guards 1 and 2 are gone')
  })

  await t.test('a fresh one: another process is taking over, so wait; it counts as abandoned once old', async (t) => {
    const path = join(tempDir(t), 'tokens.json.lock')
    plant(path, { pid: deadPid() })
    writeFileSync(`${path}.takeover.1`, '')
    const lock = lockAt(t, path, { staleMs: 300 })
    const started = Date.now()
    await lock.acquire()
    t.ok(Date.now() - started >= 250, `waited for the guard to age (${Date.now() - started} ms)`)
    t.equal(holderOf(path).pid, process.pid)
    t.same(readdirSync(join(path, '..')), ['tokens.json.lock'])
  })

  await t.test('the holder does not remove its lock while a fresh guard says another process is replacing it', async (t) => {
    const path = join(tempDir(t), 'tokens.json.lock')
    const lock = new FileLock(path)
    await lock.acquire()
    const nonce = holderOf(path).nonce
    writeFileSync(`${path}.takeover.1`, '')
    await lock.release()
    t.equal(lock.held, false)
    t.equal(holderOf(path).nonce, nonce, 'left to the process taking it over')
    t.ok(existsSync(`${path}.takeover.1`), 'and its guard too')
  })
})

t.test('release leaves a lock another process took over; verify tells onLost once', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  const lost: string[] = []
  const lock = new FileLock(path, { onLost: (message) => { lost.push(message) } })
  await lock.acquire()
  plant(path, { pid: 99, hostname: 'another-host', nonce: 'theirs' })
  t.same(await Promise.all([lock.verify(), lock.verify()]), [false, false], 'a save and a heartbeat checking at once')
  t.same(lost, [`the lock file ${path} was taken over by another process while this gateway held it`], 'told once')
  t.equal(lock.held, false)
  await lock.release()
  t.equal(holderOf(path).nonce, 'theirs', 'release removed nothing: the lock is theirs')

  const mine = new FileLock(path, { onLost: (message) => { lost.push(message) } })
  rmSync(path)
  await mine.acquire()
  rmSync(path)
  t.equal(await mine.verify(), false)
  t.equal(lost[1], `the lock file ${path} was removed while this gateway held it`)
  t.equal(existsSync(path), false)
})

t.test('release of a lock already taken over in between removes nothing; without onLost a loss is silent', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  const lock = new FileLock(path)
  await lock.acquire()
  plant(path, { nonce: 'someone-else', hostname: 'another-host' })
  await lock.release()
  t.equal(holderOf(path).nonce, 'someone-else')
  const other = new FileLock(join(tempDir(t), 'tokens.json.lock'))
  await other.acquire()
  rmSync(other.path)
  t.equal(await other.verify(), false)
})

t.test('a lock that cannot be removed (the folder turned unwritable) is let go all the same', { skip: canLockFolders() ? false : 'chattr is not available to make a folder unwritable for root' }, async (t) => {
  const dir = tempDir(t)
  const lock = new FileLock(join(dir, 'tokens.json.lock'))
  await lock.acquire()
  lockFolder(t, dir)
  await lock.release()
  t.equal(lock.held, false)
  t.equal(holderOf(lock.path).pid, process.pid, 'left for the next start, which takes over a dead pid or its own')
})

t.test('the heartbeat keeps the lock file\'s time fresh, and notices a take-over', async (t) => {
  const path = join(tempDir(t), 'tokens.json.lock')
  const lost: string[] = []
  const lock = lockAt(t, path, { heartbeatMs: 40, onLost: (message) => { lost.push(message) } })
  await lock.acquire()
  ageBack(path, 60_000)
  await waitFor(() => Date.now() - statSync(path).mtimeMs < 5_000, 2_000, 'a heartbeat')
  t.pass('touched again')
  t.equal(lost.length, 0)
  plant(path, { nonce: 'someone-else', hostname: 'another-host' }, 60_000)
  await waitFor(() => lost.length === 1, 2_000, 'the heartbeat to notice')
  t.equal(lock.held, false)
  const age = Date.now() - statSync(path).mtimeMs
  t.ok(age > 50_000, 'the other process\'s file is never touched')
})

t.test('file system errors come as Node gives them, leaving nothing behind', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'plain'), 'x')
  await t.rejects(new FileLock(join(dir, 'plain', 'tokens.json.lock')).acquire(), { code: 'EEXIST' }, 'a file where the folder should be')
  // A folder where the lock file should be: it exists, but cannot be read as a lock.
  const folder = join(dir, 'folder.lock')
  mkdirSync(folder)
  await t.rejects(new FileLock(folder).acquire(), { code: 'EISDIR' })
  t.same(readdirSync(dir).sort(), ['folder.lock', 'plain'])
  const loop = join(dir, 'loop.lock')
  symlinkSync(loop, loop)
  await t.rejects(new FileLock(loop).acquire(), { code: 'ELOOP' }, 'a lock path that cannot be opened')
})

t.test('an unwritable folder: the error, no lock', { skip: canLockFolders() ? false : 'chattr is not available to make a folder unwritable for root' }, async (t) => {
  const dir = tempDir(t)
  lockFolder(t, dir)
  await t.rejects(new FileLock(join(dir, 'tokens.json.lock')).acquire(), { code: process.getuid?.() === 0 ? 'EPERM' : 'EACCES' })
  t.same(readdirSync(dir), [])
})

t.test('a take-over whose rename fails (an immutable lock file) leaves no temp lock', { skip: process.getuid?.() === 0 ? false : 'chattr +i needs root' }, async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json.lock')
  plant(path, { pid: deadPid() })
  execFileSync('chattr', ['+i', path])
  t.teardown(() => { execFileSync('chattr', ['-i', path]) })
  await t.rejects(new FileLock(path).acquire(), { code: 'EPERM' })
  t.same(readdirSync(dir), ['tokens.json.lock'], 'no guard, no temp lock')
  execFileSync('chattr', ['-i', path])
})

const disk = smallDisk()

t.test('a full disk: the lock file cannot be written, and is not left empty', { skip: typeof disk === 'string' ? disk : false }, async (t) => {
  const { folder, unmount } = disk as SmallDisk
  t.teardown(unmount)
  const filler = fill(folder)
  const path = join(folder, 'tokens.json.lock')
  await t.rejects(new FileLock(path).acquire(), { code: 'ENOSPC' })
  t.same(readdirSync(folder), ['filler'])
  rmSync(filler)
  plant(path, { pid: deadPid() })
  fill(folder)
  await t.rejects(new FileLock(path).acquire(), { code: 'ENOSPC' }, 'nor can the temp lock of a take-over')
  t.same(readdirSync(folder), ['filler', 'tokens.json.lock'], 'the old lock stays, no guard, no temp lock')
})

// Each round, every contender is told to acquire at the same moment, from its own process.
const RACE_ROUNDS = 200
const CONTENDERS = 3

t.test(`${CONTENDERS} processes racing for one lock, ${RACE_ROUNDS} rounds: exactly one wins each time`, async (t) => {
  const contenders = await Promise.all(Array.from({ length: CONTENDERS }, async () => await lockContender(t)))
  const gone = deadPid()
  // What each round finds: no lock, or one abandoned in each of the ways a take-over handles.
  const scenarios: Record<string, (path: string) => void> = {
    free: () => {},
    'dead pid': (path) => { plant(path, { pid: gone }) },
    'silent host': (path) => { plant(path, { hostname: 'another-host' }, LOCK_STALE_MS + 1_000) },
    'torn file': (path) => { writeFileSync(path, '{"pid"'); ageBack(path, LOCK_STALE_MS + 1_000) },
    'dead guard': (path) => {
      plant(path, { pid: gone })
      writeFileSync(`${path}.takeover.1`, '')
      ageBack(`${path}.takeover.1`, LOCK_STALE_MS + 1_000)
    }
  }
  const names = Object.keys(scenarios)
  const failures: string[] = []
  const winsBy = new Map<number, number>()
  for (let round = 0; round < RACE_ROUNDS; round++) {
    const dir = tempDir(t)
    const path = join(dir, 'tokens.json.lock')
    const scenario = names[round % names.length]
    scenarios[scenario](path)
    const results = await Promise.all(contenders.map(async (contender) => await contender.acquire(path)))
    const winners = contenders.filter((_, i) => results[i].won)
    if (winners.length !== 1) failures.push(`round ${round} (${scenario}): ${winners.length} winners`)
    const refused = results.filter((result) => !result.won)
    if (refused.some((result) => result.code !== 'TOKENGATE_STORE_LOCKED')) failures.push(`round ${round} (${scenario}): ${JSON.stringify(refused)}`)
    if (winners.length === 1) {
      winsBy.set(winners[0].pid, (winsBy.get(winners[0].pid) ?? 0) + 1)
      if (holderOf(path).pid !== winners[0].pid) failures.push(`round ${round} (${scenario}): the file names pid ${holderOf(path).pid}`)
    }
    await Promise.all(contenders.map(async (contender) => { await contender.release() }))
    const left = readdirSync(dir)
    if (left.length > 0) failures.push(`round ${round} (${scenario}): left ${left.join(', ')}`)
  }
  t.same(failures, [], 'one winner, the others refused, nothing left behind')
  t.comment(`wins per contender: ${[...winsBy.values()].join(', ')}`)
})

t.test('containers that share the host name (host networking) are told apart by their pid namespaces', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json.lock')
  const ours = readlinkSync('/proc/self/ns/pid')
  const lock = lockAt(t, path)
  await lock.acquire()
  t.equal(holderOf(path).pidNamespace, ours, 'the holder names its pid namespace')
  await lock.release()

  // Another container on this host name, whose gateway happens to have our pid: not us, and alive
  // as far as its heartbeat says.
  plant(path, { pid: process.pid, pidNamespace: 'pid:[1]' })
  const refused = await refusal(t, lockAt(t, path).acquire())
  t.match(refused.message, `pid ${process.pid} on host ${hostname()}`)
  plant(path, { pid: process.pid, pidNamespace: 'pid:[1]' }, LOCK_STALE_MS + 1000)
  const late = lockAt(t, path)
  await late.acquire()
  t.equal(holderOf(path).nonce !== 'planted', true, 'its silent lock is taken over by the heartbeat rule')
  await late.release()

  // A lock written without a namespace (an older gateway) on this host: judged by its pid.
  plant(path, { pid: deadPid() })
  const older = lockAt(t, path)
  await older.acquire()
  t.equal(holderOf(path).pid, process.pid, 'a dead pid of an older lock: taken over at once')
  await older.release()
  t.equal(parseHolder(JSON.stringify({ pid: 5, hostname: 'h', startedAt: 's', nonce: 'n', pidNamespace: 7 })), null, 'a namespace that is not text is no holder')
})
