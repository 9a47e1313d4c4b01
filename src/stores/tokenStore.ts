// Where tokens live between refreshes and restarts. A store only keeps records; deciding which
// tokens win and when to refresh is the refresh service's job.
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
