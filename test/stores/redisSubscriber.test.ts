// subscribe() of the Redis store against a real Redis: announcements reach the credential whose
// record was stored, every credential of a client shares one subscriber connection (counted in
// CLIENT LIST by the client's name, which its duplicate inherits), unsubscribing, and the
// client's losses and returns. Each test has a key prefix and clients of its own.
import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { Redis, type RedisOptions } from 'ioredis'
import t, { type Test } from 'tap'
import { RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import { RedisTokenStores } from '../../src/stores/redisTokenStores.js'
import type { SharedStoreEvents } from '../../src/stores/tokenStore.js'
import { freePort, privateRedis, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { waitFor } from '../helpers/servers.js'
import { record, storeError } from '../helpers/stores.js'

interface Named { client: Redis, name: string }

function connect (t: Test, url = SHARED_REDIS_URL, options: RedisOptions = {}): Named {
  const name = `tokengate-test-${randomBytes(4).toString('hex')}`
  const client = new Redis(url, { maxRetriesPerRequest: 1, connectionName: name, ...options })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  return { client, name }
}

function providerOf (t: Test, client: Redis, keyPrefix = uniquePrefix(t)): RedisTokenStores {
  const stores = new RedisTokenStores(client, { keyPrefix, namespaced: true })
  t.teardown(() => stores.close())
  return stores
}

/** What a subscription was told, in order. */
function recorder (): { events: SharedStoreEvents, seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    events: {
      onAnnounced: (version) => { seen.push(`announced ${version}`) },
      onDisconnected: () => { seen.push('disconnected') },
      onReconnected: () => { seen.push('reconnected') }
    }
  }
}

/** The connections named `name` (the client and its duplicates), with the number of channels each subscribes to. */
async function connectionsNamed (observer: Redis, name: string): Promise<Array<{ id: string, sub: number }>> {
  const list = await observer.client('LIST') as string
  return list.trim().split('\n')
    .map((line) => Object.fromEntries(line.split(' ').map((pair) => pair.split('=', 2))) as Record<string, string>)
    .filter((fields) => fields.name === name)
    .map((fields) => ({ id: fields.id, sub: Number(fields.sub) }))
}

const subscribers = async (observer: Redis, name: string): Promise<number[]> =>
  (await connectionsNamed(observer, name)).map(({ sub }) => sub).filter((sub) => sub > 0)

async function eventually (check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

t.test('announcements reach the credential whose record was stored, and only it', async (t) => {
  const { client } = connect(t)
  const prefix = uniquePrefix(t)
  const stores = providerOf(t, client, prefix)
  const chat = recorder()
  const graph = recorder()
  await stores.forCredential('chat').subscribe(chat.events)
  await stores.forCredential('graph').subscribe(graph.events)
  await stores.forCredential('chat').save(record(1))
  await waitFor(() => chat.seen.length === 1, 5_000, 'chat\'s announcement')
  await stores.forCredential('graph').save(record(5))
  await waitFor(() => graph.seen.length === 1, 5_000, 'graph\'s announcement')
  // Another gateway process, on a client of its own, rotates chat's tokens.
  await providerOf(t, connect(t).client, prefix).forCredential('chat').save(record(2))
  await waitFor(() => chat.seen.length === 2, 5_000, 'the other process\'s announcement')
  await stores.forCredential('search').save(record(9))
  await delay(100)
  t.same(chat.seen, ['announced 1', 'announced 2'])
  t.same(graph.seen, ['announced 5'], 'nothing of chat\'s, nor of search\'s')
})

t.test('every credential of a client shares one subscriber connection, closed with the last subscription', async (t) => {
  const { client, name } = connect(t)
  const observer = connect(t).client
  const stores = providerOf(t, client)
  await client.ping()
  t.same(await connectionsNamed(observer, name).then((found) => found.length), 1, 'the client alone before any subscription')
  const endChat = await stores.forCredential('chat').subscribe(recorder().events)
  const endGraph = await stores.forCredential('graph').subscribe(recorder().events)
  const endGraphAgain = await stores.forCredential('graph').subscribe(recorder().events)
  t.equal((await connectionsNamed(observer, name)).length, 2, 'the client and one subscriber connection')
  t.same(await subscribers(observer, name), [2], 'subscribed to two channels: one SUBSCRIBE per channel')
  await endChat()
  t.same(await subscribers(observer, name), [1], 'chat\'s channel let go')
  await endChat()
  t.same(await subscribers(observer, name), [1], 'ending twice changes nothing')
  await endGraph()
  t.same(await subscribers(observer, name), [1], 'graph has another subscription')
  await endGraphAgain()
  await eventually(async () => (await connectionsNamed(observer, name)).length === 1, 'the subscriber connection to close')
  t.equal(client.listenerCount('close'), 0, 'no listener left on the client')
  t.equal(client.listenerCount('ready'), 0)
  await stores.forCredential('chat').subscribe(recorder().events)
  t.same(await subscribers(observer, name), [1], 'a new subscription opens a new one')
})

t.test('subscriptions made at once share the SUBSCRIBE; each resolves once it is done', async (t) => {
  const { client, name } = connect(t)
  const observer = connect(t).client
  const stores = providerOf(t, client)
  const [a, b] = [recorder(), recorder()]
  await Promise.all([stores.forCredential('chat').subscribe(a.events), stores.forCredential('chat').subscribe(b.events)])
  t.same(await subscribers(observer, name), [1])
  await stores.forCredential('chat').save(record(3))
  await waitFor(() => a.seen.length === 1 && b.seen.length === 1, 5_000, 'both subscriptions told')
})

t.test('unsubscribing stops that subscription\'s events; the channel\'s others go on', async (t) => {
  const { client } = connect(t)
  const stores = providerOf(t, client)
  const store = stores.forCredential('chat')
  const [ended, going] = [recorder(), recorder()]
  const end = await store.subscribe(ended.events)
  await store.subscribe(going.events)
  await store.save(record(1))
  await waitFor(() => ended.seen.length === 1 && going.seen.length === 1, 5_000, 'the first announcement')
  await end()
  await store.save(record(2))
  await waitFor(() => going.seen.length === 2, 5_000, 'the second announcement')
  await delay(50)
  t.same(ended.seen, ['announced 1'], 'nothing after it ended')
  t.same(going.seen, ['announced 1', 'announced 2'])
})

t.test('a channel subscribed again while its last subscription ends stays subscribed', async (t) => {
  const { client } = connect(t)
  const stores = providerOf(t, client)
  await stores.forCredential('graph').subscribe(recorder().events)
  const end = await stores.forCredential('chat').subscribe(recorder().events)
  const again = recorder()
  const ending = end()
  await stores.forCredential('chat').subscribe(again.events)
  await ending
  await stores.forCredential('chat').save(record(4))
  await waitFor(() => again.seen.length === 1, 5_000, 'the announcement')
  t.same(again.seen, ['announced 4'])
})

t.test('a subscription ended by its own handler is told nothing more, not even what was already on its way', async (t) => {
  const { client } = connect(t)
  const observer = connect(t).client
  const stores = providerOf(t, client)
  const store = stores.forCredential('chat')
  const seen: number[] = []
  let end = async (): Promise<void> => {}
  end = await store.subscribe({
    onAnnounced: (version) => {
      seen.push(version)
      end().catch(() => {})
    },
    onDisconnected: () => {},
    onReconnected: () => {}
  })
  // One transaction: both messages reach the subscriber connection in one read.
  await observer.multi().publish(store.updatesChannel, '1').publish(store.updatesChannel, '2').exec()
  await waitFor(() => seen.length > 0, 5_000, 'the first message')
  await delay(50)
  t.same(seen, [1])
})

t.test('what is not a version on the channel is ignored', async (t) => {
  const { client } = connect(t)
  const observer = connect(t).client
  const stores = providerOf(t, client)
  const store = stores.forCredential('chat')
  const chat = recorder()
  await store.subscribe(chat.events)
  for (const message of ['junk', '-1', '1.5', '', ' 3', '99999999999999999999', '7']) await observer.publish(store.updatesChannel, message)
  await waitFor(() => chat.seen.length > 0, 5_000, 'the last message')
  t.same(chat.seen, ['announced 7'])
})

t.test('a handler that throws stops neither the other handlers nor the process', async (t) => {
  const { client } = connect(t)
  const stores = providerOf(t, client)
  const store = stores.forCredential('chat')
  const after = recorder()
  await store.subscribe({ onAnnounced: () => { throw new Error('a broken handler') }, onDisconnected: () => { throw new Error('broken') }, onReconnected: () => {} })
  await store.subscribe(after.events)
  await store.save(record(1))
  await waitFor(() => after.seen.length === 1, 5_000, 'the announcement to the second handler')
  await connect(t).client.client('KILL', 'ID', String(await client.client('ID')))
  await waitFor(() => after.seen.includes('disconnected'), 5_000, 'the loss, told past the throwing handler')
})

t.test('the client\'s connection lost and back: onDisconnected then onReconnected, once each, to every credential; its first connection is none', async (t) => {
  const { client } = connect(t, SHARED_REDIS_URL, { lazyConnect: true })
  const observer = connect(t).client
  const stores = providerOf(t, client)
  const [chat, graph] = [recorder(), recorder()]
  // The subscriber connection does not wait for the client.
  await stores.forCredential('chat').subscribe(chat.events)
  await stores.forCredential('graph').subscribe(graph.events)
  await client.connect()
  await delay(50)
  t.same(chat.seen, [], 'the first ready is no reconnection')
  await observer.client('KILL', 'ID', String(await client.client('ID')))
  await waitFor(() => chat.seen.length === 2 && graph.seen.length === 2, 5_000, 'the loss and the return')
  t.same(chat.seen, ['disconnected', 'reconnected'])
  t.same(graph.seen, ['disconnected', 'reconnected'])
  await stores.forCredential('chat').save(record(1))
  await waitFor(() => chat.seen.length === 3, 5_000, 'announcements as before')
  t.same(graph.seen, ['disconnected', 'reconnected'])
})

t.test('Redis down and back: told once each way although every reconnection attempt fails, announcements resume, nothing printed', async (t) => {
  const printed: unknown[][] = []
  const print = console.error
  console.error = (...args: unknown[]) => { printed.push(args) }
  t.teardown(() => { console.error = print })
  const redis = await privateRedis(t)
  const { client } = connect(t, redis.url, { retryStrategy: () => 50, enableOfflineQueue: false })
  const stores = providerOf(t, client, 'tg')
  const store = stores.forCredential('chat')
  const chat = recorder()
  await store.subscribe(chat.events)
  await redis.stop()
  await waitFor(() => chat.seen.length === 1, 5_000, 'the loss')
  await delay(400)
  t.same(chat.seen, ['disconnected'], 'once, whatever the failed attempts')
  await redis.start()
  await waitFor(() => chat.seen.length === 2, 10_000, 'the return')
  t.same(chat.seen, ['disconnected', 'reconnected'])
  // The subscriber connection comes back on its own time and subscribes again by itself.
  let version = 0
  await eventually(async () => {
    await store.save(record(++version))
    await delay(50)
    return chat.seen.some((seen) => seen.startsWith('announced'))
  }, 'an announcement after the outage')
  t.same(printed, [], 'no error reached the console')
})

t.test('Redis unreachable: subscribe rejects with StoreError and leaves nothing behind', async (t) => {
  const { client } = connect(t, `redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null })
  const stores = providerOf(t, client)
  const [chat, graph] = await Promise.all(['chat', 'graph'].map(async (name) => await storeError(t, stores.forCredential(name).subscribe(recorder().events))))
  t.match(chat.message, /^Redis unavailable \(.+\)$/)
  t.match(graph.message, /^Redis unavailable \(.+\)$/)
  t.equal(client.listenerCount('close'), 0, 'no listener left on the client')
  t.equal(client.listenerCount('ready'), 0)
})

t.test('close ends every subscription and leaves the client open; later subscriptions are refused', async (t) => {
  const { client, name } = connect(t)
  const observer = connect(t).client
  const stores = providerOf(t, client)
  const chat = recorder()
  const end = await stores.forCredential('chat').subscribe(chat.events)
  const endGraph = await stores.forCredential('graph').subscribe(recorder().events)
  const ending = endGraph()
  await stores.close()
  await ending
  await eventually(async () => (await connectionsNamed(observer, name)).length === 1, 'the subscriber connection to close')
  t.equal(await client.ping(), 'PONG', 'the client is the caller\'s')
  t.equal(client.listenerCount('close'), 0)
  await end()
  t.pass('ending a subscription after close is harmless')
  const err = await storeError(t, stores.forCredential('chat').subscribe(chat.events))
  t.equal(err.message, 'Redis unavailable (the store is closed)')
  t.same(chat.seen, [])
})

t.test('close while a subscription is being made: it rejects', async (t) => {
  const { client } = connect(t)
  const stores = providerOf(t, client)
  const pending = stores.forCredential('chat').subscribe(recorder().events)
  await stores.close()
  t.match((await storeError(t, pending)).message, /^Redis unavailable \(.+\)$/)
})

t.test('a store made on its own has a subscriber of its own, closed with it', async (t) => {
  const { client, name } = connect(t)
  const observer = connect(t).client
  const store = new RedisTokenStore(client, { keyPrefix: uniquePrefix(t) })
  const chat = recorder()
  await store.subscribe(chat.events)
  t.same(await subscribers(observer, name), [1])
  await store.save(record(1))
  await waitFor(() => chat.seen.length === 1, 5_000, 'the announcement')
  await store.close()
  await eventually(async () => (await connectionsNamed(observer, name)).length === 1, 'the subscriber connection to close')
})
