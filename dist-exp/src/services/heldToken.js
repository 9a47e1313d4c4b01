import { tokenLifetime } from '../utils/tokenLifetime.js';
import { describeToken } from '../utils/tokenUtils.js';
/**
 * The token with its lifetime. A JWT that cannot be decoded is held as opaque; a fresh token due
 * on arrival because this machine's clock runs ahead has its life counted from its arrival, and
 * the operator is told to fix the clock.
 */
export function holdToken(accessToken, knownExpiresAtMs, origin, options) {
    const { nowMs, log } = options;
    let description;
    try {
        description = describeToken(accessToken);
    }
    catch (err) {
        log.warn({ reason: err.message }, 'Access token looks like a JWT but cannot be decoded; treating it as opaque');
        description = { tokenType: 'opaque', expiresAtMs: null, issuedAtMs: null, subject: null, issuer: null };
    }
    const lifetime = tokenLifetime(description, knownExpiresAtMs, origin, nowMs, options.bufferMs, options.providerDateMs);
    if (lifetime.clockAheadMs !== null) {
        const lifeMs = description.expiresAtMs - description.issuedAtMs;
        log.warn({ clockAheadSeconds: Math.round(lifetime.clockAheadMs / 1000) }, `The new token expired or was due by this machine's clock when it arrived: the clocks of this machine and the identity provider differ. Counting its ${Math.round(lifeMs / 1000)} s life from its arrival; fix the clock (NTP)`);
    }
    return { ...description, accessToken, expiresAtMs: lifetime.expiresAtMs, refreshAtMs: lifetime.refreshAtMs, heldAtMs: nowMs, heldAtMonotonicMs: options.monotonicMs };
}
/**
 * The time to judge a held token by: the wall clock, but never earlier than its arrival plus the
 * time that has passed since on the monotonic clock. A wall clock stepped back cannot make an
 * expired token look valid again; one stepped forward makes it due early, which is safe.
 */
export function heldTokenTime(held, nowMs, monotonicMs) {
    return Math.max(nowMs, held.heldAtMs + (monotonicMs - held.heldAtMonotonicMs));
}
/**
 * Why an answer the grant accepted still cannot be used, or null. Such a token is never sent
 * upstream: a token already expired would cost one refresh per request, one of unknown expiry
 * (a lifetime that means nothing) would never be refreshed, a huge one fails every request.
 */
export function whyUnusable(tokens, held, nowMs, maxAccessTokenBytes) {
    const bytes = Buffer.byteLength(tokens.accessToken);
    if (bytes > maxAccessTokenBytes) {
        return `the access token is ${bytes} bytes, more than ACCESS_TOKEN_MAX_SIZE (${maxAccessTokenBytes}) allows in a header`;
    }
    if (held.expiresAtMs === null && tokens.lifetimeProblem !== undefined)
        return `${tokens.lifetimeProblem} and the token has no exp`;
    if (held.expiresAtMs !== null && held.expiresAtMs <= nowMs)
        return 'the access token has already expired';
    return null;
}
