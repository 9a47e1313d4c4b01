// The token engine with a store shared by several gateway processes: one refresh per rotation
// across replicas (real Redis, real identity provider), and every store failure path, through an
// in-process shared store whose lock and versions work like Redis's and whose faults come on demand.
import { Redis } from 'ioredis'
import t from 'tap'
import { StoreError } from '../../src/errors.js'
import type { OnTokensUpdated, TokenRefreshService } from '../../src/services/tokenRefreshService.js'
import { WRITE_BACK_MS, WRITE_BACK_RETRY_MS } from '../../src/services/sharedStoreCoordinator.js'
import { RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import type { RefreshLock, SharedTokenStore, TokenRecord, TokenStore } from '../../src/stores/tokenStore.js'
import { SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import {
  MINUTE, SECOND, ScriptedGrant, T0, assertNoSecretsLogged, failure, harness, idpFor, jwt, service, tick, tokens, track,
  type Harness
} from '../helpers/serviceHarness.js'

type Operation = 'load' | 'save' | 'acquire' | 'wait' | 'release'

/**
 * A SharedTokenStore inside this process, shared by several services: records only move forward
 * in version, one lock holder at a time, waiters woken by a save or a release.
 */
class InProcessSharedStore implements SharedTokenStore {
  readonly kind = 'redis'
  record: TokenRecord | null = null
  /** The timeoutMs of every waitForNewerRecord call. */
  readonly waits: number[] = []
  private holder: symbol | null = null
  private wake: Array<() => void> = []
  private readonly faults = new Map<Operation, unknown[]>()

  get locked (): boolean {
    return this.holder !== null
  }

  /** The next call of `operation` throws `error`. */
  failNext (operation: Operation, error: unknown = new Error(`Redis unavailable (${operation}: connect ECONNREFUSED)`)): void {
    this.faults.set(operation, [...(this.faults.get(operation) ?? []), error])
  }

  async load (): Promise<TokenRecord | null> {
    this.fault('load')
    return this.record === null ? null : { ...this.record }
  }

  async save (record: TokenRecord): Promise<void> {
    this.fault('save')
    if (this.record === null || record.version > this.record.version) this.record = { ...record }
    this.notify()
  }

  async close (): Promise<void> {}

  // The service never subscribes: announcements reach it through the token plugin.
  async subscribe (): Promise<() => Promise<void>> {
    return async () => {}
  }

  async acquireRefreshLock (): Promise<RefreshLock | null> {
    this.fault('acquire')
    if (this.holder !== null) return null
    const holder = Symbol('lock')
    this.holder = holder
    return {
      release: async () => {
        if (this.holder === holder) this.holder = null
        this.notify()
        this.fault('release')
      }
    }
  }

  async waitForNewerRecord (version: number, timeoutMs: number): Promise<TokenRecord | null> {
    this.waits.push(timeoutMs)
    this.fault('wait')
    for (;;) {
      if (this.record !== null && this.record.version > version) return { ...this.record }
      if (this.holder === null) return null
      await new Promise<void>((resolve) => this.wake.push(resolve))
    }
  }

  private fault (operation: Operation): void {
    const queued = this.faults.get(operation)
    if (queued !== undefined && queued.length > 0) throw queued.shift()
  }

  private notify (): void {
    const wake = this.wake
    this.wake = []
    for (const resolve of wake) resolve()
  }
}

function record (accessToken: string, refreshToken: string | null, version: number, expiresAtMs: number | null = null): TokenRecord {
  return { accessToken, refreshToken, expiresAtMs, version, seedFingerprint: null, updatedAt: new Date(T0).toISOString() }
}

/** Persists like the token plugin does: the update becomes the store's record of that version. */
function persistTo (store: TokenStore, h: Harness): OnTokensUpdated {
  return async (accessToken, refreshToken, update) => {
    h.updates.push(update)
    await store.save({ ...record(accessToken, refreshToken, update.version, update.expiresAtMs), updatedAt: new Date(h.now()).toISOString() })
  }
}

t.test('two replicas sharing Redis: one identity-provider call per rotation', async (t) => {
  const h = harness()
  const idp = await idpFor(t, h)
  const keyPrefix = uniquePrefix(t)
  const replicas: TokenRefreshService[] = []
  const initialRefreshToken = idp.validRefreshToken
  const expired = idp.mint(600)
  h.advance(601 * SECOND)
  for (let i = 0; i < 2; i++) {
    const client = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1 })
    t.teardown(() => client.disconnect())
    const store = new RedisTokenStore(client, { keyPrefix, pollIntervalMs: 10 })
    replicas.push(service(h, expired, initialRefreshToken, { refreshUrl: idp.refreshUrl, shared: store, onTokensUpdated: persistTo(store, h) }))
  }

  const burst = async (): Promise<string[]> => Promise.all(replicas.flatMap((replica) =>
    Array.from({ length: 25 }, () => replica.getValidAccessToken())))

  const first = await burst()
  t.equal(idp.calls.length, 1, 'one call for 50 requests spread over two replicas')
  t.same([...new Set(first)], [idp.issued[0]], 'every request on both replicas got the new token')
  t.same(replicas.map((replica) => replica.currentRecord()?.version), [1, 1])
  t.same(replicas.map((replica) => replica.currentRefreshToken), [idp.validRefreshToken, idp.validRefreshToken])

  h.advance(3600 * SECOND) // the new token has expired in turn
  const second = await burst()
  t.equal(idp.calls.length, 2, 'one more call for the next rotation')
  t.same(idp.calls.map((call) => call.status), [200, 200], 'the rotated refresh token was spent once, by one replica')
  t.equal(idp.calls[1].refreshToken, h.updates[0].refreshToken, 'the second rotation presented the first one\'s refresh token')
  t.same([...new Set(second)], [idp.issued[1]])
  t.same(replicas.map((replica) => replica.currentRecord()?.version), [2, 2])
  t.ok(h.logger.lines.some((line) => line.msg === 'Token updated by another replica'))
  t.same(replicas.map((replica) => replica.getHealth().storeError), [null, null])
  assertNoSecretsLogged(t, h, idp, [expired, initialRefreshToken], replicas)
})

t.test('the lock taken elsewhere: wait for the holder\'s record instead of refreshing', async (t) => {
  const h = harness()
  const store = new InProcessSharedStore()
  const grant = new ScriptedGrant([])
  const expired = jwt(h, 60)
  h.advance(2 * MINUTE)
  const svc = service(h, expired, 'rt_1', { grant, shared: store, refreshTimeoutMs: 300, maxAttempts: 2, retry: { baseMs: 100, maxMs: 4000 } })
  const otherReplica = await store.acquireRefreshLock()
  const waiting = track(svc.getValidAccessToken())
  const token = svc.getValidAccessToken()
  await tick()
  t.equal(waiting.settled, false, 'waiting for the other replica')
  t.same(store.waits, [2 * (300 + 1000) + 5000], 'long enough for every attempt of the holder plus its backoff')

  const fresh = jwt(h, 3600)
  await store.save(record(fresh, 'rt_2', 1, h.now() + 3600 * SECOND))
  await otherReplica!.release()
  t.equal(await token, fresh)
  t.same(grant.presented, [], 'this replica did not spend the refresh token')
  t.equal(svc.currentRefreshToken, 'rt_2')
  t.equal(svc.currentRecord()?.version, 1)
  t.match(svc.getHealth(), { status: 'ok', lastRefreshError: null, refreshCount: 0 })
  t.ok(h.logger.messages('info').includes('Another replica is refreshing the token; waiting for its result'))
})

t.test('the default wait covers three 10-second attempts and their backoff', async (t) => {
  const h = harness()
  const store = new InProcessSharedStore()
  const svc = service(h, null, 'rt', { grant: new ScriptedGrant([]), shared: store })
  await store.acquireRefreshLock()
  store.failNext('wait')
  await svc.refreshAccessToken().catch(() => {})
  t.same(store.waits, [3 * (10_000 + 15_000) + 5000])
})

t.test('the holder released the lock without a new record', async (t) => {
  const h = harness()
  const store = new InProcessSharedStore()
  const grant = new ScriptedGrant([])
  const svc = service(h, null, 'rt', { grant, shared: store })
  const otherReplica = await store.acquireRefreshLock()
  const request = svc.getValidAccessToken()
  await tick()
  await otherReplica!.release()
  await t.rejects(request, {
    code: 'TOKENGATE_TOKEN_UNAVAILABLE',
    message: 'no valid access token; the refresh failed (refresh_elsewhere_failed: another replica held the refresh lock but stored no new token)'
  })
  t.same(grant.presented, [])
  t.equal(svc.getHealth().consecutiveFailures, 1)
})

t.test('store failures never spend the refresh token and show in health', async (t) => {
  // Only our own StoreError messages travel into health; anything else is named, not quoted.
  const cases: Array<[string, (store: InProcessSharedStore) => Promise<void>, unknown, string, string]> = [
    ['the lock cannot be taken', async () => {}, new StoreError('Redis unavailable (connect ECONNREFUSED)'), 'acquire', 'Redis unavailable (connect ECONNREFUSED)'],
    ['waiting for the holder fails', async (store) => { await store.acquireRefreshLock() }, new StoreError('Redis unavailable (wait)'), 'wait', 'Redis unavailable (wait)'],
    ['reading the latest record under the lock fails', async () => {}, new StoreError('Redis key x:tokens is not valid JSON'), 'load', 'Redis key x:tokens is not valid JSON'],
    ['a store error that might quote a token', async () => {}, new Error('cannot write rt_secret'), 'acquire', 'the token store failed (Error)'],
    ['a store that throws a non-Error', async () => {}, 'socket hang up', 'acquire', 'the token store failed (unknown error)'],
    ['a store that throws null', async () => {}, null, 'acquire', 'the token store failed (unknown error)']
  ]
  for (const [name, arrange, error, operation, message] of cases) {
    t.test(name, async (t) => {
      const h = harness()
      const store = new InProcessSharedStore()
      const grant = new ScriptedGrant([])
      const current = jwt(h, 600)
      const svc = service(h, current, 'rt', { grant, shared: store })
      await arrange(store)
      const held = store.locked
      store.failNext(operation as Operation, error)
      await t.rejects(svc.refreshAccessToken('periodic'), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'store_unavailable', detail: message })
      t.same(grant.presented, [], 'no exchange without the shared lock')
      t.equal(store.locked, held, 'a lock taken by this replica was released')
      const health = svc.getHealth()
      t.equal(health.storeError, message)
      t.equal(health.lastRefreshError, `store_unavailable: ${message}`)
      t.equal(await svc.getValidAccessToken(), current, 'the cached token still serves')
    })
  }
})

t.test('under the lock, a newer record from another replica', async (t) => {
  t.test('is served without a refresh when it is valid', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([])
    const expired = jwt(h, 60)
    h.advance(2 * MINUTE)
    const svc = service(h, expired, 'rt_1', { grant, shared: store })
    const fresh = jwt(h, 3600)
    store.record = record(fresh, 'rt_2', 4)
    svc.reportStoreError('stale problem')
    t.equal(await svc.getValidAccessToken(), fresh)
    t.same(grant.presented, [])
    t.equal(store.locked, false, 'the lock was released')
    t.equal(svc.currentRecord()?.version, 4)
    t.equal(svc.getHealth().storeError, null, 'reading the store worked')
  })

  t.test('is refreshed with its own refresh token when it is due too', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([tokens('at_new', 'rt_3')])
    const svc = service(h, null, 'rt_1', { grant, shared: store, onTokensUpdated: persistTo(store, h) })
    store.record = record(jwt(h, 60), 'rt_2', 4)
    h.advance(2 * MINUTE)
    t.equal(await svc.getValidAccessToken(), 'at_new')
    t.same(grant.presented, ['rt_2'], 'the refresh token the other replica stored, not the stale one')
    t.equal(store.record?.version, 5)
    t.equal(store.record?.refreshToken, 'rt_3')
  })

  t.test('is refreshed anyway when an operator asked for it', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([tokens('at_forced')])
    const svc = service(h, jwt(h, 600), 'rt_1', { grant, shared: store, onTokensUpdated: persistTo(store, h) })
    store.record = record(jwt(h, 3600), 'rt_2', 2)
    t.equal(await svc.refreshAccessToken('admin'), 'at_forced')
    t.same(grant.presented, ['rt_2'])
    t.equal(h.updates[0].version, 3)
  })

  t.test('an older or equal record is not taken', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([tokens('at_new')])
    const svc = service(h, null, 'rt_mine', { grant, shared: store, version: 3 })
    store.record = record('at_old', 'rt_old', 3)
    t.equal(await svc.refreshAccessToken(), 'at_new')
    t.same(grant.presented, ['rt_mine'])
  })
})

t.test('a failed exchange under the lock is reported as itself, and the lock is released', async (t) => {
  const h = harness()
  const store = new InProcessSharedStore()
  const grant = new ScriptedGrant([failure('invalid_grant', false, true)])
  const svc = service(h, null, 'rt', { grant, shared: store })
  await t.rejects(svc.refreshAccessToken(), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'invalid_grant' })
  t.equal(store.locked, false)
  t.match(svc.getHealth(), { refreshTokenRejected: true, storeError: null, consecutiveFailures: 1 })
})

t.test('a lock whose release fails does not fail the refresh', async (t) => {
  const h = harness()
  const store = new InProcessSharedStore()
  const svc = service(h, null, 'rt', { grant: new ScriptedGrant([tokens('at_new')]), shared: store })
  store.failNext('release')
  t.equal(await svc.refreshAccessToken(), 'at_new')
  t.equal(svc.getHealth().lastRefreshError, null)
})

t.test('adoptRecord takes only newer versions', async (t) => {
  const h = harness()
  const svc = service(h, 'at_v2', 'rt_v2', { grant: new ScriptedGrant([]), version: 2 })
  svc.adoptRecord(record('at_v1', 'rt_v1', 1))
  svc.adoptRecord(record('at_v2_other', 'rt_v2_other', 2))
  t.equal(await svc.getValidAccessToken(), 'at_v2')
  svc.adoptRecord(record('at_v3', null, 3, T0 + 20 * MINUTE))
  t.equal(await svc.getValidAccessToken(), 'at_v3')
  t.equal(svc.currentRefreshToken, null, 'the record\'s refresh token, even none')
  t.match(svc.getHealth(), { expiresAt: new Date(T0 + 20 * MINUTE).toISOString(), tokenType: 'opaque' })
  t.same(h.logger.lines.filter((line) => line.msg === 'Token updated by another replica').map((line) => line.fields), [{ version: 3 }])
})

t.test('pullFromSharedStore', async (t) => {
  t.test('does nothing without a shared store', async (t) => {
    const h = harness()
    const svc = service(h, 'at', 'rt', { grant: new ScriptedGrant([]) })
    await svc.pullFromSharedStore()
    t.equal(await svc.getValidAccessToken(), 'at')
    t.same(h.logger.lines, [])
  })

  t.test('takes a newer record, ignores an empty store, reports and then clears a store error', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const current = jwt(h, 600)
    const svc = service(h, current, 'rt', { grant: new ScriptedGrant([]), shared: store })
    await svc.pullFromSharedStore()
    t.equal(await svc.getValidAccessToken(), current, 'an empty store changes nothing')

    store.failNext('load', new StoreError('Redis unavailable (connect ECONNREFUSED 127.0.0.1:6379)'))
    await svc.pullFromSharedStore()
    t.equal(svc.getHealth().storeError, 'Redis unavailable (connect ECONNREFUSED 127.0.0.1:6379)')
    t.equal(await svc.getValidAccessToken(), current, 'the cached token serves while the store is away')
    const warning = h.logger.lines.find((line) => line.msg === 'Token store unreachable; serving the cached token while it is valid')
    t.match(warning, { level: 'warn', fields: { err: { type: 'FastifyError', message: 'Redis unavailable (connect ECONNREFUSED 127.0.0.1:6379)' } } })

    store.record = record('at_from_replica', 'rt_from_replica', 1)
    await svc.pullFromSharedStore()
    t.equal(svc.getHealth().storeError, null)
    t.equal(await svc.getValidAccessToken(), 'at_from_replica')
  })

  t.test('the periodic check picks up what another replica stored, even when its own token needs nothing', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([])
    const svc = service(h, jwt(h, 40 * 60), 'rt', { grant, shared: store })
    const fresh = jwt(h, 3600)
    store.record = record(fresh, 'rt_2', 1)
    let lockTaken = false
    const acquire = store.acquireRefreshLock.bind(store)
    store.acquireRefreshLock = async () => { lockTaken = true; return acquire() }
    await svc.checkAndRefresh()
    t.equal(lockTaken, false, 'no refresh was due')
    t.same(grant.presented, [])
    t.equal(svc.currentRefreshToken, 'rt_2', 'the other replica\'s rotated refresh token is the one to present next')
    t.equal(await svc.getValidAccessToken(), fresh)
  })

  t.test('the periodic check pulls before deciding, so a token another replica refreshed is not refreshed again', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([])
    const svc = service(h, jwt(h, 20 * 60), 'rt', { grant, shared: store })
    store.record = record(jwt(h, 3600), 'rt_2', 1)
    await svc.checkAndRefresh()
    t.same(grant.presented, [])
    t.equal(svc.currentRefreshToken, 'rt_2')
  })
})

t.test('replaceTokens with a shared store', async (t) => {
  t.test('takes the lock and writes the version after the store\'s', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const svc = service(h, 'at_mine', 'rt_mine', { grant: new ScriptedGrant([]), shared: store, onTokensUpdated: persistTo(store, h) })
    store.record = record('at_replica', 'rt_replica', 7)
    let lockedDuringSave = false
    const save = store.save.bind(store)
    store.save = async (r) => { lockedDuringSave = store.locked; await save(r) }
    await svc.replaceTokens('at_operator', 'rt_operator')
    t.equal(lockedDuringSave, true, 'saved under the lock')
    t.equal(store.locked, false, 'released afterwards')
    t.equal(store.record?.version, 8)
    t.equal(store.record?.accessToken, 'at_operator')
    t.same(h.logger.lines.find((line) => line.msg === 'Tokens replaced')?.fields, { version: 8 })
  })

  t.test('an empty store: the next version after its own', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const svc = service(h, 'at', 'rt', { grant: new ScriptedGrant([]), shared: store, version: 2, onTokensUpdated: persistTo(store, h) })
    store.failNext('release')
    await svc.replaceTokens('at_operator', null)
    t.equal(store.record?.version, 3)
    t.equal(store.record?.refreshToken, 'rt', 'the kept refresh token')
  })

  t.test('waits for a lock held elsewhere, polling every 50 ms', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const otherReplica = await store.acquireRefreshLock()
    const svc = service(h, 'at', 'rt', {
      grant: new ScriptedGrant([]),
      shared: store,
      sleep: async (ms) => {
        h.sleeps.push(ms)
        h.advance(ms)
        if (h.sleeps.length === 3) await otherReplica!.release()
      }
    })
    await svc.replaceTokens('at_operator', 'rt_operator')
    t.same(h.sleeps, [50, 50, 50])
    t.equal(await svc.getValidAccessToken(), 'at_operator')
  })

  t.test('gives up when the lock stays taken', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    await store.acquireRefreshLock()
    const svc = service(h, 'at', 'rt', {
      grant: new ScriptedGrant([]), shared: store, refreshTimeoutMs: 300, maxAttempts: 1, retry: { baseMs: 100, maxMs: 400 }
    })
    await t.rejects(svc.replaceTokens('at_operator', 'rt_operator'), { code: 'TOKENGATE_STORE_FAILED', message: 'the refresh lock stayed taken' })
    t.equal(h.sleeps.length, (300 + 100 + 5000) / 50, 'polled until the shared wait (5.4 s) ran out')
    t.equal(await svc.getValidAccessToken(), 'at', 'nothing was replaced')
    t.same(h.updates, [])
  })
})

t.test('tokens announced by another replica while this one waits for the lock are not refreshed again', async (t) => {
  for (const [trigger, holdsLock] of [['request', true], ['request', false], ['periodic', true], ['upstream-401', true], ['upstream-401', false]] as const) {
    t.test(`${trigger}, ${holdsLock ? 'the lock free once the announcement is in' : 'the lock held by the announcer'}`, async (t) => {
      const h = harness()
      const store = new InProcessSharedStore()
      const grant = new ScriptedGrant([tokens('at_should_not_be_issued', 'rt_x')])
      const expired = jwt(h, 60)
      h.advance(2 * MINUTE)
      const svc = service(h, expired, 'rt_1', { grant, shared: store })
      const fresh = jwt(h, 3600)
      // The announcement lands while this replica is between asking for a refresh and the lock.
      const acquire = store.acquireRefreshLock.bind(store)
      store.acquireRefreshLock = async () => {
        store.record = record(fresh, 'rt_2', 7)
        svc.adoptRecord(store.record)
        return holdsLock ? acquire() : null
      }
      t.equal(await svc.refreshAccessToken(trigger), fresh, 'the announced token serves')
      t.same(grant.presented, [], 'the identity provider was not called')
      t.equal(svc.getHealth().lastRefreshError, null)
      t.equal(store.locked, false)
    })
  }
})

t.test('new tokens the store failed to take: the lock is kept while they are written again', async (t) => {
  t.test('written at the second try: the lock was held throughout, then released; health clears', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    store.record = record('at_old', 'rt_old', 4)
    const grant = new ScriptedGrant([tokens('at_new', 'rt_new')])
    const seen: Array<{ locked: boolean, stored: string | null | undefined }> = []
    const sleep = h.options.sleep!
    h.options.sleep = async (ms) => { seen.push({ locked: store.locked, stored: store.record?.refreshToken }); await sleep(ms) }
    const svc = service(h, null, 'rt_old', { grant, shared: store, onTokensUpdated: persistTo(store, h) })
    store.failNext('save', new StoreError('Redis unavailable (Connection is closed.)'))
    store.failNext('save', new StoreError('Redis unavailable (Connection is closed.)'))
    t.equal(await svc.refreshAccessToken('admin'), 'at_new')
    t.same(grant.presented, ['rt_old'])
    t.same(seen, [{ locked: true, stored: 'rt_old' }, { locked: true, stored: 'rt_old' }],
      'while the store still held the spent refresh token, no other replica could take the lock')
    t.same(h.sleeps, [WRITE_BACK_RETRY_MS, WRITE_BACK_RETRY_MS])
    t.match(store.record, { version: 5, accessToken: 'at_new', refreshToken: 'rt_new' })
    t.equal(store.locked, false, 'released once written')
    t.equal(svc.getHealth().storeError, null)
    t.match(h.logger.lines.find((line) => /^Wrote the new tokens to the token store/.test(line.msg)), { level: 'info', fields: { version: 5 } })
    assertNoSecretsLogged(t, h, null, ['rt_old', 'rt_new', 'at_new'])
  })

  t.test('never written: the lock is released after WRITE_BACK_MS, with an error; the new tokens still serve', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const grant = new ScriptedGrant([tokens('at_new', 'rt_new')])
    const svc = service(h, null, 'rt_old', { grant, shared: store, onTokensUpdated: persistTo(store, h) })
    for (let i = 0; i < 1000; i++) store.failNext('save', new StoreError('Redis unavailable (connect ECONNREFUSED)'))
    t.equal(await svc.refreshAccessToken('periodic'), 'at_new')
    t.equal(h.sleeps.length, WRITE_BACK_MS / WRITE_BACK_RETRY_MS)
    t.equal(store.locked, false)
    t.equal(store.record, null)
    t.equal(svc.getHealth().storeError, 'Redis unavailable (connect ECONNREFUSED)')
    t.match(h.logger.lines.find((line) => /^Could not write the new tokens to the token store within 10 s/.test(line.msg)), { level: 'error', fields: { version: 1 } })
    t.equal(await svc.getValidAccessToken(), 'at_new')
    t.equal(svc.unsavedRecord()?.refreshToken, 'rt_new', 'left for the resync after a reconnect')
  })

  // A wall clock stepped forward (NTP, an operator) in the middle of the write-back must not end
  // it: the lock would be released while the store still holds the spent refresh token.
  t.test('the wall clock stepped forward during the write-back: the lock is still kept until written', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    store.record = record('at_old', 'rt_old', 4)
    const grant = new ScriptedGrant([tokens('at_new', 'rt_new')])
    const seen: Array<{ locked: boolean, stored: string | null | undefined }> = []
    const sleep = h.options.sleep!
    h.options.sleep = async (ms) => {
      seen.push({ locked: store.locked, stored: store.record?.refreshToken })
      if (seen.length === 1) h.stepWallClock(60_000)
      await sleep(ms)
    }
    const svc = service(h, null, 'rt_old', { grant, shared: store, onTokensUpdated: persistTo(store, h) })
    for (let i = 0; i < 3; i++) store.failNext('save', new StoreError('Redis unavailable (Connection is closed.)'))
    t.equal(await svc.refreshAccessToken('admin'), 'at_new')
    t.same(seen.map((s) => s.locked), [true, true, true], 'held through three tries, a minute of wall clock later')
    t.match(store.record, { version: 5, refreshToken: 'rt_new' }, 'written')
    t.equal(store.locked, false)
  })

  t.test('a save that works needs no write-back', async (t) => {
    const h = harness()
    const store = new InProcessSharedStore()
    const svc = service(h, null, 'rt_old', { grant: new ScriptedGrant([tokens('at_new', 'rt_new')]), shared: store, onTokensUpdated: persistTo(store, h) })
    t.equal(await svc.refreshAccessToken('periodic'), 'at_new')
    t.same(h.sleeps, [])
    t.equal(svc.unsavedRecord(), null)
  })
})
