// The contract between the refresh service and the ways of obtaining a token (json, oauth2,
// client_credentials): one exchange, one validated token set or one RefreshError.
export interface TokenSet {
  accessToken: string
  /** Null when the answer carried none: the caller keeps the refresh token it has. */
  refreshToken: string | null
  /** Epoch ms from the answer's expiresIn / expiresAt; null when absent or nonsense. */
  expiresAtMs: number | null
}

export type RefreshStyle = 'json' | 'oauth2' | 'client_credentials'

export interface RefreshGrant {
  readonly style: RefreshStyle
  /** False for grants that obtain tokens without one (client_credentials). */
  readonly needsRefreshToken: boolean
  exchange (refreshToken: string | null): Promise<TokenSet>
}
