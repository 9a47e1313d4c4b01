// What the token store tests share: a record of a given version, and the StoreError a failed
// operation must reject with.
import type { Test } from 'tap'
import { StoreError } from '../../src/errors.js'
import type { TokenRecord } from '../../src/stores/tokenStore.js'

export const record = (version: number, accessToken = `at_${version}`): TokenRecord => ({
  accessToken,
  refreshToken: `rt_${version}`,
  expiresAtMs: 1_700_000_000_000 + version,
  version,
  seedFingerprint: 'f'.repeat(64),
  updatedAt: new Date(1_700_000_000_000 + version).toISOString()
})

/** The StoreError a promise rejects with; fails the test when it resolves or rejects otherwise. */
export async function storeError (t: Test, promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise
  } catch (err) {
    t.ok(err instanceof StoreError, 'a StoreError')
    t.equal((err as StoreError).code, 'TOKENGATE_STORE_FAILED')
    return err as StoreError
  }
  t.fail('expected a rejection')
  return new StoreError('no error')
}
