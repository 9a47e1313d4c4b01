// The Redis store against the real Redis on 127.0.0.1:6379: each test under a key prefix of its
// own (deleted on teardown, never flushed) and with clients of its own, disconnected on teardown.
import { setTimeout as delay } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { DEFAULT_LOCK_TTL_MS, DEFAULT_POLL_INTERVAL_MS, RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import { isSharedTokenStore } from '../../src/stores/tokenStore.js'
import type { Sleep } from '../../src/utils/clock.js'
import { freePort, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { waitFor } from '../helpers/servers.js'
import { record, storeError } from '../helpers/stores.js'

function connect (t: Test): Redis {
  const client = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  return client
}

/** A sleep that records what it was asked for and runs `during` (once per call) before waiting. */
function watchedSleep (during: (call: number) => Promise<unknown> = async () => {}): { sleep: Sleep, slept: number[] } {
  const slept: number[] = []
  return {
    slept,
    sleep: async (ms) => {
      slept.push(ms)
      await during(slept.length)
      await delay(ms)
    }
  }
}

t.test('defaults', async (t) => {
  t.equal(DEFAULT_LOCK_TTL_MS, 5_000)
  t.equal(DEFAULT_POLL_INTERVAL_MS, 50)
})

t.test('keys and channel live under the prefix; load is null before any save', async (t) => {
  const prefix = uniquePrefix(t)
  const store = new RedisTokenStore(connect(t), { keyPrefix: prefix })
  t.equal(store.kind, 'redis')
  t.equal(isSharedTokenStore(store), true)
  t.equal(store.recordKey, `${prefix}:tokens`)
  t.equal(store.lockKey, `${prefix}:refresh-lock`)
  t.equal(store.updatesChannel, `${prefix}:updates`)
  t.equal(await store.load(), null)
})

t.test('save then load: the record round-trips as JSON under the record key', async (t) => {
  const prefix = uniquePrefix(t)
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: prefix })
  await store.save(record(1))
  t.same(JSON.parse((await client.get(store.recordKey))!), record(1), 'the stored value')
  t.same(await store.load(), record(1))
  t.same(await new RedisTokenStore(connect(t), { keyPrefix: prefix }).load(), record(1), 'another client reads the same record')
  const nulls = { ...record(2), refreshToken: null, expiresAtMs: null, seedFingerprint: null }
  await store.save(nulls)
  t.same(await store.load(), nulls, 'null fields survive')
})

t.test('save refuses a version older than or equal to the stored one', async (t) => {
  const store = new RedisTokenStore(connect(t), { keyPrefix: uniquePrefix(t) })
  await store.save(record(5))
  await store.save(record(4))
  t.same(await store.load(), record(5), 'an older version is refused')
  await store.save(record(5, 'at_5_other'))
  t.same(await store.load(), record(5), 'the same version is refused too')
  await store.save(record(0))
  t.same(await store.load(), record(5), 'version 0 after 5')
  await store.save(record(6))
  t.same(await store.load(), record(6), 'a newer version is stored')
  await store.save(record(100))
  t.same(await store.load(), record(100), 'versions compare as numbers, not as text')
  await store.save(record(99))
  t.same(await store.load(), record(100))
})

t.test('a stored version is published on updatesChannel; a refused one is not', async (t) => {
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  const subscriber = client.duplicate()
  t.teardown(() => { subscriber.disconnect() })
  const messages: Array<[string, string]> = []
  subscriber.on('message', (channel: string, message: string) => { messages.push([channel, message]) })
  await subscriber.subscribe(store.updatesChannel)
  await store.save(record(2))
  await waitFor(() => messages.length >= 1, 5_000, 'the first announcement')
  t.same(messages, [[store.updatesChannel, '2']], 'the version, on the store\'s channel')
  await store.save(record(1))
  await store.save(record(2, 'at_2_again'))
  await store.save(record(3))
  await waitFor(() => messages.length >= 2, 5_000, 'the second announcement')
  t.same(messages, [[store.updatesChannel, '2'], [store.updatesChannel, '3']], 'nothing for the two refused saves in between')
})

t.test('save replaces a stored value that carries no usable version', async (t) => {
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  for (const junk of ['not json {', '"a string"', '{"accessToken":"x"}', '[1,2]', '{"version":"nine"}']) {
    await client.set(store.recordKey, junk)
    await store.save(record(1))
    t.same(await store.load(), record(1), `over ${junk}`)
  }
})

t.test('load: StoreError for a value that is not JSON or not a token record', async (t) => {
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  await client.set(store.recordKey, '{"accessToken": ')
  t.equal((await storeError(t, store.load())).message, `Redis key ${store.recordKey} is not valid JSON`)
  for (const value of ['[]', '{}', JSON.stringify({ ...record(1), accessToken: '' }), JSON.stringify({ ...record(1), version: 1.5 })]) {
    await client.set(store.recordKey, value)
    t.equal((await storeError(t, store.load())).message, `Redis key ${store.recordKey} does not hold a token record`, value)
  }
})

t.test('stores sharing one client: the commands are defined once and the prefixes stay apart', async (t) => {
  const client = connect(t)
  const a = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  const b = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  await a.save(record(3))
  await b.save(record(1))
  await b.save(record(2))
  t.same(await a.load(), record(3))
  t.same(await b.load(), record(2), 'b\'s versions are its own: 1 and 2 are stored although a holds 3')
  const lock = await b.acquireRefreshLock()
  t.ok(lock, 'b\'s lock is taken')
  const other = await a.acquireRefreshLock()
  t.ok(other, 'a\'s lock is another key')
  await lock!.release()
  await other!.release()
})

t.test('close leaves the client, which belongs to the caller, open', async (t) => {
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  await store.save(record(1))
  t.equal(await store.close(), undefined)
  t.equal(await client.ping(), 'PONG')
  t.same(await store.load(), record(1))
})

t.test('acquireRefreshLock: one holder at a time (SET NX PX); release frees it', async (t) => {
  const prefix = uniquePrefix(t)
  const observer = connect(t)
  const a = new RedisTokenStore(connect(t), { keyPrefix: prefix })
  const b = new RedisTokenStore(connect(t), { keyPrefix: prefix })
  const lock = await a.acquireRefreshLock()
  t.ok(lock, 'the first acquire gets the lock')
  t.match(await observer.get(a.lockKey), /^[0-9a-f]{32}$/, 'the key holds a random token')
  const ttl = await observer.pttl(a.lockKey)
  t.ok(ttl > 2_500 && ttl <= DEFAULT_LOCK_TTL_MS, `expires with the default TTL (${ttl} ms left)`)
  t.equal(await b.acquireRefreshLock(), null, 'another process: null while held')
  t.equal(await a.acquireRefreshLock(), null, 'the same store too: the lock is not re-entrant')
  await lock!.release()
  t.equal(await observer.exists(a.lockKey), 0, 'release deletes the key')
  const next = await b.acquireRefreshLock()
  t.ok(next, 'free again for the next one')
  t.not(await observer.get(a.lockKey), null)
  await next!.release()
  t.equal(await observer.exists(a.lockKey), 0)
})

t.test('release by a holder that lost the lock leaves the new holder\'s lock (compare-and-delete)', async (t) => {
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  const lock = await store.acquireRefreshLock()
  t.ok(lock)
  // As if the lock had expired and another process had taken it.
  await client.set(store.lockKey, 'another-holder', 'PX', 5_000)
  await lock!.release()
  t.equal(await client.get(store.lockKey), 'another-holder', 'the other holder\'s lock survives')
  await lock!.release()
  t.equal(await client.get(store.lockKey), 'another-holder', 'releasing twice changes nothing either')
})

t.test('renewal extends only the holder\'s own lock', async (t) => {
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t), lockTtlMs: 150 })
  const lock = await store.acquireRefreshLock()
  t.ok(lock)
  t.teardown(() => lock!.release().catch(() => {}))
  await client.set(store.lockKey, 'another-holder', 'PX', 300)
  // Renewals run every 50 ms meanwhile; were they to extend this key, it would never expire.
  const deadline = Date.now() + 3_000
  while (await client.exists(store.lockKey) === 1 && Date.now() < deadline) await delay(25)
  t.equal(await client.exists(store.lockKey), 0, 'the other holder\'s key expired on its own time')
})

t.test('the lock is renewed while held: it outlives its first TTL, and release removes it', async (t) => {
  // 600 ms (renewed every 200 ms) rather than less: on a loaded machine a pause of the event loop
  // longer than two renewal periods would lose the lock for real and fail this test spuriously.
  const lockTtlMs = 600
  const prefix = uniquePrefix(t)
  const observer = connect(t)
  const store = new RedisTokenStore(connect(t), { keyPrefix: prefix, lockTtlMs })
  const lock = await store.acquireRefreshLock()
  t.ok(lock)
  const token = await observer.get(store.lockKey)
  t.ok((await observer.pttl(store.lockKey)) <= lockTtlMs, 'taken with the given TTL')
  const until = Date.now() + 3.5 * lockTtlMs
  const missing: number[] = []
  let last = Date.now()
  let longestPauseMs = 0
  while (Date.now() < until) {
    if (await observer.get(store.lockKey) !== token) missing.push(Date.now())
    longestPauseMs = Math.max(longestPauseMs, Date.now() - last)
    last = Date.now()
    await delay(25)
  }
  t.same(missing, [], `held by the same token for 3.5 times its TTL (longest pause between looks: ${longestPauseMs} ms)`)
  const other = await new RedisTokenStore(observer, { keyPrefix: prefix }).acquireRefreshLock()
  t.teardown(() => other?.release())
  t.equal(other, null, 'still refused to others')
  t.ok((await observer.pttl(store.lockKey)) > 0, 'with a TTL, never without one')
  await lock!.release()
  t.equal(await observer.exists(store.lockKey), 0, 'gone after release')
})

t.test('a holder that lost its connection stops renewing; the lock expires, release rejects with StoreError', async (t) => {
  const observer = connect(t)
  const client = connect(t)
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t), lockTtlMs: 150 })
  const lock = await store.acquireRefreshLock()
  t.ok(lock)
  client.disconnect()
  // Renewal attempts now fail every 50 ms; they must neither crash the process nor keep the key.
  const deadline = Date.now() + 3_000
  while (await observer.exists(store.lockKey) === 1 && Date.now() < deadline) await delay(25)
  t.equal(await observer.exists(store.lockKey), 0, 'the lock expired by itself')
  const err = await storeError(t, lock!.release())
  t.match(err.message, /^Redis unavailable \(.+\)$/)
})

t.test('waitForNewerRecord resolves at once with a record already newer, without polling', async (t) => {
  const prefix = uniquePrefix(t)
  await new RedisTokenStore(connect(t), { keyPrefix: prefix }).save(record(3))
  const { sleep, slept } = watchedSleep()
  const waiter = new RedisTokenStore(connect(t), { keyPrefix: prefix, sleep })
  t.same(await waiter.waitForNewerRecord(2, 5_000), record(3))
  t.same(slept, [])
})

t.test('waitForNewerRecord resolves with the newer record another client writes while holding the lock', async (t) => {
  const prefix = uniquePrefix(t)
  const holder = new RedisTokenStore(connect(t), { keyPrefix: prefix })
  await holder.save(record(1))
  const lock = await holder.acquireRefreshLock()
  t.ok(lock)
  t.teardown(() => lock!.release())
  // The holder saves during the waiter's first pause: the first look saw nothing newer.
  const { sleep, slept } = watchedSleep(async (call) => { if (call === 1) await holder.save(record(2)) })
  const waiter = new RedisTokenStore(connect(t), { keyPrefix: prefix, sleep })
  t.same(await waiter.waitForNewerRecord(1, 10_000), record(2))
  t.same(slept, [DEFAULT_POLL_INTERVAL_MS], 'one pause of the default poll interval')
})

t.test('waitForNewerRecord resolves null once the lock is released without a newer record', async (t) => {
  const prefix = uniquePrefix(t)
  const holder = new RedisTokenStore(connect(t), { keyPrefix: prefix })
  await holder.save(record(1))
  const lock = await holder.acquireRefreshLock()
  t.ok(lock)
  const { sleep, slept } = watchedSleep(async (call) => { if (call === 1) await lock!.release() })
  const waiter = new RedisTokenStore(connect(t), { keyPrefix: prefix, sleep, pollIntervalMs: 20 })
  t.equal(await waiter.waitForNewerRecord(1, 10_000), null, 'the holder failed: null, long before the timeout')
  t.same(slept, [20], 'one pause of the given poll interval')
})

t.test('waitForNewerRecord resolves null at once when no lock is held and nothing is newer', async (t) => {
  const prefix = uniquePrefix(t)
  const { sleep, slept } = watchedSleep()
  const waiter = new RedisTokenStore(connect(t), { keyPrefix: prefix, sleep })
  t.equal(await waiter.waitForNewerRecord(0, 5_000), null, 'no record at all')
  await waiter.save(record(4))
  t.equal(await waiter.waitForNewerRecord(4, 5_000), null, 'the same version')
  t.equal(await waiter.waitForNewerRecord(5, 5_000), null, 'an older version')
  t.same(slept, [], 'no polling')
})

t.test('waitForNewerRecord resolves null at the timeout while the lock stays held', async (t) => {
  const prefix = uniquePrefix(t)
  const holder = new RedisTokenStore(connect(t), { keyPrefix: prefix })
  const lock = await holder.acquireRefreshLock()
  t.ok(lock)
  t.teardown(() => lock!.release())
  const waiter = new RedisTokenStore(connect(t), { keyPrefix: prefix, pollIntervalMs: 20 })
  const started = Date.now()
  t.equal(await waiter.waitForNewerRecord(0, 200), null, 'no record at all')
  t.ok(Date.now() - started >= 200, 'not before the timeout')
  await holder.save(record(0))
  const again = Date.now()
  t.equal(await waiter.waitForNewerRecord(0, 200), null, 'a record, but not a newer one')
  t.ok(Date.now() - again >= 200, 'not before the timeout')
  t.equal(await holder.acquireRefreshLock(), null, 'the lock is still held')
})

t.test('an unreachable Redis: every command rejects with StoreError', async (t) => {
  const port = await freePort()
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const store = new RedisTokenStore(client, { keyPrefix: 'tokengate-test:unreachable' })
  const attempts: Array<[string, Promise<unknown>]> = [
    ['load', store.load()],
    ['save', store.save(record(1))],
    ['acquireRefreshLock', store.acquireRefreshLock()],
    ['waitForNewerRecord', store.waitForNewerRecord(0, 1_000)]
  ]
  for (const [what, attempt] of attempts) {
    const err = await storeError(t, attempt)
    t.match(err.message, /^Redis unavailable \(.+\)$/, what)
    t.equal(err.statusCode, 500)
  }
})
