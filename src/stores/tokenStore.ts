// Where tokens live between refreshes and restarts. A store only keeps records; deciding which
// tokens win and when to refresh is the refresh service's job.
import { StoreError } from '../errors.js'

export interface TokenRecord {
  accessToken: string
  refreshToken: string | null
  /** Epoch ms; null when unknown (opaque token without a lifetime). */
  expiresAtMs: number | null
  /** Grows by one with every save, so replicas can tell a newer record from theirs. */
  version: number
  /** SHA-256 of the AUTH_TOKEN / REFRESH_TOKEN the record descends from (start-up precedence). */
  seedFingerprint: string | null
  updatedAt: string
}

export type TokenStoreKind = 'memory' | 'file' | 'redis'

export interface TokenStore {
  readonly kind: TokenStoreKind
  load (): Promise<TokenRecord | null>
  save (record: TokenRecord): Promise<void>
  close (): Promise<void>
}

/** A lock on refreshing, held by one process of many; renewed by its holder until released. */
export interface RefreshLock {
  release (): Promise<void>
}

/** What a shared store tells its subscribers. Called synchronously; a handler must not throw. */
export interface SharedStoreEvents {
  /**
   * A process stored this version (announced on the store's channel). This process's own saves
   * are announced too: compare with the version held.
   */
  onAnnounced (version: number): void
  /** The connection to the shared store was lost; records cannot be read or written until onReconnected. */
  onDisconnected (): void
  /** The connection is back after a loss: the store may have lost records or gained newer ones meanwhile. */
  onReconnected (): void
}

/**
 * What a store shared by several gateway processes adds, so that exactly one of them refreshes
 * and the others take its result instead of spending the same refresh token.
 */
export interface SharedTokenStore extends TokenStore {
  /** Null when another process holds the lock. Rejects when the store cannot be reached. */
  acquireRefreshLock (): Promise<RefreshLock | null>
  /**
   * Resolves with the first record newer than `version`, or null once the lock is free with no
   * newer record (the holder failed) or `timeoutMs` has passed.
   */
  waitForNewerRecord (version: number, timeoutMs: number): Promise<TokenRecord | null>
  /**
   * Tells `events` what happens to the store from now on. Resolves once subscribed, with the
   * function that ends the subscription; rejects with StoreError when the store cannot be reached.
   */
  subscribe (events: SharedStoreEvents): Promise<() => Promise<void>>
}

export function isSharedTokenStore (store: TokenStore): store is SharedTokenStore {
  return typeof (store as SharedTokenStore).acquireRefreshLock === 'function'
}

/** A record read back from storage, checked field by field; throws StoreError when it is not one. */
export function parseTokenRecord (value: unknown, where: string): TokenRecord {
  const record = value as Partial<TokenRecord> | null
  const valid = record !== null && typeof record === 'object' &&
    typeof record.accessToken === 'string' && record.accessToken !== '' &&
    (record.refreshToken === null || (typeof record.refreshToken === 'string' && record.refreshToken !== '')) &&
    (record.expiresAtMs === null || (typeof record.expiresAtMs === 'number' && Number.isFinite(record.expiresAtMs))) &&
    typeof record.version === 'number' && Number.isSafeInteger(record.version) && record.version >= 0 &&
    (record.seedFingerprint === null || typeof record.seedFingerprint === 'string') &&
    typeof record.updatedAt === 'string'
  if (!valid) throw new StoreError(`${where} does not hold a token record`)
  return {
    accessToken: record.accessToken!,
    refreshToken: record.refreshToken!,
    expiresAtMs: record.expiresAtMs!,
    version: record.version!,
    seedFingerprint: record.seedFingerprint!,
    updatedAt: record.updatedAt!
  }
}
