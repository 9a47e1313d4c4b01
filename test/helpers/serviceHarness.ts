// The service tests' harness: an injected clock (now, sleep, random), a capturing logger, a
// scripted grant for exact outcomes, and the check that no token ever reached a log line.
import type { Test } from 'tap'
import { startIdentityProvider, type IdentityProvider, type IdentityProviderOptions } from '../../src/demo/identityProvider.js'
import { signJwt } from '../../src/demo/jwt.js'
import { RefreshError } from '../../src/errors.js'
import type { RefreshGrant, RefreshStyle, TokenSet } from '../../src/grants/refreshGrant.js'
import {
  TokenRefreshService, type OnTokensUpdated, type TokenRefreshServiceOptions, type TokensUpdate
} from '../../src/services/tokenRefreshService.js'
import type { Timers } from '../../src/utils/clock.js'
import { captureLogger, type CapturingLogger } from './captureLogger.js'

export const T0 = Date.parse('2026-03-01T12:00:00.000Z')
export const SECOND = 1000
export const MINUTE = 60_000
export const UNUSED_REFRESH_URL = 'http://127.0.0.1:9/never-called'

// ---------------------------------------------------------------------------------------------
// Harness

export interface Harness {
  clock: { ms: number }
  now: () => number
  advance: (ms: number) => void
  /** Steps the wall clock alone (NTP, an operator), as `advance` moves both it and the monotonic clock. */
  stepWallClock: (ms: number) => void
  /** The timers given to services: set on the harness clock, run by `advanceTimers`. */
  timers: FakeTimers
  sleeps: number[]
  logger: CapturingLogger
  updates: TokensUpdate[]
  options: TokenRefreshServiceOptions
}

export function harness (): Harness {
  const clock = { ms: T0 }
  let stepped = 0
  const sleeps: number[] = []
  const now = (): number => clock.ms
  const logger = captureLogger()
  const timers = fakeTimers(clock)
  return {
    clock,
    now,
    advance: (ms) => { clock.ms += ms },
    stepWallClock: (ms) => { clock.ms += ms; stepped += ms },
    timers,
    sleeps,
    logger,
    updates: [],
    options: {
      now,
      // Time that passed, without the wall clock's steps.
      monotonic: () => clock.ms - stepped,
      // Records the delay and jumps the clock instead of waiting.
      sleep: async (ms) => { sleeps.push(ms); clock.ms += ms },
      // Jitter at its top: every delay equals the backoff ceiling.
      random: () => 1,
      timers,
      logger
    }
  }
}

export interface FakeTimers extends Timers {
  /** Due times of the timers still pending, in order. */
  pending: () => number[]
  /**
   * Moves the clock forward by `ms`, stopping at each timer that falls due to run it and to let
   * what it started settle (a refresh's sleeps move the same clock).
   */
  advance: (ms: number) => Promise<void>
}

function fakeTimers (clock: { ms: number }): FakeTimers {
  let queue: Array<{ at: number, fn: () => void, id: number }> = []
  let ids = 0
  const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await tick() }
  return {
    setTimeout: (fn, ms) => {
      const timer = { at: clock.ms + ms, fn, id: ++ids }
      queue.push(timer)
      queue.sort((a, b) => a.at - b.at || a.id - b.id)
      return timer.id
    },
    clearTimeout: (id) => { queue = queue.filter((timer) => timer.id !== id) },
    pending: () => queue.map((timer) => timer.at),
    advance: async (ms) => {
      const end = clock.ms + ms
      await settle()
      while (queue.length > 0 && queue[0].at <= end) {
        const timer = queue.shift()!
        clock.ms = Math.max(clock.ms, timer.at)
        timer.fn()
        await settle()
      }
      clock.ms = Math.max(clock.ms, end)
    }
  }
}

export function service (h: Harness, accessToken: string | null, refreshToken: string | null,
  options: TokenRefreshServiceOptions & { refreshUrl?: string, onTokensUpdated?: OnTokensUpdated } = {}): TokenRefreshService {
  const { refreshUrl = UNUSED_REFRESH_URL, onTokensUpdated, ...rest } = options
  const record: OnTokensUpdated = (_at, _rt, update) => { h.updates.push(update) }
  return new TokenRefreshService(accessToken, refreshToken, refreshUrl, onTokensUpdated ?? record, { ...h.options, ...rest })
}

let sequence = 0
/** A JWT issued now (by the harness clock) living ttlSeconds. */
export function jwt (h: Harness, ttlSeconds: number, extra: Record<string, unknown> = {}): string {
  const iat = Math.floor(h.now() / 1000)
  return signJwt({
    sub: 'user_01TEST', iss: 'https://idp.test', email: 'person@example.com', jti: ++sequence, iat, exp: iat + ttlSeconds, ...extra
  }, 'test-secret')
}

export type Outcome = TokenSet | Error | (() => Promise<TokenSet>)

/** A RefreshGrant that answers from a script and records what it was presented. */
export class ScriptedGrant implements RefreshGrant {
  readonly presented: Array<string | null> = []
  constructor (private readonly outcomes: Outcome[], readonly style: RefreshStyle = 'json', readonly needsRefreshToken = true) {}

  async exchange (refreshToken: string | null): Promise<TokenSet> {
    this.presented.push(refreshToken)
    const outcome = this.outcomes.shift()
    if (outcome === undefined) throw new Error('scripted grant: no outcome left')
    if (typeof outcome === 'function') return outcome()
    if (outcome instanceof Error) throw outcome
    return outcome
  }
}

export const tokens = (accessToken: string, refreshToken: string | null = null, expiresAtMs: number | null = null): TokenSet =>
  ({ accessToken, refreshToken, expiresAtMs })

export const failure = (reason: string, retryable: boolean, rejected = false, retryAfterMs?: number): RefreshError =>
  new RefreshError({ reason, retryable, rejected, retryAfterMs }, `detail for ${reason}`)

export function deferred<T = void> (): { promise: Promise<T>, resolve: (value: T) => void, reject: (err: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

export function track (promise: Promise<unknown>): { settled: boolean } {
  const state = { settled: false }
  promise.then(() => { state.settled = true }, () => { state.settled = true })
  return state
}

/** Lets pending promise callbacks and I/O callbacks run. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export async function idpFor (t: Test, h: Harness, options: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  const idp = await startIdentityProvider({ now: h.now, tokenTtlSeconds: 3600, ...options })
  t.teardown(() => idp.close())
  return idp
}

/**
 * Every token and refresh token the provider and the test handed out: none may reach a log line,
 * nor the health of the given services (which must not hold the user's email either).
 */
export function assertNoSecretsLogged (t: Test, h: Harness, idp: IdentityProvider | null, extra: Array<string | null>,
  services: TokenRefreshService[] = []): void {
  const secrets = new Set<string>()
  for (const value of [...extra, ...(idp?.issued ?? []), idp?.validRefreshToken ?? null, ...(idp?.calls.map((c) => c.refreshToken) ?? [])]) {
    if (typeof value === 'string' && value !== '') secrets.add(value)
  }
  for (const update of h.updates) {
    secrets.add(update.accessToken)
    if (update.refreshToken !== null) secrets.add(update.refreshToken)
  }
  const text = h.logger.text()
  t.ok(secrets.size > 0 && h.logger.lines.length > 0, 'there were secrets and log lines to check')
  t.same([...secrets].filter((secret) => text.includes(secret)), [], 'no access or refresh token in the logs')
  for (const svc of services) {
    const health = JSON.stringify(svc.getHealth())
    t.same([...secrets, idp?.email ?? 'person@example.com'].filter((secret) => health.includes(secret)), [],
      'no token, refresh token or email in health')
  }
}
