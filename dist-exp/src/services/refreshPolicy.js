import { backoffDelay } from '../utils/backoff.js';
export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_RETRY = { baseMs: 500, maxMs: 60_000 };
export const DEFAULT_MIN_UNAUTHORIZED_REFRESH_INTERVAL_MS = 10_000;
// A server asking for a longer pause gets it between refreshes, not inside one: waiting callers
// and shutdown must not hang on a Retry-After of an hour.
const MAX_WAIT_WITHIN_REFRESH_MS = 10_000;
// A Retry-After beyond this is treated as this: an hour without trying is already a long outage.
const MAX_RETRY_AFTER_MS = 60 * 60_000;
export class RefreshPolicy {
    maxAttempts;
    retry;
    consecutiveFailures = 0;
    /** `<reason>: <detail>` of the last failure; null after a success. */
    lastError = null;
    /** The identity provider refused the refresh token: no attempt can succeed until new tokens arrive. */
    rejected = false;
    /** Epoch ms before which no refresh is started (backoff). */
    nextAttemptAtMs = 0;
    nextUnauthorizedRefreshAtMs = 0;
    minUnauthorizedRefreshIntervalMs;
    random;
    constructor(options = {}) {
        this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
        this.retry = options.retry ?? DEFAULT_RETRY;
        this.minUnauthorizedRefreshIntervalMs = options.minUnauthorizedRefreshIntervalMs ?? DEFAULT_MIN_UNAUTHORIZED_REFRESH_INTERVAL_MS;
        this.random = options.random ?? Math.random;
    }
    /** Whether a refresh may start now (given that the credential can refresh at all). */
    mayAttempt(nowMs) {
        return !this.rejected && nowMs >= this.nextAttemptAtMs;
    }
    /**
     * A refresh forced by an upstream 401 may run now: never within the interval after the last
     * one, since an upstream that refuses every token (a wrong audience, say) would otherwise cost
     * one refresh per request. Claims the slot when it answers true.
     */
    claimUnauthorizedRefresh(nowMs) {
        if (!this.mayAttempt(nowMs) || nowMs < this.nextUnauthorizedRefreshAtMs)
            return false;
        this.nextUnauthorizedRefreshAtMs = nowMs + this.minUnauthorizedRefreshIntervalMs;
        return true;
    }
    /**
     * The wait before attempt `attempt + 1` within the same refresh after `error`, or null when the
     * refresh should give up: not retryable, out of attempts, a pause too long to wait inside a
     * refresh, or the service is closing.
     */
    retryDelayMs(error, attempt, closing) {
        const pausedTooLong = (error.retryAfterMs ?? 0) > MAX_WAIT_WITHIN_REFRESH_MS;
        if (!error.retryable || attempt >= this.maxAttempts || pausedTooLong || closing)
            return null;
        return Math.max(error.retryAfterMs ?? 0, backoffDelay(this.retry, attempt, this.random));
    }
    /** Records a failed refresh; answers how long until the next may start, in ms. */
    recordFailure(error, nowMs) {
        this.consecutiveFailures++;
        this.lastError = `${error.reason}: ${error.detail}`;
        if (error.rejected)
            this.rejected = true;
        const waitMs = Math.max(Math.min(error.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS), backoffDelay(this.retry, this.consecutiveFailures, this.random));
        this.nextAttemptAtMs = nowMs + waitMs;
        return waitMs;
    }
    /** New tokens arrived (a refresh, another replica, an operator): every failure is forgotten. */
    clear() {
        this.consecutiveFailures = 0;
        this.lastError = null;
        this.rejected = false;
        this.nextAttemptAtMs = 0;
    }
    /** Seconds a caller should wait before trying again when no token can be had. */
    retryAfterSeconds(nowMs) {
        return Math.max(1, Math.ceil((this.nextAttemptAtMs - nowMs) / 1000));
    }
}
