// The store contract's helpers: telling a shared store from a local one, and checking a record read
// back from storage field by field.
import t from 'tap'
import { StoreError } from '../../src/errors.js'
import { FileTokenStore } from '../../src/stores/fileTokenStore.js'
import { MemoryTokenStore } from '../../src/stores/memoryTokenStore.js'
import { isSharedTokenStore, parseTokenRecord, type TokenRecord, type TokenStore } from '../../src/stores/tokenStore.js'

const valid: TokenRecord = {
  accessToken: 'at_1',
  refreshToken: 'rt_1',
  expiresAtMs: 1_700_000_000_000,
  version: 3,
  seedFingerprint: 'f'.repeat(64),
  updatedAt: '2023-11-14T22:13:20.000Z'
}

function thrown (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

t.test('isSharedTokenStore: only a store with acquireRefreshLock is shared', async (t) => {
  t.equal(isSharedTokenStore(new MemoryTokenStore()), false, 'the memory store')
  t.equal(isSharedTokenStore(new FileTokenStore('/nonexistent/tokens.json')), false, 'the file store')
  const local: TokenStore = { kind: 'memory', load: async () => null, save: async () => {}, close: async () => {} }
  t.equal(isSharedTokenStore({ ...local, acquireRefreshLock: 'yes' } as unknown as TokenStore), false, 'a property that is not a function')
  const shared = { ...local, acquireRefreshLock: async () => null, waitForNewerRecord: async () => null }
  t.equal(isSharedTokenStore(shared), true, 'a store with the lock methods')
})

t.test('parseTokenRecord returns a valid record with exactly its fields', async (t) => {
  t.same(parseTokenRecord(valid, 'here'), valid)
  const nulls = { ...valid, refreshToken: null, expiresAtMs: null, seedFingerprint: null, version: 0 }
  t.same(parseTokenRecord(nulls, 'here'), nulls, 'null refresh token, expiry and fingerprint; version 0')
  const parsed = parseTokenRecord({ ...valid, extra: 'dropped', accessTokenCopy: 'x' }, 'here')
  t.same(Object.keys(parsed).sort(), ['accessToken', 'expiresAtMs', 'refreshToken', 'seedFingerprint', 'updatedAt', 'version'])
  t.not(parsed, valid, 'a new object, not the value passed in')
  t.same(parseTokenRecord({ ...valid, expiresAtMs: -5, seedFingerprint: '' }, 'here'), { ...valid, expiresAtMs: -5, seedFingerprint: '' },
    'any finite expiry and any fingerprint string are accepted')
})

t.test('parseTokenRecord throws StoreError naming the place for anything that is not a record', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['null', null],
    ['a string', 'at_1'],
    ['a number', 42],
    ['an array', [valid]],
    ['no access token', { ...valid, accessToken: undefined }],
    ['a numeric access token', { ...valid, accessToken: 1 }],
    ['an empty access token', { ...valid, accessToken: '' }],
    ['a missing refresh token (neither string nor null)', { ...valid, refreshToken: undefined }],
    ['a numeric refresh token', { ...valid, refreshToken: 7 }],
    ['an empty refresh token', { ...valid, refreshToken: '' }],
    ['a missing expiry', { ...valid, expiresAtMs: undefined }],
    ['a string expiry', { ...valid, expiresAtMs: '1700000000000' }],
    ['an infinite expiry', { ...valid, expiresAtMs: Infinity }],
    ['a NaN expiry', { ...valid, expiresAtMs: NaN }],
    ['a missing version', { ...valid, version: undefined }],
    ['a string version', { ...valid, version: '3' }],
    ['a fractional version', { ...valid, version: 1.5 }],
    ['an unsafe integer version', { ...valid, version: 2 ** 53 }],
    ['a negative version', { ...valid, version: -1 }],
    ['a missing fingerprint', { ...valid, seedFingerprint: undefined }],
    ['a numeric fingerprint', { ...valid, seedFingerprint: 1 }],
    ['a missing updatedAt', { ...valid, updatedAt: undefined }],
    ['a numeric updatedAt', { ...valid, updatedAt: 1_700_000_000_000 }]
  ]
  for (const [what, value] of cases) {
    t.ok(thrown(() => parseTokenRecord(value, 'the token file /x/tokens.json')) instanceof StoreError, `${what}: a StoreError`)
    t.throws(() => parseTokenRecord(value, 'the token file /x/tokens.json'), {
      code: 'TOKENGATE_STORE_FAILED',
      statusCode: 500,
      message: 'the token file /x/tokens.json does not hold a token record'
    }, `${what}: code, status and message`)
  }
})

t.test('the error message never quotes the record (it holds tokens)', async (t) => {
  const caught = thrown(() => parseTokenRecord({ ...valid, version: 'bad', accessToken: 'secret-access-token', refreshToken: 'secret-refresh-token' }, 'Redis key k'))
  t.ok(caught instanceof StoreError)
  t.notMatch((caught as Error).message, /secret/)
})
