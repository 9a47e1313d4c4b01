// The shared-store protocol's own parts: following announcements, a lost connection and a store
// that comes back (written back when it lost our tokens, taken when it holds newer ones).
import t from 'tap'
import { StoreError } from '../../src/errors.js'
import { SharedStoreCoordinator, type SharedTokenHolder } from '../../src/services/sharedStoreCoordinator.js'
import type { RefreshLock, SharedStoreEvents, SharedTokenStore, TokenRecord } from '../../src/stores/tokenStore.js'
import { captureLogger } from '../helpers/captureLogger.js'
import { record } from '../helpers/stores.js'

class FakeSharedStore implements SharedTokenStore {
  readonly kind = 'redis'
  stored: TokenRecord | null = null
  locked = false
  saves: TokenRecord[] = []
  events: SharedStoreEvents | null = null
  unsubscribed = 0
  failLoad: Error | null = null
  async load (): Promise<TokenRecord | null> {
    if (this.failLoad !== null) throw this.failLoad
    return this.stored
  }

  async save (saved: TokenRecord): Promise<void> { this.saves.push(saved); this.stored = saved }
  async close (): Promise<void> {}
  async acquireRefreshLock (): Promise<RefreshLock | null> {
    if (this.locked) return null
    this.locked = true
    return { release: async () => { this.locked = false } }
  }

  async waitForNewerRecord (): Promise<TokenRecord | null> { return null }
  async subscribe (events: SharedStoreEvents): Promise<() => Promise<void>> {
    this.events = events
    return async () => { this.unsubscribed++; this.events = null }
  }
}

class Holder implements SharedTokenHolder {
  version: number
  adopted: TokenRecord[] = []
  storeErrors: Array<string | null> = []
  constructor (public held: TokenRecord | null) { this.version = held?.version ?? 0 }
  adoptRecord (taken: TokenRecord): void {
    if (taken.version <= this.version) return
    this.adopted.push(taken)
    this.held = taken
    this.version = taken.version
  }

  currentRecord (): TokenRecord | null { return this.held }
  reportStoreError (message: string | null): void { this.storeErrors.push(message) }
  unsavedRecord (): TokenRecord | null { return null }
  savedBack (): void {}
}

function setup (held: TokenRecord | null): { store: FakeSharedStore, holder: Holder, coordinator: SharedStoreCoordinator, logger: ReturnType<typeof captureLogger> } {
  const store = new FakeSharedStore()
  const holder = new Holder(held)
  const logger = captureLogger()
  let ms = 0
  const coordinator = new SharedStoreCoordinator(store, holder, { waitMs: 200, now: () => ms, sleep: async (d) => { ms += d }, logger })
  return { store, holder, coordinator, logger }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

t.test('an announced version is pulled and taken; an older one is not', async (t) => {
  const { store, holder, coordinator } = setup(record(3))
  await coordinator.watch()
  store.stored = record(4)
  store.events!.onAnnounced(4)
  await settle()
  t.same(holder.adopted.map((r) => r.version), [4])
  store.stored = record(2)
  store.events!.onAnnounced(2)
  await settle()
  t.same(holder.adopted.map((r) => r.version), [4], 'never back in time')
  await coordinator.close()
  t.equal(store.unsubscribed, 1)
  await coordinator.close()
  t.equal(store.unsubscribed, 1, 'closing twice unsubscribes once')
})

t.test('a lost connection shows in health; a failed pull is reported, not thrown', async (t) => {
  const { store, holder, coordinator, logger } = setup(record(3))
  await coordinator.watch()
  store.events!.onDisconnected()
  t.equal(holder.storeErrors.at(-1), 'Redis unavailable (connection lost)')
  store.failLoad = new StoreError('Redis unavailable (connect ECONNREFUSED)')
  store.events!.onAnnounced(9)
  await settle()
  t.equal(holder.storeErrors.at(-1), 'Redis unavailable (connect ECONNREFUSED)')
  t.ok(logger.messages('warn').includes('Token store unreachable; serving the cached token while it is valid'))
})

t.test('after a reconnect: our newer tokens are written back to a store that lost them', async (t) => {
  const { store, holder, coordinator } = setup(record(5))
  await coordinator.watch()
  store.stored = null
  store.events!.onReconnected()
  await settle()
  t.same(store.saves.map((r) => r.version), [5], 'written back as they are')
  t.equal(holder.storeErrors.at(-1), null, 'the store error is cleared')
  t.equal(store.locked, false, 'the lock is released')

  store.stored = record(3)
  store.events!.onReconnected()
  await settle()
  t.same(store.saves.map((r) => r.version), [5, 5], 'an older record is overwritten too')
})

t.test('after a reconnect: a newer record in the store is taken, nothing is written', async (t) => {
  const { store, holder, coordinator } = setup(record(5))
  await coordinator.watch()
  store.stored = record(7)
  store.events!.onReconnected()
  await settle()
  t.same(store.saves, [])
  t.same(holder.adopted.map((r) => r.version), [7])
})

t.test('after a reconnect with the lock taken elsewhere: the holder\'s record is pulled instead', async (t) => {
  const { store, holder, coordinator } = setup(record(5))
  await coordinator.watch()
  store.locked = true
  store.stored = record(6)
  store.events!.onReconnected()
  await settle()
  t.same(store.saves, [], 'nothing written while another process holds the lock')
  t.same(holder.adopted.map((r) => r.version), [6])
})

t.test('a resync that fails is reported in health', async (t) => {
  const { store, holder, coordinator } = setup(null)
  await coordinator.watch()
  store.failLoad = new Error('cannot write {"refreshToken":"rt_secret"}')
  store.events!.onReconnected()
  await settle()
  t.equal(holder.storeErrors.at(-1), 'the token store failed (Error)', 'a foreign error\'s message is not repeated')
  t.equal(store.locked, false)
})

t.test('whenLocked waits its turn, and gives up after the wait', async (t) => {
  const { store, coordinator } = setup(record(1))
  store.locked = true
  await t.rejects(coordinator.whenLocked(async () => 'never'), { message: 'the refresh lock stayed taken' })
  store.locked = false
  store.stored = record(2)
  t.equal(await coordinator.whenLocked(async (latest) => latest?.version), 2)
  t.equal(store.locked, false)
})
