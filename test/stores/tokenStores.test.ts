// The providers of every credential's store: names checked, one store per credential (the same at
// every call), `default` alone without a configuration file, and what each kind shares; the
// Redis provider against the real Redis, under a key prefix of the test's own.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { FileTokenStore } from '../../src/stores/fileTokenStore.js'
import { FileTokenStores } from '../../src/stores/fileTokenStores.js'
import { MemoryTokenStore } from '../../src/stores/memoryTokenStore.js'
import { MemoryTokenStores } from '../../src/stores/memoryTokenStores.js'
import { RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import { RedisTokenStores } from '../../src/stores/redisTokenStores.js'
import type { TokenStores } from '../../src/stores/tokenStores.js'
import { SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { record, storeError } from '../helpers/stores.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-token-stores-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function refusesNames (t: Test, stores: TokenStores): Promise<void> {
  for (const name of ['', 'Chat', 'chat:x', 'a b', 'ümlaut', 'x'.repeat(41), '../default', '__proto__']) {
    const err = await storeError(t, (async () => stores.forCredential(name))())
    t.equal(err.message, `${JSON.stringify(name)} is not a credential name (lower-case letters, digits and '-', 1 to 40 characters)`, JSON.stringify(name))
  }
  t.ok(stores.forCredential('x'.repeat(40)), '40 characters')
  t.ok(stores.forCredential('a-1'), 'letters, digits and -')
}

t.test('memory: one store per credential, kept apart', async (t) => {
  const stores = new MemoryTokenStores({ namespaced: true })
  t.equal(stores.kind, 'memory')
  t.equal(stores.namespaced, true)
  const chat = stores.forCredential('chat')
  t.ok(chat instanceof MemoryTokenStore)
  t.equal(stores.forCredential('chat'), chat, 'the same store at every call')
  await chat.save(record(1))
  t.equal(await stores.forCredential('graph').load(), null, 'graph has a record of its own')
  t.same(await stores.forCredential('chat').load(), record(1))
  await refusesNames(t, stores)
  t.equal(await stores.close(), undefined)
})

t.test('not namespaced: `default` only', async (t) => {
  for (const stores of [new MemoryTokenStores(), new FileTokenStores(join(tempDir(t), 'tokens.json'))]) {
    t.equal(stores.namespaced, false, stores.kind)
    t.ok(stores.forCredential('default'), `${stores.kind}: default`)
    const err = await storeError(t, (async () => stores.forCredential('chat'))())
    t.equal(err.message, 'no store for credential "chat": a gateway configured by the environment has only the credential "default"', stores.kind)
    await refusesNames(t, new MemoryTokenStores({ namespaced: true }))
  }
})

t.test('file: every credential a view of one file', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const stores = new FileTokenStores(path, { namespaced: true })
  t.equal(stores.kind, 'file')
  t.equal(stores.file.path, path)
  t.equal(stores.file.namespaced, true, 'the file\'s format follows')
  const chat = stores.forCredential('chat')
  t.ok(chat instanceof FileTokenStore)
  t.equal(chat.credential, 'chat')
  t.equal(chat.file, stores.file)
  t.equal(stores.forCredential('chat'), chat)
  await chat.save(record(1))
  await stores.forCredential('graph').save(record(2))
  t.same(JSON.parse(readFileSync(path, 'utf8')), { credentials: { chat: record(1), graph: record(2) } })
  await refusesNames(t, stores)
  await stores.close()
})

t.test('file, not namespaced: default\'s store writes the single record of earlier versions', async (t) => {
  const path = join(tempDir(t), 'tokens.json')
  const stores = new FileTokenStores(path)
  await stores.forCredential('default').save(record(1))
  t.equal(readFileSync(path, 'utf8'), `${JSON.stringify(record(1), null, 2)}\n`)
  t.same(await new FileTokenStore(path).load(), record(1), 'as token:inspect reads it')
  await stores.close()
})

t.test('redis: namespaced, each credential\'s keys under <prefix>:<name>; otherwise default\'s as before; one client', async (t) => {
  const client = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const prefix = uniquePrefix(t)
  const stores = new RedisTokenStores(client, { keyPrefix: prefix, namespaced: true, lockTtlMs: 1_000, pollIntervalMs: 10 })
  t.equal(stores.kind, 'redis')
  const chat = stores.forCredential('chat')
  t.ok(chat instanceof RedisTokenStore)
  t.equal(stores.forCredential('chat'), chat)
  t.same([chat.recordKey, chat.lockKey, chat.updatesChannel], [`${prefix}:chat:tokens`, `${prefix}:chat:refresh-lock`, `${prefix}:chat:updates`])
  const graph = stores.forCredential('graph')
  t.equal(graph.recordKey, `${prefix}:graph:tokens`)
  await chat.save(record(3))
  await graph.save(record(1))
  t.same(JSON.parse((await client.get(`${prefix}:chat:tokens`))!), record(3))
  t.same(await graph.load(), record(1), 'versions are each credential\'s own')
  const lock = await chat.acquireRefreshLock()
  t.ok(lock)
  t.ok((await client.pttl(`${prefix}:chat:refresh-lock`)) <= 1_000, 'the lock TTL given to the provider')
  t.ok(await graph.acquireRefreshLock().then(async (other) => { await other?.release(); return other !== null }), 'graph\'s lock is another key')
  await lock!.release()
  await refusesNames(t, stores)

  const single = new RedisTokenStores(client, { keyPrefix: prefix })
  const fallback = single.forCredential('default')
  t.same([fallback.recordKey, fallback.lockKey, fallback.updatesChannel], [`${prefix}:tokens`, `${prefix}:refresh-lock`, `${prefix}:updates`], 'not namespaced: the keys of earlier versions')
  t.equal(stores.forCredential('default').recordKey, `${prefix}:default:tokens`, 'namespaced, default is a name like any other')
  await stores.close()
  await single.close()
  t.equal(await client.ping(), 'PONG', 'the client stays open')
})
