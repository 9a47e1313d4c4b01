// The in-process store (the seed's behaviour): keeps one record for the life of the process.
import t from 'tap'
import { MemoryTokenStore } from '../../src/stores/memoryTokenStore.js'
import { record } from '../helpers/stores.js'

t.test('empty until the first save', async (t) => {
  const store = new MemoryTokenStore()
  t.equal(store.kind, 'memory')
  t.equal(await store.load(), null)
})

t.test('load returns what was last saved', async (t) => {
  const store = new MemoryTokenStore()
  await store.save(record(1))
  t.same(await store.load(), record(1))
  await store.save(record(2))
  t.same(await store.load(), record(2), 'the newer save wins')
  await store.save({ ...record(3), refreshToken: null, expiresAtMs: null, seedFingerprint: null })
  t.same(await store.load(), { ...record(3), refreshToken: null, expiresAtMs: null, seedFingerprint: null })
})

t.test('records are copied in and out: callers cannot change what is stored', async (t) => {
  const store = new MemoryTokenStore()
  const saved = record(1)
  await store.save(saved)
  saved.accessToken = 'changed after save'
  const loaded = await store.load()
  t.equal(loaded?.accessToken, 'at_1')
  loaded!.refreshToken = 'changed after load'
  t.equal((await store.load())?.refreshToken, 'rt_1')
  t.not(await store.load(), await store.load(), 'a fresh copy each time')
})

t.test('close resolves and leaves the record readable', async (t) => {
  const store = new MemoryTokenStore()
  await store.save(record(4))
  t.equal(await store.close(), undefined)
  t.same(await store.load(), record(4))
})

t.test('stores are independent', async (t) => {
  const a = new MemoryTokenStore()
  const b = new MemoryTokenStore()
  await a.save(record(1))
  t.equal(await b.load(), null)
})
