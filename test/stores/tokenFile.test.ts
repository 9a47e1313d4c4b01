// The token file shared by several credentials, over real temporary folders: the namespaced
// format on disk, the single record of earlier versions read as `default`, a damaged entry kept
// to its credential, saves of several credentials at once, the temp files a crash left, and the
// one lock. The single-credential file is tested through its store in fileTokenStore.test.ts.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { StoreLockedError } from '../../src/errors.js'
import { FileTokenStores } from '../../src/stores/fileTokenStores.js'
import { TokenFile } from '../../src/stores/tokenFile.js'
import type { TokenRecord } from '../../src/stores/tokenStore.js'
import { lockContender } from '../helpers/lockContender.js'
import { record, storeError } from '../helpers/stores.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-token-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const onDisk = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'))
const single = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`
const namespaced = (credentials: Record<string, unknown>): string => `${JSON.stringify({ credentials }, null, 2)}\n`

t.test('namespaced: each credential saves and loads its own entry of {"credentials": …}, 0600', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const file = new TokenFile(path, { namespaced: true })
  t.equal(file.namespaced, true)
  t.equal(await file.load('chat'), null, 'no file yet')
  await file.save('chat', record(1))
  t.equal(readFileSync(path, 'utf8'), namespaced({ chat: record(1) }), 'the exact text')
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.equal(await file.load('graph'), null, 'a credential without an entry')
  await file.save('graph', record(7))
  await file.save('chat', record(2))
  t.equal(readFileSync(path, 'utf8'), namespaced({ chat: record(2), graph: record(7) }), 'chat replaced in its place, graph kept')
  t.same(await file.load('chat'), record(2))
  t.same(await file.load('graph'), record(7))
  t.same(readdirSync(dir), ['tokens.json'], 'no temp file remains')
})

t.test('namespaced: a `default` entry alone is still written in the credentials format', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const file = new TokenFile(path, { namespaced: true })
  await file.save('default', record(1))
  t.equal(readFileSync(path, 'utf8'), namespaced({ default: record(1) }))
})

t.test('a single record of an earlier version is the `default` entry; a namespaced save keeps it as such', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  writeFileSync(path, single(record(4)), { mode: 0o600 })
  const file = new TokenFile(path, { namespaced: true })
  t.same(await file.load('default'), record(4), 'read as default')
  t.equal(await file.load('chat'), null, 'no other credential has one')
  await file.save('chat', record(1))
  t.equal(readFileSync(path, 'utf8'), namespaced({ default: record(4), chat: record(1) }))
  t.same(await new TokenFile(path).load('default'), record(4), 'an environment-only gateway still reads default')
})

t.test('not namespaced: the single record, unless the file is in the credentials format, whose other entries are kept', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const file = new TokenFile(path)
  t.equal(file.namespaced, false)
  await file.save('default', record(1))
  t.equal(readFileSync(path, 'utf8'), single(record(1)), 'the format of earlier versions')
  writeFileSync(path, namespaced({ chat: record(3), default: record(2) }))
  t.same(await file.load('default'), record(2), 'default read from its entry')
  await file.save('default', record(5))
  t.equal(readFileSync(path, 'utf8'), namespaced({ chat: record(3), default: record(5) }), 'chat is not lost to a gateway started without its configuration file')
  await file.save('graph', record(1))
  t.same(onDisk(path), { credentials: { chat: record(3), default: record(5), graph: record(1) } }, 'a credential other than default is an entry too')
  rmSync(path)
  await file.save('graph', record(2))
  t.equal(readFileSync(path, 'utf8'), namespaced({ graph: record(2) }), 'and never the single record, which is default\'s')
})

t.test('a damaged entry fails that credential only, and every save keeps it as the file holds it', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const damaged = '{"accessToken": "", "version": 1e400, "big": 12345678901234567890}'
  writeFileSync(path, `{"credentials": {"chat": ${damaged}, "graph": ${JSON.stringify(record(2))}, "old": [1, "two"]}}`)
  const file = new TokenFile(path, { namespaced: true })
  const err = await storeError(t, file.load('chat'))
  t.equal(err.message, `the token file ${path} (credential "chat") does not hold a token record`)
  t.notMatch(err.message, /accessToken/, 'the message quotes nothing of the entry')
  t.same(await file.load('graph'), record(2), 'graph loads')
  t.equal((await storeError(t, file.load('old'))).message, `the token file ${path} (credential "old") does not hold a token record`)
  await file.save('graph', record(3))
  await file.save('new', record(1))
  const text = readFileSync(path, 'utf8')
  t.ok(text.includes(`"chat": ${damaged},`), 'chat\'s entry byte for byte: 1e400 and the 20-digit number as written')
  t.ok(text.includes('"old": [1, "two"],'), 'a foreign entry as well')
  t.same(Object.keys((onDisk(path) as { credentials: object }).credentials), ['chat', 'graph', 'old', 'new'], 'in their order')
  t.same(await file.load('graph'), record(3))
  await file.save('chat', record(1))
  t.same(await file.load('chat'), record(1), 'chat\'s own save replaces its damaged entry')
  t.ok(readFileSync(path, 'utf8').includes('"old": [1, "two"],'), 'still kept')
})

t.test('a damaged single record fails default only; a namespaced save keeps it as default\'s entry', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  writeFileSync(path, '{"accessToken": 12}')
  const file = new TokenFile(path, { namespaced: true })
  t.equal((await storeError(t, file.load('default'))).message, `the token file ${path} does not hold a token record`, 'the message of earlier versions')
  t.equal(await file.load('chat'), null)
  await file.save('chat', record(1))
  t.equal(readFileSync(path, 'utf8'), `{\n  "credentials": {\n    "default": {"accessToken": 12},\n    "chat": ${JSON.stringify(record(1), null, 2).replaceAll('\n', '\n    ')}\n  }\n}\n`)
})

t.test('a file that is not JSON fails every credential; a namespaced save moves it aside first, a single-record save replaces it as before', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  writeFileSync(path, '{"credentials": {"chat": ', { mode: 0o600 })
  const moved: string[] = []
  const file = new TokenFile(path, { namespaced: true, onMovedAside: (aside) => { moved.push(aside) } })
  for (const credential of ['chat', 'graph']) {
    t.equal((await storeError(t, file.load(credential))).message, `the token file ${path} is not valid JSON`, credential)
  }
  await file.save('graph', record(1))
  t.equal(moved.length, 1)
  t.match(moved[0], /tokens\.json\.corrupt-/)
  t.equal(readFileSync(moved[0], 'utf8'), '{"credentials": {"chat": ', 'kept for the operator')
  t.equal(readFileSync(path, 'utf8'), namespaced({ graph: record(1) }))

  writeFileSync(path, 'garbage')
  await new TokenFile(path, { namespaced: true }).save('chat', record(1))
  t.same(onDisk(path), { credentials: { chat: record(1) } }, 'without a listener: moved aside all the same')
  t.equal(readdirSync(dir).filter((name) => name.includes('.corrupt-')).length, 2)

  writeFileSync(path, 'garbage')
  await new TokenFile(path).save('default', record(2))
  t.equal(readFileSync(path, 'utf8'), single(record(2)), 'not namespaced: replaced, as earlier versions did')
  t.equal(readdirSync(dir).filter((name) => name.includes('.corrupt-')).length, 2, 'nothing more moved aside')
})

t.test('namespaced: a file that cannot be read is not replaced (its entries would be lost)', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  mkdirSync(path)
  const err = await storeError(t, new TokenFile(path, { namespaced: true }).save('chat', record(1)))
  t.equal(err.message, `cannot write the token file ${path} (EISDIR)`)
  t.same(readdirSync(dir), ['tokens.json'], 'no temp file')
  t.ok(statSync(path).isDirectory())
})

t.test('saves of several credentials at once: queued one at a time, none loses another\'s entry', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const stores = new FileTokenStores(path, { namespaced: true })
  await stores.file.lock()
  t.teardown(() => stores.close())
  const credentials = ['chat', 'graph', 'search', 'mail']
  const completed: string[] = []
  await Promise.all([1, 2, 3, 4, 5].flatMap((version) => credentials.map(async (credential) => {
    await stores.forCredential(credential).save(record(version, `${credential}_${version}`))
    completed.push(`${credential}:${version}`)
  })))
  t.same(completed, [1, 2, 3, 4, 5].flatMap((version) => credentials.map((credential) => `${credential}:${version}`)), 'in the order they were called')
  t.same(onDisk(path), { credentials: Object.fromEntries(credentials.map((credential) => [credential, record(5, `${credential}_5`)])) })
  for (const credential of credentials) t.same(await stores.forCredential(credential).load(), record(5, `${credential}_5`))
})

t.test('a failed save of one credential holds up neither the others nor the queue', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const file = new TokenFile(path, { namespaced: true })
  const failing = file.save('chat', { ...record(1), version: 1n } as unknown as TokenRecord)
  const next = file.save('graph', record(2))
  t.match((await storeError(t, failing)).message, /^cannot write the token file .+ \(Do not know how to serialize a BigInt\)$/)
  await next
  t.same(onDisk(path), { credentials: { graph: record(2) } })
  await file.flush()
  t.pass('flush resolves after a failed save')
})

t.test('the views of one file: close waits for every credential\'s saves; the file\'s close lets the lock go', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const stores = new FileTokenStores(path, { namespaced: true })
  await stores.file.lock()
  const chat = stores.forCredential('chat')
  t.equal(chat.path, path)
  t.equal(chat.lockFile, stores.file.lockFile, 'one lock for every credential')
  const pending = stores.forCredential('graph').save(record(2))
  await chat.close()
  t.same(onDisk(path), { credentials: { graph: record(2) } }, 'graph\'s save was done when chat closed')
  await pending
  t.equal(existsSync(`${path}.lock`), true, 'a view\'s close keeps the lock')
  await chat.save(record(1))
  await stores.close()
  t.same(readdirSync(dir), ['tokens.json'], 'the lock is gone')
  t.same(await chat.load(), record(1))
})

t.test('the one lock: another live gateway holds it, every credential\'s save fails, nothing written', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const holder = await lockContender(t)
  t.same(await holder.acquire(`${path}.lock`), { won: true })
  const stores = new FileTokenStores(path, { namespaced: true })
  const err = await stores.file.lock().then(() => null, (e: unknown) => e)
  t.ok(err instanceof StoreLockedError)
  t.match((err as StoreLockedError).holder, `pid ${holder.pid} on host ${hostname()}, since `)
  for (const credential of ['chat', 'graph']) {
    const saveErr = await storeError(t, stores.forCredential(credential).save(record(1)))
    t.match(saveErr.message, `cannot write the token file ${path}: another gateway holds its lock (pid ${holder.pid}`, credential)
  }
  t.same(readdirSync(dir), ['tokens.json.lock'])
  await holder.release()
  await stores.forCredential('chat').save(record(2))
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, process.pid, 'taken by the first save once free')
  const contender = await lockContender(t)
  t.match(await contender.acquire(`${path}.lock`), { won: false, code: 'TOKENGATE_STORE_LOCKED' }, 'and refused to another process while this one holds it')
  await stores.close()
  t.same(readdirSync(dir), ['tokens.json'])
})

/** A temp file as a save names them, holding `text`. */
function leftover (dir: string, text: string, pid = 4242): string {
  const path = join(dir, `.tokens.json.${pid}.${randomBytes(4).toString('hex')}.tmp`)
  writeFileSync(path, text, { mode: 0o600 })
  return path
}

t.test('recoverTempFiles: each credential\'s newest entry goes into the file, every other entry stays', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const file = new TokenFile(path, { namespaced: true })
  writeFileSync(path, `{"credentials": {"chat": ${JSON.stringify(record(3))}, "graph": ${JSON.stringify(record(5))}, "old": "kept"}}`)
  // As a crash in the middle of chat's save leaves it: the whole file, chat's entry newer.
  const crashed = leftover(dir, namespaced({ chat: record(4), graph: record(5), old: 'kept' }))
  const stale = leftover(dir, namespaced({ chat: record(2), graph: record(1) }))
  const torn = leftover(dir, namespaced({ chat: record(9) }).slice(0, 60))
  const unreadable = join(dir, '.tokens.json.4242.0badc0de.tmp')
  symlinkSync(join(dir, 'gone'), unreadable)
  const recovery = await file.recoverTempFiles()
  t.equal(recovery.adopted, crashed)
  t.equal(recovery.movedAside, null)
  t.same(recovery.removed.sort(), [stale, torn, unreadable].sort(), 'older, torn and unreadable ones removed')
  t.same(onDisk(path), { credentials: { chat: record(4), graph: record(5), old: 'kept' } })
  t.same(readdirSync(dir), ['tokens.json'])
  t.equal(statSync(path).mode & 0o777, 0o600)
})

t.test('recoverTempFiles: newer entries of different credentials in different temp files are all taken', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  writeFileSync(path, single(record(3)))
  // A life that could not lock the file (so did not recover) saved after an earlier crash.
  const first = leftover(dir, namespaced({ default: record(3), chat: record(8) }))
  const second = leftover(dir, namespaced({ default: record(6), chat: record(7) }))
  const recovery = await new TokenFile(path).recoverTempFiles()
  t.ok(recovery.adopted === first || recovery.adopted === second, 'one of them is named adopted')
  t.same(recovery.removed, [recovery.adopted === first ? second : first], 'the other removed')
  t.same(onDisk(path), { credentials: { default: record(6), chat: record(8) } }, 'the credentials format: the file now holds two credentials')
  t.same(readdirSync(dir), ['tokens.json'])
})

t.test('recoverTempFiles: a damaged entry a temp file replaces is kept in the file moved aside', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  const before = `{"credentials": {"chat": {"accessToken": ""}, "graph": ${JSON.stringify(record(2))}}}`
  writeFileSync(path, before)
  const temp = leftover(dir, namespaced({ chat: record(1), graph: record(2) }))
  const recovery = await new TokenFile(path, { namespaced: true }).recoverTempFiles()
  t.equal(recovery.adopted, temp)
  t.match(recovery.movedAside, /tokens\.json\.corrupt-/)
  t.equal(readFileSync(recovery.movedAside!, 'utf8'), before)
  t.same(onDisk(path), { credentials: { chat: record(1), graph: record(2) } })

  writeFileSync(path, `{"credentials": {"chat": {"accessToken": ""}, "graph": ${JSON.stringify(record(2))}}}`)
  const older = leftover(dir, namespaced({ graph: record(3) }))
  const again = await new TokenFile(path, { namespaced: true }).recoverTempFiles()
  t.same(again, { adopted: older, movedAside: null, removed: [] }, 'a damaged entry nothing replaces stays, unmoved')
  t.same(onDisk(path), { credentials: { chat: { accessToken: '' }, graph: record(3) } })
})

t.test('recoverTempFiles: namespaced, a single record is taken into the credentials format', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  leftover(dir, single(record(2)))
  await new TokenFile(path, { namespaced: true }).recoverTempFiles()
  t.equal(readFileSync(path, 'utf8'), namespaced({ default: record(2) }))
})

t.test('recoverTempFiles: StoreError when the file cannot be written, the temp file left in place', { skip: process.getuid?.() === 0 ? false : 'chattr +i needs root' }, async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'tokens.json')
  writeFileSync(path, 'not JSON')
  const temp = leftover(dir, namespaced({ chat: record(2) }))
  t.teardown(() => { execFileSync('chattr', ['-i', dir]) })
  execFileSync('chattr', ['+i', dir])
  const err = await storeError(t, new TokenFile(path, { namespaced: true }).recoverTempFiles())
  t.equal(err.message, `cannot recover the temp files beside the token file ${path} (EPERM)`)
  t.equal(readFileSync(temp, 'utf8'), namespaced({ chat: record(2) }))
  t.equal(readFileSync(path, 'utf8'), 'not JSON')
})
