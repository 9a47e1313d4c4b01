// The token engine: holds the current access token, decides when it needs refreshing, and makes
// sure that however many callers ask, one refresh runs at a time. New tokens are handed to the
// on-updated callback (which persists them) before anyone is given them.
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { RefreshError, TokenUnavailableError, redactedError, safeMessage } from '../errors.js';
import { badResponse, DEFAULT_REFRESH_TIMEOUT_MS } from '../grants/httpExchange.js';
import { createJsonRefreshGrant } from '../grants/jsonRefreshGrant.js';
import { DEFAULT_MAX_ACCESS_TOKEN_BYTES } from '../grants/tokenAnswer.js';
import { monotonicClock, realSleep, realTimers, systemClock } from '../utils/clock.js';
import { silentLogger } from '../utils/logger.js';
import { lifetimeStatus } from '../utils/tokenLifetime.js';
import { DEFAULT_EXPIRY_BUFFER_MS } from '../utils/tokenUtils.js';
import { heldTokenTime, holdToken, whyUnusable } from './heldToken.js';
import { RefreshPolicy } from './refreshPolicy.js';
import { SharedStoreCoordinator } from './sharedStoreCoordinator.js';
export { DEFAULT_MAX_ATTEMPTS, DEFAULT_MIN_UNAUTHORIZED_REFRESH_INTERVAL_MS, DEFAULT_RETRY } from './refreshPolicy.js';
export const DEFAULT_CHECK_INTERVAL_MS = 30 * 60_000;
// After the refresh token was refused there is nothing to retry; callers are told to come back later.
const REJECTED_RETRY_AFTER_S = 60;
// The longest a timer can wait; a later refresh time is reached in several waits.
const MAX_TIMER_MS = 2_147_483_647;
export class TokenRefreshService {
    onTokensUpdated;
    current = null;
    refreshToken;
    inflight = null;
    periodicTimer = null;
    grant;
    bufferMs;
    checkIntervalMs;
    policy;
    now;
    monotonic;
    sleep;
    log;
    lastRefreshAtMs = null;
    refreshCount = 0;
    nextCheckAtMs = null;
    heldVersion;
    storeError = null;
    /** The version whose save failed (new tokens the store may not hold), until written or replaced. */
    unsavedVersion = null;
    coordinator;
    seedFingerprint;
    credential;
    observers = new Set();
    // Set by close(): the attempt in flight is awaited, no further retry is started.
    closing = false;
    /** Resolved by close(): a retry's backoff ends at once instead of holding the shutdown. */
    closed;
    markClosed;
    maxAccessTokenBytes;
    timers;
    /** Set once refresh-ahead is on: the timer that refreshes at the current token's refresh time. */
    aheadTimer = null;
    refreshAhead = false;
    warnedShortLife = false;
    /** The identity provider's host, named in failure logs. */
    identityProvider;
    /** Calls to the identity provider of the refresh in flight (its span says how many). */
    attempts = 0;
    constructor(accessToken, refreshToken, refreshUrl, onTokensUpdated = () => { }, options = {}) {
        this.onTokensUpdated = onTokensUpdated;
        this.refreshToken = refreshToken || null;
        this.bufferMs = options.bufferMs ?? DEFAULT_EXPIRY_BUFFER_MS;
        this.closed = new Promise((resolve) => { this.markClosed = resolve; });
        this.checkIntervalMs = options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
        this.policy = new RefreshPolicy(options);
        this.now = options.now ?? systemClock;
        this.monotonic = options.monotonic ?? monotonicClock;
        this.sleep = options.sleep ?? realSleep;
        this.log = options.logger ?? silentLogger;
        this.heldVersion = options.version ?? 0;
        this.seedFingerprint = options.seedFingerprint ?? null;
        this.credential = options.credential ?? 'default';
        const refreshTimeoutMs = options.refreshTimeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS;
        // Long enough for the lock holder's whole refresh: every attempt timing out, plus the backoff.
        const waitMs = this.policy.maxAttempts * (refreshTimeoutMs + this.policy.retry.maxMs / 4) + 5_000;
        this.coordinator = options.shared === undefined
            ? null
            : new SharedStoreCoordinator(options.shared, this, { waitMs, now: this.monotonic, sleep: this.sleep, logger: this.log });
        this.maxAccessTokenBytes = options.maxAccessTokenBytes ?? DEFAULT_MAX_ACCESS_TOKEN_BYTES;
        this.timers = options.timers ?? realTimers;
        this.identityProvider = new URL(refreshUrl).host;
        this.grant = options.grant ?? createJsonRefreshGrant({
            url: refreshUrl,
            now: this.now,
            timeoutMs: options.refreshTimeoutMs,
            maxAnswerBytes: options.maxAnswerBytes
        });
        if (accessToken)
            this.current = this.describe(accessToken, options.expiresAtMs ?? null, 'record');
    }
    /** Version of the tokens held: the store's version they were read or written as. */
    get version() {
        return this.heldVersion;
    }
    /** True when this service can obtain new tokens at all. */
    get refreshEnabled() {
        return !this.grant.needsRefreshToken || this.refreshToken !== null;
    }
    get style() {
        return this.grant.style;
    }
    /** The refresh token the next refresh will present (for persistence and inspection). */
    get currentRefreshToken() {
        return this.refreshToken;
    }
    /**
     * The token to send upstream when it is valid beyond the buffer, else null (then
     * getValidAccessToken says what to do): the proxy's hot path takes it without a promise.
     */
    validAccessTokenNow() {
        const current = this.current;
        return current !== null && this.timeFor(current) < current.refreshAtMs ? current.accessToken : null;
    }
    /**
     * The token to send upstream. Valid beyond the buffer: returned at once. Inside the buffer:
     * returned at once while a refresh runs in the background. No valid token: every caller waits
     * on the same refresh, or gets a TokenUnavailableError when there is no way to get one.
     */
    async getValidAccessToken() {
        return this.validAccessTokenNow() ?? this.slowPath(this.current);
    }
    async slowPath(current) {
        // Backoffs are measured on the monotonic clock: a wall clock stepped back cannot stretch one.
        const now = this.monotonic();
        if (current !== null && (current.expiresAtMs === null || this.timeFor(current) < current.expiresAtMs)) {
            if (this.inflight === null && this.mayAttempt(now))
                this.refreshInBackground('request');
            return current.accessToken;
        }
        if (this.inflight !== null)
            return this.awaitForCaller(this.inflight);
        if (!this.refreshEnabled) {
            throw new TokenUnavailableError('the access token has expired and no refresh token is configured', REJECTED_RETRY_AFTER_S);
        }
        if (this.policy.rejected) {
            throw new TokenUnavailableError('the access token has expired and the identity provider refused the refresh token', REJECTED_RETRY_AFTER_S);
        }
        if (!this.policy.mayAttempt(now)) {
            throw new TokenUnavailableError(`no valid access token; the last refresh failed (${this.policy.lastError})`, this.retryAfterSeconds());
        }
        return this.awaitForCaller(this.refreshAccessToken('request'));
    }
    async awaitForCaller(refresh) {
        try {
            return await refresh;
        }
        catch {
            throw new TokenUnavailableError(`no valid access token; the refresh failed (${this.policy.lastError})`, this.retryAfterSeconds());
        }
    }
    mayAttempt(now) {
        return this.refreshEnabled && this.policy.mayAttempt(now);
    }
    /**
     * The upstream answered 401 to a request sent with `rejectedToken`: the token may have been
     * revoked before its expiry. Resolves with the token to retry with, or null when the 401
     * should go to the client as it came. All concurrent 401s share one refresh; a 401 for a
     * token that has already been replaced starts none (the replacement is returned), and a
     * refresh forced this way is not repeated within minUnauthorizedRefreshIntervalMs.
     * Never rejects: a failed refresh is recorded like any other.
     */
    async recoverFromUnauthorized(rejectedToken) {
        if (this.current !== null && this.current.accessToken !== rejectedToken) {
            return this.getValidAccessToken().catch(() => null);
        }
        if (this.inflight !== null)
            return this.inflight.catch(() => null);
        if (!this.refreshEnabled || !this.policy.claimUnauthorizedRefresh(this.monotonic()))
            return null;
        return this.refreshAccessToken('upstream-401').catch(() => null);
    }
    /** Starts a refresh (or joins the one in flight) and never rejects: failures are recorded. */
    refreshInBackground(trigger) {
        this.refreshAccessToken(trigger).catch(() => { });
    }
    /**
     * Refreshes now, sharing one call among all concurrent callers. Resolves with the new access
     * token once it has been handed to the on-updated callback; rejects with a RefreshError.
     */
    refreshAccessToken(trigger = 'admin') {
        if (this.inflight === null) {
            const startedAtMs = this.monotonic();
            const outcome = (reason) => {
                const event = { trigger, outcome: reason === null ? 'success' : 'failure', reason, durationMs: this.monotonic() - startedAtMs };
                this.notify((observer) => observer.onRefreshOutcome(event));
            };
            this.inflight = this.tracedRefresh(trigger)
                .then((token) => { outcome(null); return token; }, (err) => { outcome(err.reason); throw err; })
                .finally(() => { this.inflight = null; });
        }
        return this.inflight;
    }
    /** Adds an observer of refresh outcomes and store errors (the metrics plugin is one). */
    observe(observer) {
        this.observers.add(observer);
    }
    notify(call) {
        for (const observer of this.observers) {
            try {
                call(observer);
            }
            catch (err) {
                this.log.warn({ err: redactedError(err) }, 'An observer of the token service failed; ignored');
            }
        }
    }
    /**
     * The refresh as a span (a child of the request that needed it, or a trace of its own for a
     * background one), active while it runs so that the call to the identity provider carries it.
     * Its attributes never hold a token or a secret.
     */
    tracedRefresh(trigger) {
        this.attempts = 0;
        const attributes = { 'tokengate.credential': this.credential, 'tokengate.grant': this.grant.style, 'tokengate.refresh.trigger': trigger };
        // Asked for each time: a no-op until a tracer provider is registered (plugins/tracing.ts,
        // OTEL_EXPORTER_OTLP_ENDPOINT), and the provider of the moment when one is.
        return trace.getTracer('tokengate').startActiveSpan('token refresh', { attributes }, (span) => this.runRefresh(trigger).then((token) => {
            span.setAttributes({ 'tokengate.refresh.outcome': 'success', 'tokengate.refresh.attempts': this.attempts });
            span.end();
            return token;
        }, (err) => {
            span.setAttributes({ 'tokengate.refresh.outcome': 'failure', 'tokengate.refresh.attempts': this.attempts, 'tokengate.refresh.reason': err.reason });
            span.setStatus({ code: SpanStatusCode.ERROR, message: err.reason });
            span.end();
            throw err;
        }));
    }
    async runRefresh(trigger) {
        if (!this.refreshEnabled) {
            throw this.recordFailure(new RefreshError({ reason: 'refresh_disabled', retryable: false, rejected: false }, 'no refresh token is configured'), trigger);
        }
        this.log.info({ trigger }, REFRESH_START_MESSAGE[trigger] ??
            (this.current === null ? 'No access token yet, obtaining one...' : 'Access token expired, refreshing...'));
        if (this.coordinator !== null)
            return this.runSharedRefresh(this.coordinator, trigger);
        return this.exchangeAndAdopt(trigger);
    }
    async exchangeAndAdopt(trigger) {
        const presented = this.refreshToken;
        const tokens = await this.exchangeWithRetries(presented, trigger, 1);
        const next = this.describe(tokens.accessToken, tokens.expiresAtMs, 'fresh', tokens.providerDateMs);
        const problem = whyUnusable(tokens, next, this.now(), this.maxAccessTokenBytes);
        if (problem !== null) {
            await this.keepRotatedRefreshToken(tokens.refreshToken, trigger);
            throw this.recordFailure(badResponse(problem), trigger);
        }
        await this.adopt(next, tokens.refreshToken ?? presented, trigger);
        this.refreshCount++;
        this.lastRefreshAtMs = this.now();
        this.clearFailures();
        this.log.info({ trigger }, 'Token refreshed successfully');
        this.log.info(next.expiresAtMs === null
            ? 'New token expiry unknown (opaque token): valid until the upstream answers 401'
            : `New token expires at: ${new Date(next.expiresAtMs).toISOString()}`);
        return next.accessToken;
    }
    /**
     * A refused answer that carried a new refresh token: the provider has rotated it and the one
     * presented is spent, so the new one is stored (with the current access token) and presented
     * next time. Nothing else of the answer is used.
     */
    async keepRotatedRefreshToken(rotated, trigger) {
        if (rotated === null || rotated === this.refreshToken || !this.grant.needsRefreshToken)
            return;
        const current = this.current;
        this.log.warn({ trigger }, 'The refused answer carried a new refresh token; keeping it (the one presented is spent)');
        if (current !== null)
            await this.persist(current.accessToken, rotated, current.expiresAtMs, trigger);
        this.refreshToken = rotated;
    }
    async exchangeWithRetries(presented, trigger, attempt) {
        this.attempts++;
        try {
            return await this.grant.exchange(presented);
        }
        catch (err) {
            const error = asRefreshError(err);
            await this.keepRotatedRefreshToken(error.rotatedRefreshToken, trigger);
            const delayMs = this.policy.retryDelayMs(error, attempt, this.closing);
            if (delayMs === null)
                throw this.recordFailure(error, trigger);
            this.log.warn({ trigger, reason: error.reason, attempt, retryInMs: delayMs }, 'Token refresh attempt failed, retrying');
            await Promise.race([this.sleep(delayMs), this.closed]);
            // Shutting down meanwhile: no new attempt with a refresh token the store may never see spent.
            if (this.closing)
                throw this.recordFailure(error, trigger);
            return this.exchangeWithRetries(presented, trigger, attempt + 1);
        }
    }
    /**
     * One refresh across all processes sharing the store: the lock holder refreshes (after taking
     * any newer record another process left), the others wait for the record it writes.
     */
    async runSharedRefresh(coordinator, trigger) {
        const before = this.current?.accessToken ?? null;
        let result;
        try {
            result = await coordinator.exclusive(async (latest) => {
                this.storeError = null;
                if (latest !== null)
                    this.adoptRecord(latest);
                if (trigger !== 'admin' && this.servedBy(trigger, before))
                    return null;
                return this.exchangeAndAdopt(trigger);
            });
        }
        catch (err) {
            // The exchange records its own failures; anything else that fails here is the store.
            if (err instanceof RefreshError)
                throw err;
            throw this.recordFailure(this.storeFailed(err), trigger);
        }
        if (typeof result === 'string')
            return result;
        if (result !== null) {
            if (result.newer !== null)
                this.adoptRecord(result.newer);
            // The holder's record may also have arrived by announcement while this replica waited.
            if (!this.servedBy(trigger, before)) {
                throw this.recordFailure(new RefreshError({ reason: 'refresh_elsewhere_failed', retryable: false, rejected: false }, 'another replica held the refresh lock but stored no new token'), trigger);
            }
        }
        this.clearFailures();
        return this.current.accessToken;
    }
    /**
     * Whether another replica's tokens (read or announced since this refresh was asked for) make
     * it unnecessary. A request or start-up needs a token outside the buffer; a periodic check
     * (which looks ahead), a 401 or an operator needs a token other than the one it started with.
     */
    servedBy(trigger, before) {
        const current = this.current;
        if (current === null)
            return false;
        if (trigger === 'request' || trigger === 'startup')
            return !this.needsRefresh();
        return current.accessToken !== before;
    }
    storeFailed(err) {
        const message = safeMessage(err);
        this.storeError = message;
        this.notify((observer) => observer.onStoreError('shared'));
        return new RefreshError({ reason: 'store_unavailable', retryable: false, rejected: false }, message, { cause: err });
    }
    /** Takes tokens another process stored; they are persisted already. */
    adoptRecord(record) {
        if (record.version <= this.heldVersion)
            return;
        this.current = this.describe(record.accessToken, record.expiresAtMs, 'record');
        this.refreshToken = record.refreshToken;
        this.heldVersion = record.version;
        this.log.info({ version: record.version }, 'Token updated by another replica');
        this.scheduleAhead();
    }
    /** With a shared store: takes a newer record if there is one (periodic checks, reconnects). */
    async pullFromSharedStore() {
        await this.coordinator?.pullQuietly();
    }
    /**
     * With a shared store: follows it from now on (announced versions are taken at once, a lost
     * connection shows in health, a store that comes back is resynced).
     */
    async watchSharedStore() {
        await this.coordinator?.watch();
    }
    /** The tokens held as a store record, for writing them back to a store that lost them. */
    currentRecord() {
        const current = this.current;
        if (current === null)
            return null;
        return this.record(current.accessToken, this.refreshToken, current.expiresAtMs, this.heldVersion);
    }
    record(accessToken, refreshToken, expiresAtMs, version) {
        return { accessToken, refreshToken, expiresAtMs, version, seedFingerprint: this.seedFingerprint, updatedAt: new Date(this.now()).toISOString() };
    }
    /** The tokens held, when their save failed and no newer record has replaced them. */
    unsavedRecord() {
        return this.unsavedVersion === this.heldVersion ? this.currentRecord() : null;
    }
    /** Told by the coordinator once the tokens unsavedRecord() gave it are written after all. */
    savedBack() {
        this.unsavedVersion = null;
        this.storeError = null;
    }
    /** Lets a plugin report store trouble found outside a refresh (health shows it). */
    reportStoreError(message) {
        this.storeError = message;
    }
    /**
     * Replaces the tokens from outside a refresh (an operator, another replica): persisted and
     * announced like refreshed ones. A missing refresh token keeps the current one.
     */
    async replaceTokens(accessToken, refreshToken, expiresAtMs = null) {
        // The replacement takes the in-flight slot, so no refresh can spend the old refresh token
        // while the new tokens are being saved; callers that need a token wait for these.
        while (this.inflight !== null)
            await this.whenIdle();
        const replacing = this.runReplace(accessToken, refreshToken, expiresAtMs);
        this.inflight = replacing.finally(() => { this.inflight = null; });
        await this.inflight;
    }
    async runReplace(accessToken, refreshToken, expiresAtMs) {
        const replace = async (latest) => {
            // Written as the next version after whatever the shared store holds, so it is not refused.
            if (latest !== null && latest.version > this.heldVersion)
                this.heldVersion = latest.version;
            await this.adopt(this.describe(accessToken, expiresAtMs, 'given'), refreshToken ?? this.refreshToken, 'admin');
        };
        if (this.coordinator === null)
            await replace(null);
        else
            await this.coordinator.whenLocked(replace);
        this.clearFailures();
        this.log.info({ version: this.heldVersion }, 'Tokens replaced');
        return accessToken;
    }
    clearFailures() {
        this.policy.clear();
        this.scheduleAhead();
    }
    /** Hands new tokens to the callback (which persists them), then makes them current. */
    async adopt(next, refreshToken, trigger) {
        await this.persist(next.accessToken, refreshToken, next.expiresAtMs, trigger);
        this.current = next;
        this.refreshToken = refreshToken;
        this.warnIfShorterThanInterval();
        this.scheduleAhead();
    }
    /** Saves tokens as the next version through the callback; a failure is reported, not thrown. */
    async persist(accessToken, refreshToken, expiresAtMs, trigger) {
        const update = { ...this.record(accessToken, refreshToken, expiresAtMs, this.heldVersion + 1), trigger };
        try {
            await this.onTokensUpdated(accessToken, refreshToken, update);
            this.storeError = null;
            this.unsavedVersion = null;
        }
        catch (err) {
            this.unsavedVersion = update.version;
            // The identity provider may already have spent the old refresh token: the new pair must be
            // used even though it could not be saved.
            this.storeError = safeMessage(err);
            this.log.error({ err: redactedError(err), trigger }, 'Could not persist the new tokens; serving them from memory');
            this.notify((observer) => observer.onStoreError('save'));
        }
        this.heldVersion = update.version;
    }
    recordFailure(error, trigger) {
        const waitMs = this.policy.recordFailure(error, this.monotonic());
        const fields = { trigger, reason: error.reason, consecutiveFailures: this.policy.consecutiveFailures, identityProvider: this.identityProvider };
        if (error.rejected) {
            this.log.error(fields, `Token refresh failed at ${this.identityProvider}: the identity provider refused the refresh token; new tokens are needed`);
        }
        else {
            this.log.warn({ ...fields, nextAttemptInMs: waitMs }, `Token refresh failed at ${this.identityProvider}`);
        }
        this.scheduleAhead();
        return error;
    }
    describe(accessToken, expiresAtMs, origin, providerDateMs) {
        return holdToken(accessToken, expiresAtMs, origin, { nowMs: this.now(), monotonicMs: this.monotonic(), bufferMs: this.bufferMs, providerDateMs, log: this.log });
    }
    /** The time the held token is judged by (src/services/heldToken.ts): a wall clock stepped back does not revive it. */
    timeFor(current) {
        return heldTokenTime(current, this.now(), this.monotonic());
    }
    /** True when there is no usable token, or the current one is inside the buffer. */
    needsRefresh() {
        const current = this.current;
        return current === null || this.timeFor(current) >= current.refreshAtMs;
    }
    /** Start-up: refresh at once in the background when no token is valid beyond the buffer. */
    refreshIfDue(trigger = 'startup') {
        if (this.needsRefresh() && this.mayAttempt(this.monotonic()))
            this.refreshInBackground(trigger);
    }
    /**
     * One periodic check: refreshes when the token would be inside the buffer before the next
     * check. Failures are recorded, never thrown.
     */
    async checkAndRefresh() {
        const now = this.now();
        this.nextCheckAtMs = now + this.checkIntervalMs;
        this.log.info('[Periodic Refresh] Checking token expiry...');
        await this.pullFromSharedStore();
        if (!this.refreshEnabled) {
            this.log.debug('Token refresh is disabled; nothing to do');
            return;
        }
        if (this.policy.rejected) {
            this.log.warn('The refresh token was refused; waiting for new tokens');
            return;
        }
        const current = this.current;
        if (current !== null && current.expiresAtMs === null) {
            this.log.info('Token expiry unknown (opaque token); refreshed when the upstream answers 401');
            return;
        }
        if (current !== null) {
            const tokenNowMs = this.timeFor(current);
            if (current.refreshAtMs > tokenNowMs + this.checkIntervalMs) {
                this.log.info(`Token still valid. Expires in ${formatMinutes(current.expiresAtMs - tokenNowMs)} minutes`);
                return;
            }
        }
        await this.refreshAccessToken('periodic').catch(() => { });
    }
    /** The seed's timer-driven periodic refresh, for use without a scheduler. */
    startPeriodicRefresh(intervalMinutes) {
        this.stopPeriodicRefresh();
        this.setCheckInterval(intervalMinutes * 60_000);
        // checkAndRefresh records its failures and never rejects.
        this.periodicTimer = setInterval(() => { this.checkAndRefresh(); }, this.checkIntervalMs);
        this.periodicTimer.unref();
    }
    stopPeriodicRefresh() {
        if (this.periodicTimer !== null)
            clearInterval(this.periodicTimer);
        this.periodicTimer = null;
    }
    setCheckInterval(intervalMs) {
        this.checkIntervalMs = intervalMs;
        this.nextCheckAtMs = this.now() + intervalMs;
    }
    /** Resolves once no refresh is in flight (used on shutdown, before the store closes). */
    async whenIdle() {
        while (this.inflight !== null)
            await this.inflight.catch(() => { });
    }
    /** Stops the timer and awaits the refresh in flight, without starting another retry of it. */
    async close() {
        this.closing = true;
        this.markClosed();
        this.refreshAhead = false;
        this.clearAheadTimer();
        this.stopPeriodicRefresh();
        await this.whenIdle();
        await this.coordinator?.close();
    }
    /**
     * Turns on refresh-ahead: a timer set from the token itself refreshes it at its refresh time
     * (and, after a failure, when the backoff allows), so an idle gateway never lets its token
     * expire, whatever the periodic check's interval. Warns when that interval is longer than
     * the token's life (the periodic check alone could not keep it valid).
     */
    startRefreshAhead() {
        this.refreshAhead = true;
        this.warnIfShorterThanInterval();
        this.scheduleAhead();
    }
    scheduleAhead() {
        if (!this.refreshAhead)
            return;
        this.clearAheadTimer();
        if (!this.refreshEnabled || this.policy.rejected || this.closing)
            return;
        const current = this.current;
        // A token of unknown expiry is refreshed when the upstream answers 401.
        if (current !== null && current.expiresAtMs === null)
            return;
        // The token's refresh time is on its own clock (timeFor), the backoff's on the monotonic one.
        const untilDueMs = current === null ? 0 : current.refreshAtMs - this.timeFor(current);
        const delayMs = Math.min(Math.max(0, untilDueMs, this.policy.nextAttemptAtMs - this.monotonic()), MAX_TIMER_MS);
        this.aheadTimer = this.timers.setTimeout(() => {
            this.aheadTimer = null;
            // Early (a clamped wait, a clock that moved) or already in hand: wait again.
            if (this.inflight === null && this.needsRefresh() && this.mayAttempt(this.monotonic()))
                this.refreshInBackground('refresh-ahead');
            else if (this.inflight === null)
                this.scheduleAhead();
        }, delayMs);
    }
    clearAheadTimer() {
        if (this.aheadTimer !== null)
            this.timers.clearTimeout(this.aheadTimer);
        this.aheadTimer = null;
    }
    warnIfShorterThanInterval() {
        const current = this.current;
        if (!this.refreshAhead || this.warnedShortLife || current === null || current.expiresAtMs === null || !this.refreshEnabled)
            return;
        const lifeMs = current.expiresAtMs - (current.issuedAtMs ?? this.now());
        if (lifeMs >= this.checkIntervalMs)
            return;
        this.warnedShortLife = true;
        this.log.warn({ tokenLifeSeconds: Math.round(lifeMs / 1000), intervalMinutes: this.checkIntervalMs / 60_000 }, `TOKEN_REFRESH_INTERVAL (${this.checkIntervalMs / 60_000} min) is longer than the token's life (${formatMinutes(lifeMs)} min): ` +
            'the token is refreshed ahead of its expiry by a timer of its own; the periodic check is only a safety net');
    }
    /**
     * How long the current token has been past its refresh time without being renewed, in ms; 0
     * while it is not due, and for a token of unknown expiry. A healthy gateway renews at once, so
     * a value that grows means refreshes are not working, whatever the token's length.
     */
    refreshOverdueMs() {
        const current = this.current;
        if (current === null || current.expiresAtMs === null)
            return 0;
        return Math.max(0, this.timeFor(current) - current.refreshAtMs);
    }
    /** Seconds a caller should wait before trying again when no token can be had. */
    retryAfterSeconds() {
        return this.policy.retryAfterSeconds(this.monotonic());
    }
    getHealth() {
        const current = this.current;
        const now = current === null ? this.now() : this.timeFor(current);
        const expiresAtMs = current?.expiresAtMs ?? null;
        return {
            status: lifetimeStatus(current, now),
            storeError: this.storeError,
            tokenType: current?.tokenType ?? null,
            expiresAt: toIso(expiresAtMs),
            expiresInSeconds: expiresAtMs === null ? null : Math.max(0, Math.floor((expiresAtMs - now) / 1000)),
            refreshEnabled: this.refreshEnabled,
            refreshStyle: this.grant.style,
            lastRefreshAt: toIso(this.lastRefreshAtMs),
            lastRefreshError: this.policy.lastError,
            consecutiveFailures: this.policy.consecutiveFailures,
            refreshTokenRejected: this.policy.rejected,
            refreshCount: this.refreshCount,
            nextCheckAt: this.refreshEnabled ? toIso(this.nextCheckAtMs) : null,
            subject: current?.subject ?? null,
            issuer: current?.issuer ?? null
        };
    }
}
// The seed's "Access token expired, refreshing..." stays the message for expiry-driven refreshes.
const REFRESH_START_MESSAGE = {
    admin: 'Refreshing access token on request...',
    'upstream-401': 'Upstream refused the access token (401), refreshing...'
};
// Whole minutes as the seed printed them; one decimal below ten minutes, where it matters.
function formatMinutes(ms) {
    const minutes = ms / 60_000;
    return minutes >= 10 ? String(Math.round(minutes)) : minutes.toFixed(1);
}
function toIso(ms) {
    return ms === null ? null : new Date(ms).toISOString();
}
function asRefreshError(err) {
    if (err instanceof RefreshError)
        return err;
    return new RefreshError({ reason: 'internal', retryable: false, rejected: false }, 'unexpected error during refresh', { cause: err });
}
