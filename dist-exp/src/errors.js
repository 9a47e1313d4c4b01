// Typed errors of the core. Each carries a TOKENGATE_ code and the HTTP status a route maps it to;
// messages never hold a token, a secret or an identity provider's answer.
import createError from '@fastify/error';
export class TokenDecodeError extends createError('TOKENGATE_TOKEN_MALFORMED', 'Malformed JWT: %s', 400) {
}
export class RefreshError extends createError('TOKENGATE_REFRESH_FAILED', '%s: %s', 502) {
    reason;
    retryable;
    rejected;
    retryAfterMs;
    /** What went wrong, without the reason prefix; safe to show (never quotes an answer). */
    detail;
    // A private field: never enumerable, so no error serializer can put it in a log line.
    #rotatedRefreshToken = null;
    constructor(failure, detail, options) {
        super(failure.reason, detail);
        this.detail = detail;
        if (options?.cause !== undefined)
            this.cause = options.cause;
        this.reason = failure.reason;
        this.retryable = failure.retryable;
        this.rejected = failure.rejected;
        this.retryAfterMs = failure.retryAfterMs;
    }
    /**
     * A refresh token the refused answer carried. The identity provider has rotated it, so the one
     * presented is spent: the caller must keep this one although the answer was not used.
     */
    get rotatedRefreshToken() {
        return this.#rotatedRefreshToken;
    }
    carryingRefreshToken(refreshToken) {
        this.#rotatedRefreshToken = refreshToken;
        return this;
    }
}
export class TokenUnavailableError extends createError('TOKENGATE_TOKEN_UNAVAILABLE', '%s', 503) {
    retryAfterSeconds;
    constructor(message, retryAfterSeconds) {
        super(message);
        this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
    }
}
export class ConfigError extends createError('TOKENGATE_CONFIG_INVALID', 'Invalid configuration: %s', 500) {
    problems;
    constructor(problems) {
        super(problems.map(formatConfigProblem).join('; '));
        this.problems = problems;
    }
}
/** `UPSTREAM_URL is required (…)` for a variable, `routes[1].credential: unknown credential "grpah"` in the file. */
export function formatConfigProblem(problem) {
    return problem.place === undefined ? `${problem.variable} ${problem.message}` : `${problem.place}: ${problem.message}`;
}
/** A request named a credential the gateway does not have (admin, health). */
// The name is not repeated: it is whatever the client sent.
export class UnknownCredentialError extends createError('TOKENGATE_UNKNOWN_CREDENTIAL', 'this gateway has no credential of that name', 404) {
}
/** An admin request must name its credential when the gateway has several. */
export class CredentialRequiredError extends createError('TOKENGATE_CREDENTIAL_REQUIRED', '?credential= is required: this gateway has several (%s)', 400) {
}
/** No route of the gateway matches the request's path; it is not proxied. */
export class NoRouteError extends createError('TOKENGATE_NO_ROUTE', 'no route of this gateway matches the path', 404) {
}
export class StoreError extends createError('TOKENGATE_STORE_FAILED', '%s', 500) {
}
/** Another live process holds the lock on a file store: this one must not write there. */
export class StoreLockedError extends createError('TOKENGATE_STORE_LOCKED', '%s', 500) {
    lockPath;
    /** Who holds it, as an operator reads it: `pid 4242 on host gw-a, since <ISO time>`. */
    holder;
    constructor(lockPath, holder) {
        super(`${lockPath} is held by another process (${holder})`);
        this.lockPath = lockPath;
        this.holder = holder;
    }
}
// Errors from outside (a store, a callback) may quote what they were given: only our own
// StoreError messages (a path, an errno code, Redis' state) travel in full.
export function redactedError(err) {
    const e = err;
    return { type: e?.name ?? 'Error', code: e?.code, message: safeMessage(err) };
}
export function safeMessage(err) {
    if (err instanceof StoreError)
        return err.message;
    const e = err;
    return `the token store failed (${e?.code ?? e?.name ?? 'unknown error'})`;
}
// The typed errors a route or hook may throw, and the `error` each is answered with.
const ERROR_SLUGS = {
    TOKENGATE_TOKEN_UNAVAILABLE: 'token_unavailable',
    TOKENGATE_UNKNOWN_CREDENTIAL: 'unknown_credential',
    TOKENGATE_CREDENTIAL_REQUIRED: 'credential_required',
    TOKENGATE_NO_ROUTE: 'no_route'
};
/**
 * The answer to a typed error of ours (its code decides; its message is written to be shown),
 * or null for any other error, whose message may quote what it was given and is never shown.
 */
export function httpErrorOf(err) {
    const { code, statusCode, message } = err;
    const slug = code === undefined ? undefined : ERROR_SLUGS[code];
    if (slug === undefined)
        return null;
    const headers = {};
    if (err instanceof TokenUnavailableError)
        headers['retry-after'] = String(err.retryAfterSeconds);
    return { statusCode: statusCode, headers, body: { error: slug, message: message } };
}
