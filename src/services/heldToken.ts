// A token as the engine holds it: what it says of itself (decoded once, never per request), when
// it expires and when it is due for refresh (src/utils/tokenLifetime.ts), and whether an answer
// the grant accepted can be used at all.
import type { TokenDecodeError } from '../errors.js'
import type { TokenSet } from '../grants/refreshGrant.js'
import type { Logger } from '../utils/logger.js'
import { tokenLifetime, type TokenOrigin } from '../utils/tokenLifetime.js'
import { describeToken, type TokenDescription } from '../utils/tokenUtils.js'

export interface HeldToken extends TokenDescription {
  accessToken: string
  /** From here on the token counts as expiring: served, but refreshed in the background. */
  refreshAtMs: number
  /** The wall clock and the monotonic clock when the token was taken in (see heldTokenTime). */
  heldAtMs: number
  heldAtMonotonicMs: number
}

export interface HoldOptions {
  nowMs: number
  /** The monotonic clock (src/utils/clock.ts) at the same moment as nowMs. */
  monotonicMs: number
  bufferMs: number
  /** The identity provider's clock when it answered a fresh token (its Date header). */
  providerDateMs?: number
  log: Logger
}

/**
 * The token with its lifetime. A JWT that cannot be decoded is held as opaque; a fresh token due
 * on arrival because this machine's clock runs ahead has its life counted from its arrival, and
 * the operator is told to fix the clock.
 */
export function holdToken (accessToken: string, knownExpiresAtMs: number | null, origin: TokenOrigin, options: HoldOptions): HeldToken {
  const { nowMs, log } = options
  let description: TokenDescription
  try {
    description = describeToken(accessToken)
  } catch (err) {
    log.warn({ reason: (err as TokenDecodeError).message }, 'Access token looks like a JWT but cannot be decoded; treating it as opaque')
    description = { tokenType: 'opaque', expiresAtMs: null, issuedAtMs: null, subject: null, issuer: null }
  }
  const lifetime = tokenLifetime(description, knownExpiresAtMs, origin, nowMs, options.bufferMs, options.providerDateMs)
  if (lifetime.clockAheadMs !== null) {
    const lifeMs = description.expiresAtMs! - description.issuedAtMs!
    log.warn({ clockAheadSeconds: Math.round(lifetime.clockAheadMs / 1000) },
      `The new token expired or was due by this machine's clock when it arrived: the clocks of this machine and the identity provider differ. Counting its ${Math.round(lifeMs / 1000)} s life from its arrival; fix the clock (NTP)`)
  }
  return { ...description, accessToken, expiresAtMs: lifetime.expiresAtMs, refreshAtMs: lifetime.refreshAtMs, heldAtMs: nowMs, heldAtMonotonicMs: options.monotonicMs }
}

/**
 * The time to judge a held token by: the wall clock, but never earlier than its arrival plus the
 * time that has passed since on the monotonic clock. A wall clock stepped back cannot make an
 * expired token look valid again; one stepped forward makes it due early, which is safe.
 */
export function heldTokenTime (held: Pick<HeldToken, 'heldAtMs' | 'heldAtMonotonicMs'>, nowMs: number, monotonicMs: number): number {
  return Math.max(nowMs, held.heldAtMs + (monotonicMs - held.heldAtMonotonicMs))
}

/**
 * Why an answer the grant accepted still cannot be used, or null. Such a token is never sent
 * upstream: a token already expired would cost one refresh per request, one of unknown expiry
 * (a lifetime that means nothing) would never be refreshed, a huge one fails every request.
 */
export function whyUnusable (tokens: TokenSet, held: HeldToken, nowMs: number, maxAccessTokenBytes: number): string | null {
  const bytes = Buffer.byteLength(tokens.accessToken)
  if (bytes > maxAccessTokenBytes) {
    return `the access token is ${bytes} bytes, more than ACCESS_TOKEN_MAX_SIZE (${maxAccessTokenBytes}) allows in a header`
  }
  if (held.expiresAtMs === null && tokens.lifetimeProblem !== undefined) return `${tokens.lifetimeProblem} and the token has no exp`
  if (held.expiresAtMs !== null && held.expiresAtMs <= nowMs) return 'the access token has already expired'
  return null
}
