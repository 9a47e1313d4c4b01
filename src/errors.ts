// Typed errors of the core. Each carries a TOKENGATE_ code and the HTTP status a route maps it to;
// messages never hold a token, a secret or an identity provider's answer.
import createError from '@fastify/error'

export class TokenDecodeError extends createError<[string]>('TOKENGATE_TOKEN_MALFORMED', 'Malformed JWT: %s', 400) {}

/** Why a refresh failed, as shown in health: `invalid_grant`, `timeout`, `bad_response`, `http_500`, … */
export interface RefreshFailure {
  reason: string
  /** Worth another attempt: network errors, timeouts, 5xx, 429. */
  retryable: boolean
  /** The identity provider refused the refresh token (400/401): further attempts cannot succeed. */
  rejected: boolean
  /** Server-requested delay (Retry-After on 429/503). */
  retryAfterMs?: number
}

export class RefreshError extends createError<[string, string]>('TOKENGATE_REFRESH_FAILED', '%s: %s', 502) {
  readonly reason: string
  readonly retryable: boolean
  readonly rejected: boolean
  readonly retryAfterMs: number | undefined
  /** What went wrong, without the reason prefix; safe to show (never quotes an answer). */
  readonly detail: string
  // A private field: never enumerable, so no error serializer can put it in a log line.
  #rotatedRefreshToken: string | null = null

  constructor (failure: RefreshFailure, detail: string, options?: { cause?: unknown }) {
    super(failure.reason, detail)
    this.detail = detail
    if (options?.cause !== undefined) this.cause = options.cause
    this.reason = failure.reason
    this.retryable = failure.retryable
    this.rejected = failure.rejected
    this.retryAfterMs = failure.retryAfterMs
  }

  /**
   * A refresh token the refused answer carried. The identity provider has rotated it, so the one
   * presented is spent: the caller must keep this one although the answer was not used.
   */
  get rotatedRefreshToken (): string | null {
    return this.#rotatedRefreshToken
  }

  carryingRefreshToken (refreshToken: string | null): this {
    this.#rotatedRefreshToken = refreshToken
    return this
  }
}

export class TokenUnavailableError extends createError<[string]>('TOKENGATE_TOKEN_UNAVAILABLE', '%s', 503) {
  readonly retryAfterSeconds: number

  constructor (message: string, retryAfterSeconds: number) {
    super(message)
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds))
  }
}

/** One problem in the configuration, always naming the variable it is about. */
export interface ConfigProblem {
  /** TOKENGATE_CONFIG for a problem inside its file. */
  variable: string
  /**
   * Where inside TOKENGATE_CONFIG's file (`routes[1].credential`, `credentials.chat.tokenUrl`, or
   * the file and line of a syntax error); absent for a problem of the variable itself.
   */
  place?: string
  message: string
}

export class ConfigError extends createError<[string]>('TOKENGATE_CONFIG_INVALID', 'Invalid configuration: %s', 500) {
  readonly problems: ConfigProblem[]

  constructor (problems: ConfigProblem[]) {
    super(problems.map(formatConfigProblem).join('; '))
    this.problems = problems
  }
}

/** `UPSTREAM_URL is required (…)` for a variable, `routes[1].credential: unknown credential "grpah"` in the file. */
export function formatConfigProblem (problem: ConfigProblem): string {
  return problem.place === undefined ? `${problem.variable} ${problem.message}` : `${problem.place}: ${problem.message}`
}

/** A request named a credential the gateway does not have (admin, health). */
// The name is not repeated: it is whatever the client sent.
export class UnknownCredentialError extends createError('TOKENGATE_UNKNOWN_CREDENTIAL', 'this gateway has no credential of that name', 404) {}

/** An admin request must name its credential when the gateway has several. */
export class CredentialRequiredError extends createError<[string]>('TOKENGATE_CREDENTIAL_REQUIRED', '?credential= is required: this gateway has several (%s)', 400) {}

/** No route of the gateway matches the request's path; it is not proxied. */
export class NoRouteError extends createError('TOKENGATE_NO_ROUTE', 'no route of this gateway matches the path', 404) {}

export class StoreError extends createError<[string]>('TOKENGATE_STORE_FAILED', '%s', 500) {}

/** Another live process holds the lock on a file store: this one must not write there. */
export class StoreLockedError extends createError<[string]>('TOKENGATE_STORE_LOCKED', '%s', 500) {
  readonly lockPath: string
  /** Who holds it, as an operator reads it: `pid 4242 on host gw-a, since <ISO time>`. */
  readonly holder: string

  constructor (lockPath: string, holder: string) {
    super(`${lockPath} is held by another process (${holder})`)
    this.lockPath = lockPath
    this.holder = holder
  }
}

// Errors from outside (a store, a callback) may quote what they were given: only our own
// StoreError messages (a path, an errno code, Redis' state) travel in full.
export function redactedError (err: unknown): { type: string, code?: string, message: string } {
  const e = err as { name?: string, code?: string }
  return { type: e?.name ?? 'Error', code: e?.code, message: safeMessage(err) }
}

export function safeMessage (err: unknown): string {
  if (err instanceof StoreError) return err.message
  const e = err as { name?: string, code?: string }
  return `the token store failed (${e?.code ?? e?.name ?? 'unknown error'})`
}

/** What the client is told of an error: its status, its `error` slug and the headers it needs. */
export interface HttpErrorAnswer {
  statusCode: number
  headers: Record<string, string>
  body: { error: string, message: string }
}

// The typed errors a route or hook may throw, and the `error` each is answered with.
const ERROR_SLUGS: Record<string, string> = {
  TOKENGATE_TOKEN_UNAVAILABLE: 'token_unavailable',
  TOKENGATE_UNKNOWN_CREDENTIAL: 'unknown_credential',
  TOKENGATE_CREDENTIAL_REQUIRED: 'credential_required',
  TOKENGATE_NO_ROUTE: 'no_route'
}

/**
 * The answer to a typed error of ours (its code decides; its message is written to be shown),
 * or null for any other error, whose message may quote what it was given and is never shown.
 */
export function httpErrorOf (err: unknown): HttpErrorAnswer | null {
  const { code, statusCode, message } = err as { code?: string, statusCode?: number, message?: string }
  const slug = code === undefined ? undefined : ERROR_SLUGS[code]
  if (slug === undefined) return null
  const headers: Record<string, string> = {}
  if (err instanceof TokenUnavailableError) headers['retry-after'] = String(err.retryAfterSeconds)
  return { statusCode: statusCode!, headers, body: { error: slug, message: message! } }
}
