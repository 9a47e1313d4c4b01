// The token engine: holds the current access token, decides when it needs refreshing, and makes
// sure that however many callers ask, one refresh runs at a time. New tokens are handed to the
// on-updated callback (which persists them) before anyone is given them.
import { RefreshError, TokenDecodeError, TokenUnavailableError } from '../errors.js'
import { createJsonRefreshGrant } from '../grants/jsonRefreshGrant.js'
import type { RefreshGrant, RefreshStyle } from '../grants/refreshGrant.js'
import { backoffDelay, type BackoffPolicy } from '../utils/backoff.js'
import { type Clock, type Sleep, realSleep, systemClock } from '../utils/clock.js'
import { silentLogger, type Logger } from '../utils/logger.js'
import { DEFAULT_EXPIRY_BUFFER_MS, describeToken, type TokenDescription } from '../utils/tokenUtils.js'

export type RefreshTrigger = 'startup' | 'request' | 'periodic' | 'upstream-401' | 'admin'

export interface TokensUpdate {
  accessToken: string
  refreshToken: string | null
  expiresAtMs: number | null
  trigger: RefreshTrigger
}

/** What became of one refresh (every caller that joined it shares this one outcome). */
export interface RefreshOutcomeEvent {
  trigger: RefreshTrigger
  outcome: 'success' | 'failure'
  /** The failure's code (`invalid_grant`, `http_500`, `timeout`, …); null on success. */
  reason: string | null
  /** From the start of the refresh to its end, retries and their backoff included. */
  durationMs: number
}

/**
 * Told what the service does, for metrics; added with observe(). An observer that throws is
 * logged and ignored: watching must never change what the service does.
 */
export interface TokenServiceObserver {
  onRefreshOutcome: (event: RefreshOutcomeEvent) => void
  /** The on-tokens-updated callback (the store) failed; the new tokens are served from memory. */
  onStoreError: (operation: 'save') => void
}

/** Called with new tokens before they are used; a rejection is logged and reported, not fatal. */
export type OnTokensUpdated = (accessToken: string, refreshToken: string | null, update: TokensUpdate) => void | Promise<void>

export interface TokenRefreshServiceOptions {
  /** How tokens are obtained; defaults to the json style against the refresh URL. */
  grant?: RefreshGrant
  bufferMs?: number
  /** Known expiry of the initial token when it cannot be decoded from it (opaque, from a store). */
  expiresAtMs?: number | null
  /** Interval of the periodic check, used to refresh tokens that would not survive until the next one. */
  checkIntervalMs?: number
  /** Attempts within one refresh for retryable failures (network, timeout, 5xx, 429). */
  maxAttempts?: number
  retry?: BackoffPolicy
  refreshTimeoutMs?: number
  maxAnswerBytes?: number
  now?: Clock
  sleep?: Sleep
  random?: () => number
  logger?: Logger
}

export const DEFAULT_CHECK_INTERVAL_MS = 30 * 60_000
export const DEFAULT_MAX_ATTEMPTS = 3
export const DEFAULT_RETRY: BackoffPolicy = { baseMs: 500, maxMs: 60_000 }
// After the refresh token was refused there is nothing to retry; callers are told to come back later.
const REJECTED_RETRY_AFTER_S = 60

export interface TokenHealth {
  status: 'ok' | 'expiring' | 'expired'
  tokenType: 'jwt' | 'opaque' | null
  expiresAt: string | null
  expiresInSeconds: number | null
  refreshEnabled: boolean
  refreshStyle: RefreshStyle
  lastRefreshAt: string | null
  lastRefreshError: string | null
  consecutiveFailures: number
  refreshTokenRejected: boolean
  refreshCount: number
  nextCheckAt: string | null
  subject: string | null
  issuer: string | null
}

interface CurrentToken extends TokenDescription {
  accessToken: string
  /** From here on the token counts as expiring: served, but refreshed in the background. */
  refreshAtMs: number
}

export class TokenRefreshService {
  private current: CurrentToken | null = null
  private refreshToken: string | null
  private inflight: Promise<string> | null = null
  private periodicTimer: NodeJS.Timeout | null = null
  private readonly grant: RefreshGrant
  private readonly bufferMs: number
  private checkIntervalMs: number
  private readonly maxAttempts: number
  private readonly retry: BackoffPolicy
  private readonly now: Clock
  private readonly sleep: Sleep
  private readonly random: () => number
  private readonly log: Logger
  private lastRefreshAtMs: number | null = null
  private lastRefreshError: string | null = null
  private consecutiveFailures = 0
  private refreshTokenRejected = false
  private refreshCount = 0
  private nextAttemptAtMs = 0
  private nextCheckAtMs: number | null = null
  private readonly observers = new Set<TokenServiceObserver>()
  // Set by close(): the attempt in flight is awaited, no further retry is started.
  private closing = false

  constructor (
    accessToken: string | null,
    refreshToken: string | null,
    refreshUrl: string,
    private readonly onTokensUpdated: OnTokensUpdated = () => {},
    options: TokenRefreshServiceOptions = {}
  ) {
    this.refreshToken = refreshToken || null
    this.bufferMs = options.bufferMs ?? DEFAULT_EXPIRY_BUFFER_MS
    this.checkIntervalMs = options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)
    this.retry = options.retry ?? DEFAULT_RETRY
    this.now = options.now ?? systemClock
    this.sleep = options.sleep ?? realSleep
    this.random = options.random ?? Math.random
    this.log = options.logger ?? silentLogger
    this.grant = options.grant ?? createJsonRefreshGrant({
      url: refreshUrl,
      now: this.now,
      timeoutMs: options.refreshTimeoutMs,
      maxAnswerBytes: options.maxAnswerBytes
    })
    if (accessToken) this.current = this.describe(accessToken, options.expiresAtMs ?? null, null)
  }

  /** True when this service can obtain new tokens at all. */
  get refreshEnabled (): boolean {
    return !this.grant.needsRefreshToken || this.refreshToken !== null
  }

  get style (): RefreshStyle {
    return this.grant.style
  }

  /** The refresh token the next refresh will present (for persistence and inspection). */
  get currentRefreshToken (): string | null {
    return this.refreshToken
  }

  /**
   * The token to send upstream. Valid beyond the buffer: returned at once. Inside the buffer:
   * returned at once while a refresh runs in the background. No valid token: every caller waits
   * on the same refresh, or gets a TokenUnavailableError when there is no way to get one.
   */
  async getValidAccessToken (): Promise<string> {
    const current = this.current
    if (current !== null && this.now() < current.refreshAtMs) return current.accessToken
    return this.slowPath(current)
  }

  private async slowPath (current: CurrentToken | null): Promise<string> {
    const now = this.now()
    if (current !== null && (current.expiresAtMs === null || now < current.expiresAtMs)) {
      if (this.inflight === null && this.mayAttempt(now)) this.refreshInBackground('request')
      return current.accessToken
    }
    if (this.inflight !== null) return this.awaitForCaller(this.inflight)
    if (!this.refreshEnabled) {
      throw new TokenUnavailableError('the access token has expired and no refresh token is configured', REJECTED_RETRY_AFTER_S)
    }
    if (this.refreshTokenRejected) {
      throw new TokenUnavailableError('the access token has expired and the identity provider refused the refresh token', REJECTED_RETRY_AFTER_S)
    }
    if (now < this.nextAttemptAtMs) {
      throw new TokenUnavailableError(`no valid access token; the last refresh failed (${this.lastRefreshError})`,
        (this.nextAttemptAtMs - now) / 1000)
    }
    return this.awaitForCaller(this.refreshAccessToken('request'))
  }

  private async awaitForCaller (refresh: Promise<string>): Promise<string> {
    try {
      return await refresh
    } catch {
      throw new TokenUnavailableError(`no valid access token; the refresh failed (${this.lastRefreshError})`,
        Math.max(1, (this.nextAttemptAtMs - this.now()) / 1000))
    }
  }

  private mayAttempt (now: number): boolean {
    return this.refreshEnabled && !this.refreshTokenRejected && now >= this.nextAttemptAtMs
  }

  /** Starts a refresh (or joins the one in flight) and never rejects: failures are recorded. */
  refreshInBackground (trigger: RefreshTrigger): void {
    this.refreshAccessToken(trigger).catch(() => {})
  }

  /**
   * Refreshes now, sharing one call among all concurrent callers. Resolves with the new access
   * token once it has been handed to the on-updated callback; rejects with a RefreshError.
   */
  refreshAccessToken (trigger: RefreshTrigger = 'admin'): Promise<string> {
    if (this.inflight === null) {
      const startedAtMs = this.now()
      const outcome = (reason: string | null): void => {
        const event: RefreshOutcomeEvent = { trigger, outcome: reason === null ? 'success' : 'failure', reason, durationMs: this.now() - startedAtMs }
        this.notify((observer) => observer.onRefreshOutcome(event))
      }
      this.inflight = this.runRefresh(trigger)
        .then((token) => { outcome(null); return token }, (err: RefreshError) => { outcome(err.reason); throw err })
        .finally(() => { this.inflight = null })
    }
    return this.inflight
  }

  /** Adds an observer of refresh outcomes and store errors (the metrics plugin is one). */
  observe (observer: TokenServiceObserver): void {
    this.observers.add(observer)
  }

  private notify (call: (observer: TokenServiceObserver) => void): void {
    for (const observer of this.observers) {
      try {
        call(observer)
      } catch (err) {
        this.log.warn({ err: redactedError(err) }, 'An observer of the token service failed; ignored')
      }
    }
  }

  private async runRefresh (trigger: RefreshTrigger): Promise<string> {
    if (!this.refreshEnabled) {
      throw this.recordFailure(new RefreshError({ reason: 'refresh_disabled', retryable: false, rejected: false },
        'no refresh token is configured'), trigger)
    }
    const presented = this.refreshToken
    this.log.info({ trigger }, trigger === 'admin' ? 'Refreshing access token on request...' : 'Access token expired, refreshing...')
    for (let attempt = 1; ; attempt++) {
      let tokens
      try {
        tokens = await this.grant.exchange(presented)
      } catch (err) {
        const error = asRefreshError(err)
        if (!error.retryable || attempt >= this.maxAttempts || this.closing) throw this.recordFailure(error, trigger)
        const delayMs = Math.max(error.retryAfterMs ?? 0, backoffDelay(this.retry, attempt, this.random))
        this.log.warn({ trigger, reason: error.reason, attempt, retryInMs: delayMs }, 'Token refresh attempt failed, retrying')
        await this.sleep(delayMs)
        // Shutting down meanwhile: no new attempt with a refresh token the store may never see spent.
        if (this.closing) throw this.recordFailure(error, trigger)
        continue
      }
      const next = await this.adopt(tokens.accessToken, tokens.refreshToken ?? presented, tokens.expiresAtMs, trigger)
      this.refreshCount++
      this.lastRefreshAtMs = this.now()
      this.clearFailures()
      this.log.info({ trigger }, 'Token refreshed successfully')
      this.log.info(next.expiresAtMs === null
        ? 'New token expiry unknown (opaque token): valid until the upstream answers 401'
        : `New token expires at: ${new Date(next.expiresAtMs).toISOString()}`)
      return next.accessToken
    }
  }

  /**
   * Replaces the tokens from outside a refresh (an operator, another replica): persisted and
   * announced like refreshed ones. A missing refresh token keeps the current one.
   */
  async replaceTokens (accessToken: string, refreshToken: string | null, expiresAtMs: number | null = null): Promise<void> {
    await this.whenIdle()
    await this.adopt(accessToken, refreshToken ?? this.refreshToken, expiresAtMs, 'admin')
    this.clearFailures()
    this.log.info('Tokens replaced')
  }

  private clearFailures (): void {
    this.consecutiveFailures = 0
    this.lastRefreshError = null
    this.refreshTokenRejected = false
    this.nextAttemptAtMs = 0
  }

  /** Hands new tokens to the callback (which persists them), then makes them current. */
  private async adopt (accessToken: string, refreshToken: string | null, expiresAtMs: number | null,
    trigger: RefreshTrigger): Promise<CurrentToken> {
    const next = this.describe(accessToken, expiresAtMs, this.now())
    try {
      await this.onTokensUpdated(accessToken, refreshToken, { accessToken, refreshToken, expiresAtMs: next.expiresAtMs, trigger })
    } catch (err) {
      // The identity provider may already have spent the old refresh token: the new pair must be
      // used even though it could not be saved. The store reports its own error for health.
      this.log.error({ err: redactedError(err), trigger }, 'Could not persist the new tokens; serving them from memory')
      this.notify((observer) => observer.onStoreError('save'))
    }
    this.current = next
    this.refreshToken = refreshToken
    return next
  }

  private recordFailure (error: RefreshError, trigger: RefreshTrigger): RefreshError {
    this.consecutiveFailures++
    this.lastRefreshError = `${error.reason}: ${error.detail}`
    if (error.rejected) this.refreshTokenRejected = true
    const waitMs = Math.max(error.retryAfterMs ?? 0, backoffDelay(this.retry, this.consecutiveFailures, this.random))
    this.nextAttemptAtMs = this.now() + waitMs
    const fields = { trigger, reason: error.reason, consecutiveFailures: this.consecutiveFailures }
    if (error.rejected) {
      this.log.error(fields, 'Token refresh failed: the identity provider refused the refresh token; new tokens are needed')
    } else {
      this.log.warn({ ...fields, nextAttemptInMs: waitMs }, 'Token refresh failed')
    }
    return error
  }

  private describe (accessToken: string, expiresAtMs: number | null, obtainedAtMs: number | null): CurrentToken {
    let description: TokenDescription
    try {
      description = describeToken(accessToken)
    } catch (err) {
      this.log.warn({ reason: (err as TokenDecodeError).message }, 'Access token looks like a JWT but cannot be decoded; treating it as opaque')
      description = { tokenType: 'opaque', expiresAtMs: null, issuedAtMs: null, subject: null, issuer: null }
    }
    // The answer's lifetime and the JWT's exp can disagree; the earlier one is the safe one.
    const known = [description.expiresAtMs, expiresAtMs].filter((ms): ms is number => ms !== null)
    const expires = known.length === 0 ? null : Math.min(...known)
    return {
      ...description,
      accessToken,
      expiresAtMs: expires,
      refreshAtMs: expires === null ? Infinity : expires - this.effectiveBufferMs(expires, description.issuedAtMs ?? obtainedAtMs)
    }
  }

  // A token whose whole life is shorter than the buffer would be "expiring" from birth and
  // refreshed on every request; such a token is refreshed at half its life instead.
  private effectiveBufferMs (expiresAtMs: number, issuedAtMs: number | null): number {
    if (issuedAtMs === null || issuedAtMs >= expiresAtMs) return this.bufferMs
    return Math.min(this.bufferMs, (expiresAtMs - issuedAtMs) / 2)
  }

  /** True when there is no usable token, or the current one is inside the buffer. */
  needsRefresh (): boolean {
    const current = this.current
    return current === null || this.now() >= current.refreshAtMs
  }

  /** Start-up: refresh at once in the background when no token is valid beyond the buffer. */
  refreshIfDue (trigger: RefreshTrigger = 'startup'): void {
    if (this.needsRefresh() && this.mayAttempt(this.now())) this.refreshInBackground(trigger)
  }

  /**
   * One periodic check: refreshes when the token would be inside the buffer before the next
   * check. Failures are recorded, never thrown.
   */
  async checkAndRefresh (): Promise<void> {
    const now = this.now()
    this.nextCheckAtMs = now + this.checkIntervalMs
    this.log.info('[Periodic Refresh] Checking token expiry...')
    if (!this.refreshEnabled) {
      this.log.debug('Token refresh is disabled; nothing to do')
      return
    }
    if (this.refreshTokenRejected) {
      this.log.warn('The refresh token was refused; waiting for new tokens')
      return
    }
    const current = this.current
    if (current !== null && current.expiresAtMs === null) {
      this.log.info('Token expiry unknown (opaque token); refreshed when the upstream answers 401')
      return
    }
    if (current !== null && current.refreshAtMs > now + this.checkIntervalMs) {
      this.log.info(`Token still valid. Expires in ${formatMinutes(current.expiresAtMs! - now)} minutes`)
      return
    }
    await this.refreshAccessToken('periodic').catch(() => {})
  }

  /** The seed's timer-driven periodic refresh, for use without a scheduler. */
  startPeriodicRefresh (intervalMinutes: number): void {
    this.stopPeriodicRefresh()
    this.setCheckInterval(intervalMinutes * 60_000)
    // checkAndRefresh records its failures and never rejects.
    this.periodicTimer = setInterval(() => { this.checkAndRefresh() }, this.checkIntervalMs)
    this.periodicTimer.unref()
  }

  stopPeriodicRefresh (): void {
    if (this.periodicTimer !== null) clearInterval(this.periodicTimer)
    this.periodicTimer = null
  }

  setCheckInterval (intervalMs: number): void {
    this.checkIntervalMs = intervalMs
    this.nextCheckAtMs = this.now() + intervalMs
  }

  /** Resolves once no refresh is in flight (used on shutdown, before the store closes). */
  async whenIdle (): Promise<void> {
    while (this.inflight !== null) await this.inflight.catch(() => {})
  }

  /** Stops the timer and awaits the refresh in flight, without starting another retry of it. */
  async close (): Promise<void> {
    this.closing = true
    this.stopPeriodicRefresh()
    await this.whenIdle()
  }

  /** Seconds a caller should wait before trying again when no token can be had. */
  retryAfterSeconds (): number {
    return Math.max(1, Math.ceil((this.nextAttemptAtMs - this.now()) / 1000))
  }

  getHealth (): TokenHealth {
    const now = this.now()
    const current = this.current
    const expiresAtMs = current?.expiresAtMs ?? null
    let status: TokenHealth['status'] = 'ok'
    if (current === null || (expiresAtMs !== null && now >= expiresAtMs)) status = 'expired'
    else if (now >= current.refreshAtMs) status = 'expiring'
    return {
      status,
      tokenType: current?.tokenType ?? null,
      expiresAt: toIso(expiresAtMs),
      expiresInSeconds: expiresAtMs === null ? null : Math.max(0, Math.floor((expiresAtMs - now) / 1000)),
      refreshEnabled: this.refreshEnabled,
      refreshStyle: this.grant.style,
      lastRefreshAt: toIso(this.lastRefreshAtMs),
      lastRefreshError: this.lastRefreshError,
      consecutiveFailures: this.consecutiveFailures,
      refreshTokenRejected: this.refreshTokenRejected,
      refreshCount: this.refreshCount,
      nextCheckAt: this.refreshEnabled ? toIso(this.nextCheckAtMs) : null,
      subject: current?.subject ?? null,
      issuer: current?.issuer ?? null
    }
  }
}

// Whole minutes as the seed printed them; one decimal below ten minutes, where it matters.
function formatMinutes (ms: number): string {
  const minutes = ms / 60_000
  return minutes >= 10 ? String(Math.round(minutes)) : minutes.toFixed(1)
}

function toIso (ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

function asRefreshError (err: unknown): RefreshError {
  if (err instanceof RefreshError) return err
  return new RefreshError({ reason: 'internal', retryable: false, rejected: false },
    'unexpected error during refresh', { cause: err })
}

// Errors from outside (a store, a callback) may quote what they were given; only name and code travel.
function redactedError (err: unknown): { type: string, code?: string, message: string } {
  const e = err as { name?: string, code?: string, message?: string }
  return { type: e?.name ?? 'Error', code: e?.code, message: String(e?.message ?? err).slice(0, 200) }
}
