// The contract between the refresh service and the ways of obtaining a token (json, oauth2,
// client_credentials, token_exchange): one exchange, one validated token set or one RefreshError.
export interface TokenSet {
  accessToken: string
  /** Null when the answer carried none: the caller keeps the refresh token it has. */
  refreshToken: string | null
  /** Epoch ms from the answer's expiresIn / expiresAt; null when absent or nonsense. */
  expiresAtMs: number | null
  /**
   * Set when the answer gave a lifetime that means nothing (negative, zero, not a number, beyond
   * any date): then only the JWT's exp can say when the token expires, and an answer without one
   * cannot be used.
   */
  lifetimeProblem?: string
  /**
   * The provider's clock when it answered (its Date header), epoch ms. When it agrees with this
   * machine's, a token that looks expired is expired, not a sign of clocks that differ.
   */
  providerDateMs?: number
}

export type RefreshStyle = 'json' | 'oauth2' | 'client_credentials' | 'token_exchange'

export interface RefreshGrant {
  readonly style: RefreshStyle
  /** False for grants that obtain tokens without one (client_credentials, token_exchange). */
  readonly needsRefreshToken: boolean
  exchange (refreshToken: string | null): Promise<TokenSet>
  /** Lets go of what the grant holds open (tls_client_auth: its connections); absent when nothing. */
  close?: () => Promise<void>
}
