// The file store over real temporary folders: what is on disk after a save (mode, content, no temp
// files), what a failed save leaves behind, queued saves, the errors of load, the temp files a
// crash left, and the lock a gateway holds.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { StoreLockedError } from '../../src/errors.js'
import { FileTokenStore } from '../../src/stores/fileTokenStore.js'
import type { TokenRecord } from '../../src/stores/tokenStore.js'
import { lockContender } from '../helpers/lockContender.js'
import { record, storeError } from '../helpers/stores.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-file-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const modeOf = (path: string): number => statSync(path).mode & 0o777
const tempFiles = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.tmp'))
const onDisk = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'))

t.test('load returns null when there is no file (nor folder)', async (t) => {
  const dir = tempDir(t)
  t.equal(await new FileTokenStore(join(dir, 'tokens.json')).load(), null)
  t.equal(await new FileTokenStore(join(dir, 'missing', 'tokens.json')).load(), null)
  t.same(readdirSync(dir), [], 'load creates nothing')
})

t.test('save writes the record as JSON in a 0600 file; load reads it back', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  t.equal(store.kind, 'file')
  t.equal(store.path, path)
  await store.save(record(1))
  t.equal(modeOf(path), 0o600)
  t.same(onDisk(path), record(1))
  t.ok(readFileSync(path, 'utf8').endsWith('}\n'), 'ends with a newline')
  t.same(await store.load(), record(1))
  t.same(await new FileTokenStore(path).load(), record(1), 'another store on the same path reads it too')
  const nulls = { ...record(2), refreshToken: null, expiresAtMs: null, seedFingerprint: null }
  await store.save(nulls)
  t.same(await store.load(), nulls, 'null fields survive the round trip')
  t.same(readdirSync(dir), ['tokens.json'], 'no temp file remains')
})

t.test('save creates missing folders 0700', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'a', 'b', 'tokens.json')
  await new FileTokenStore(path).save(record(1))
  t.equal(modeOf(join(dir, 'a')), 0o700, 'the intermediate folder')
  t.equal(modeOf(join(dir, 'a', 'b')), 0o700, 'the folder of the file')
  t.equal(modeOf(path), 0o600)
  t.same(readdirSync(join(dir, 'a', 'b')), ['tokens.json'])
})

t.test('save replaces an existing file by a new 0600 one, whatever the old one was', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  writeFileSync(path, 'not even JSON')
  chmodSync(path, 0o644)
  await new FileTokenStore(path).save(record(5))
  t.equal(modeOf(path), 0o600, 'the loose mode went with the old file')
  t.same(onDisk(path), record(5))
  t.same(tempFiles(dir), [])
})

t.test('saves are queued: fired together, they complete in order and the last one is on disk', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  const completed: number[] = []
  const saves = [1, 2, 3, 4, 5, 6, 7, 8].map((version) => store.save(record(version)).then(() => { completed.push(version) }))
  await Promise.all(saves)
  t.same(completed, [1, 2, 3, 4, 5, 6, 7, 8])
  t.same(onDisk(path), record(8), 'the file parses and holds the last save')
  t.same(await store.load(), record(8))
  t.same(readdirSync(dir), ['tokens.json'], 'no temp file remains')
})

t.test('a queued save writes the record as it was when save() was called', async (t) => {
  // The memory store copies records in; a queued file save should not see later changes either.
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  const first = store.save(record(1))
  const second = record(2)
  const queued = store.save(second)
  second.accessToken = 'changed after save() returned'
  await Promise.all([first, queued])
  t.equal((onDisk(path) as TokenRecord).version, 2, 'the queued save ran')
  t.equal((onDisk(path) as TokenRecord).accessToken, 'at_2', 'the access token passed to save()')
})

t.test('close waits for the saves in flight', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  const pending = [store.save(record(1)), store.save(record(2))]
  t.equal(await store.close(), undefined)
  t.same(onDisk(path), record(2), 'both saves were on disk when close resolved')
  await Promise.all(pending)
  t.same(await store.load(), record(2), 'still readable after close')
})

t.test('a save that fails in the folder (immutable): StoreError, previous file intact, no temp file', {
  skip: process.getuid?.() === 0 ? false : 'chattr +i needs root'
}, async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  await store.save(record(1))
  // Registered before the attribute is set, so the folder can always be removed afterwards.
  t.teardown(() => { execFileSync('chattr', ['-i', dir]) })
  execFileSync('chattr', ['+i', dir])
  const err = await storeError(t, store.save(record(2)))
  t.equal(err.message, `cannot write the token file ${path} (EPERM)`)
  t.equal(err.statusCode, 500)
  t.same(onDisk(path), record(1), 'the previous record is untouched')
  t.same(await store.load(), record(1))
  t.same(readdirSync(dir), ['tokens.json'], 'no temp file left behind')
  execFileSync('chattr', ['-i', dir])
  await store.save(record(3))
  t.same(await store.load(), record(3), 'the store saves again once the folder is writable: the queue is not stuck')
  t.same(readdirSync(dir), ['tokens.json'])
})

t.test('a save under a path whose parent is a regular file: StoreError (ENOTDIR), nothing created', async (t) => {
  const dir = tempDir(t)
  const blocker = join(dir, 'not-a-folder')
  writeFileSync(blocker, 'plain file')
  const path = join(blocker, 'sub', 'tokens.json')
  const store = new FileTokenStore(path)
  const err = await storeError(t, store.save(record(1)))
  t.equal(err.message, `cannot write the token file ${path} (ENOTDIR)`)
  t.equal(readFileSync(blocker, 'utf8'), 'plain file', 'the file in the way is untouched')
  t.same(readdirSync(dir), ['not-a-folder'])
})

t.test('a record that cannot be serialised: StoreError with the reason, temp file removed, previous file intact', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  await store.save(record(1))
  const unserialisable = { ...record(2), version: 2n } as unknown as TokenRecord
  const err = await storeError(t, store.save(unserialisable))
  t.match(err.message, /^cannot write the token file .+ \(Do not know how to serialize a BigInt\)$/, 'an error without a code: its message')
  t.same(readdirSync(dir), ['tokens.json'], 'the temp file created for the write was removed')
  t.same(await store.load(), record(1))
})

t.test('a failed save does not hold up the saves queued behind it', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  const failing = store.save({ ...record(1), version: 1n } as unknown as TokenRecord)
  const next = store.save(record(2))
  await storeError(t, failing)
  await next
  t.same(onDisk(path), record(2))
  t.same(readdirSync(dir), ['tokens.json'])
  await store.close()
  t.pass('close resolves after a failed save')
})

t.test('load: StoreError for a file that is not valid JSON', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  for (const text of ['{"accessToken": "at_1", ', '', 'at_1']) {
    writeFileSync(path, text)
    const err = await storeError(t, store.load())
    t.equal(err.message, `the token file ${path} is not valid JSON`, JSON.stringify(text))
  }
})

t.test('load: StoreError for JSON that is not a token record', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  for (const value of [null, [], 'at_1', {}, { ...record(1), version: -1 }, { ...record(1), accessToken: '' }]) {
    writeFileSync(path, JSON.stringify(value))
    const err = await storeError(t, store.load())
    t.equal(err.message, `the token file ${path} does not hold a token record`, JSON.stringify(value))
  }
})

t.test('load: StoreError naming the code when the file cannot be read', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  mkdirSync(path)
  const err = await storeError(t, new FileTokenStore(path).load())
  t.equal(err.message, `cannot read the token file ${path} (EISDIR)`)
  const blocker = join(dir, 'plain')
  writeFileSync(blocker, 'x')
  const under = join(blocker, 'tokens.json')
  const notDir = await storeError(t, new FileTokenStore(under).load())
  t.equal(notDir.message, `cannot read the token file ${under} (ENOTDIR)`, 'a file in the way of the folder is reported, not taken for a missing file')
})

t.test('moveAside renames the file next to itself and returns the new path', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  writeFileSync(path, '{ corrupt')
  const before = Date.now()
  const aside = await store.moveAside()
  t.match(aside, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.corrupt-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z$`))
  const stamp = aside.slice(`${path}.corrupt-`.length).replace(/T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/, 'T$1:$2:$3.$4Z')
  t.ok(Date.parse(stamp) >= before && Date.parse(stamp) <= Date.now(), 'stamped with the current time')
  t.equal(existsSync(path), false, 'the file is gone from its path')
  t.equal(readFileSync(aside, 'utf8'), '{ corrupt', 'kept, unchanged, for the operator')
  t.equal(await store.load(), null, 'the store now starts empty')
  await store.save(record(1))
  t.same(await store.load(), record(1), 'and saves to its path again')
  await t.rejects(new FileTokenStore(join(dir, 'missing.json')).moveAside(), { code: 'ENOENT' }, 'nothing to move: the fs error')
})

t.test('exposedPaths reports the folder and the file when group or others have any access', async (t) => {
  const dir = tempDir(t)
  const folder = join(dir, 'store')
  const path = join(folder, 'tokens.json')
  const store = new FileTokenStore(path)
  t.same(await store.exposedPaths(), [], 'neither exists yet')
  await store.save(record(1))
  t.same(await store.exposedPaths(), [], 'as created: 0700 folder, 0600 file')
  chmodSync(folder, 0o755)
  t.same(await store.exposedPaths(), [folder], 'a folder others may enter')
  chmodSync(path, 0o640)
  t.same(await store.exposedPaths(), [folder, path], 'and a file the group may read')
  chmodSync(folder, 0o700)
  chmodSync(path, 0o602)
  t.same(await store.exposedPaths(), [path], 'a file others may write')
  chmodSync(path, 0o700)
  t.same(await store.exposedPaths(), [], 'owner bits alone are fine')
  rmSync(path)
  chmodSync(folder, 0o701)
  t.same(await store.exposedPaths(), [folder], 'a missing file is skipped; the folder is still checked')
})

/** A temp file as write() names them, holding `text`. */
function leftover (dir: string, text: string, pid = 4242): string {
  const path = join(dir, `.tokens.json.${pid}.${randomBytes(4).toString('hex')}.tmp`)
  writeFileSync(path, text, { mode: 0o600 })
  return path
}
const whole = (version: number): string => `${JSON.stringify(record(version), null, 2)}\n`

t.test('recoverTempFiles: the newest whole record newer than the token file is adopted, every other temp file removed', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  t.same(await new FileTokenStore(join(dir, 'missing', 'tokens.json')).recoverTempFiles(), { adopted: null, movedAside: null, removed: [] }, 'no folder yet: nothing to do')
  await store.save(record(3))
  const newer = leftover(dir, whole(5))
  const newest = leftover(dir, whole(6))
  const removed = [
    leftover(dir, whole(4)),
    leftover(dir, whole(2)),
    leftover(dir, whole(3)),
    leftover(dir, whole(6).slice(0, 40)),
    leftover(dir, ''),
    leftover(dir, JSON.stringify({ ...record(9), accessToken: '' }))
  ]
  const kept = ['.other.json.4242.0123abcd.tmp', '.tokens.json.4242.backup', '.tokens.json.4242.0123ABCD.tmp', 'tokens.json.corrupt-2026-11-28T00-00-00-000Z']
  for (const name of kept) writeFileSync(join(dir, name), whole(99), { mode: 0o600 })

  const recovery = await store.recoverTempFiles()
  t.equal(recovery.adopted, newest, 'the highest version wins')
  t.equal(recovery.movedAside, null)
  t.same(recovery.removed.sort(), [newer, ...removed].sort(), 'older, equal, torn and invalid ones are removed, and the newer one that lost')
  t.same(await store.load(), record(6))
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.same(readdirSync(dir).sort(), [...kept, 'tokens.json'].sort(), 'other files stay')
  t.same(await store.recoverTempFiles(), { adopted: null, movedAside: null, removed: [] }, 'nothing left to do')
})

t.test('recoverTempFiles: with no token file a whole record is adopted; with none newer nothing is', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  const only = leftover(dir, whole(0))
  t.same(await store.recoverTempFiles(), { adopted: only, movedAside: null, removed: [] }, 'version 0 beats no file')
  t.same(await store.load(), record(0))

  const torn = leftover(dir, '{"accessToken": "at_1", "refr')
  const same = leftover(dir, whole(0))
  t.same((await store.recoverTempFiles()).removed.sort(), [same, torn].sort())
  t.same(await store.load(), record(0), 'the token file is untouched')
})

t.test('recoverTempFiles: an unusable token file is moved aside, kept, before a temp file replaces it', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  writeFileSync(path, '{"accessToken": "at_', { mode: 0o600 })
  const temp = leftover(dir, whole(1))
  const recovery = await store.recoverTempFiles()
  t.equal(recovery.adopted, temp)
  t.match(recovery.movedAside, /tokens\.json\.corrupt-/)
  t.equal(readFileSync(recovery.movedAside!, 'utf8'), '{"accessToken": "at_', 'kept as it was')
  t.same(await store.load(), record(1))

  writeFileSync(path, 'garbage again')
  t.same(await store.recoverTempFiles(), { adopted: null, movedAside: null, removed: [] }, 'without a temp file an unusable token file is left to start-up')
  t.equal(readFileSync(path, 'utf8'), 'garbage again')
})

t.test('recoverTempFiles: StoreError when a temp file cannot be adopted, which is left in place', { skip: process.getuid?.() === 0 ? false : 'chattr +i needs root' }, async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const store = new FileTokenStore(path)
  await store.save(record(1))
  const temp = leftover(dir, whole(2))
  t.teardown(() => { execFileSync('chattr', ['-i', path]) })
  execFileSync('chattr', ['+i', path])
  const err = await storeError(t, store.recoverTempFiles())
  t.equal(err.message, `cannot recover the temp files beside the token file ${path} (EPERM)`)
  t.equal(readFileSync(temp, 'utf8'), whole(2), 'the newer tokens are still there')
  execFileSync('chattr', ['-i', path])
})

t.test('lock: taken for as long as the store is open, beside the token file; close lets it go', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state', 'tokens.json')
  const store = new FileTokenStore(path)
  t.equal(store.lockFile.path, `${path}.lock`)
  await store.lock()
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, process.pid)
  await store.save(record(1))
  t.same(readdirSync(join(dir, 'state')).sort(), ['tokens.json', 'tokens.json.lock'])
  t.same(await new FileTokenStore(path).load(), record(1), 'a reader needs no lock')
  await store.close()
  t.same(readdirSync(join(dir, 'state')), ['tokens.json'], 'the lock is gone')
})

t.test('lock: another live gateway holds it: StoreLockedError, and nothing written', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const holder = await lockContender(t)
  t.same(await holder.acquire(`${path}.lock`), { won: true })
  const store = new FileTokenStore(path)
  const err = await store.lock().then(() => null, (e: unknown) => e)
  t.ok(err instanceof StoreLockedError)
  t.match((err as StoreLockedError).holder, `pid ${holder.pid} on host ${hostname()}, since `)
  const saveErr = await storeError(t, store.save(record(1)))
  t.match(saveErr.message, `cannot write the token file ${path}: another gateway holds its lock (pid ${holder.pid} on host ${hostname()}, since `)
  t.same(readdirSync(dir), ['tokens.json.lock'], 'no token file, no temp file')
})

t.test('lock: one that cannot be made is a StoreError, and each save tries again', async (t) => {
  const dir = tempDir(t)
  const blocker = join(dir, 'not-a-folder')
  writeFileSync(blocker, 'plain file')
  const path = join(blocker, 'sub', 'tokens.json')
  const store = new FileTokenStore(path)
  const err = await storeError(t, store.lock())
  t.equal(err.message, `cannot lock the token file ${path} (ENOTDIR)`)
  const saveErr = await storeError(t, store.save(record(1)))
  t.equal(saveErr.message, `cannot write the token file ${path} (ENOTDIR)`, 'the save names the same cause')
  rmSync(blocker)
  await store.save(record(2))
  t.same(await store.load(), record(2), 'once possible, the save takes the lock and writes')
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, process.pid)
  await store.close()
  t.equal(existsSync(`${path}.lock`), false)
})

t.test('lock: lost while open, a save takes it again when free and fails while another holds it', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const lost: string[] = []
  const store = new FileTokenStore(path, { lock: { onLost: (message) => { lost.push(message) } } })
  await store.lock()
  await store.save(record(1))
  rmSync(`${path}.lock`)
  await store.save(record(2))
  t.same(lost, [`the lock file ${path}.lock was removed while this gateway held it`])
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, process.pid, 'taken again')
  t.same(await store.load(), record(2))

  // Taken over by a gateway on another host that found it abandoned.
  writeFileSync(`${path}.lock.new`, JSON.stringify({ pid: 7, hostname: 'another-host', startedAt: '2026-11-30T12:00:00.000Z', nonce: 'theirs' }))
  renameSync(`${path}.lock.new`, `${path}.lock`)
  const err = await storeError(t, store.save(record(3)))
  t.equal(err.message, `cannot write the token file ${path}: another gateway holds its lock (pid 7 on host another-host, since 2026-11-30T12:00:00.000Z)`)
  t.same(await store.load(), record(2), 'the other gateway\'s file is not written')
  t.equal(lost.length, 2)
  await store.close()
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).nonce, 'theirs', 'close leaves their lock')
})
