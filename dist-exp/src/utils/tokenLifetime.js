// Clocks closer than this agree: HTTP dates have whole seconds, and an answer takes its time.
export const CLOCK_AGREEMENT_MS = 30_000;
/**
 * The lifetime of a token. The answer's expiry (`knownExpiresAtMs`) and the JWT's exp can
 * disagree; the earlier one is the safe one, with two exceptions for a machine whose clock is
 * ahead of the provider's (see below). `providerDateMs`, the provider's clock when it answered
 * a fresh token, tells whether the clocks differ at all.
 */
export function tokenLifetime(description, knownExpiresAtMs, origin, nowMs, bufferMs, providerDateMs) {
    const { expiresAtMs: jwtExpiresAtMs, issuedAtMs } = description;
    // A stored expiry that is the JWT's life counted from an arrival in the past was set below, by
    // this process or another replica whose clock is ahead of the provider's: it stands.
    const known = [jwtExpiresAtMs, knownExpiresAtMs].filter((ms) => ms !== null);
    const countedFromArrival = origin === 'record' && knownExpiresAtMs !== null && jwtExpiresAtMs !== null && issuedAtMs !== null &&
        knownExpiresAtMs > jwtExpiresAtMs && knownExpiresAtMs - (jwtExpiresAtMs - issuedAtMs) <= nowMs;
    const expiresAtMs = known.length === 0 ? null : countedFromArrival ? knownExpiresAtMs : Math.min(...known);
    if (expiresAtMs === null)
        return { expiresAtMs: null, refreshAtMs: Infinity, clockAheadMs: null };
    // Without an iat, a fresh token's life starts now (for the buffer's cap at half of it).
    const refreshAtMs = expiresAtMs - effectiveBufferMs(bufferMs, expiresAtMs, issuedAtMs ?? (origin === 'fresh' ? nowMs : null));
    // A token the identity provider has just issued cannot be due already, unless this machine's
    // clock is ahead of the provider's by more than the token's margin: its life is then counted
    // from its arrival (exp - iat), else every request would wait for a refresh of its own. When
    // the provider's Date header agrees with this clock, the token really is as old as it looks.
    const clocksAgree = providerDateMs !== undefined && Math.abs(nowMs - providerDateMs) <= CLOCK_AGREEMENT_MS;
    if (origin === 'fresh' && !clocksAgree && refreshAtMs <= nowMs && jwtExpiresAtMs !== null && issuedAtMs !== null && jwtExpiresAtMs > issuedAtMs) {
        const lifeMs = jwtExpiresAtMs - issuedAtMs;
        // An expires_in of the answer counts from now as well, and may be the shorter.
        const counted = knownExpiresAtMs !== null && knownExpiresAtMs > nowMs ? Math.min(nowMs + lifeMs, knownExpiresAtMs) : nowMs + lifeMs;
        return { expiresAtMs: counted, refreshAtMs: counted - effectiveBufferMs(bufferMs, counted, nowMs), clockAheadMs: nowMs - issuedAtMs };
    }
    return { expiresAtMs, refreshAtMs, clockAheadMs: null };
}
/**
 * The buffer before expiry in which a token counts as expiring. A token whose whole life is
 * shorter than twice the buffer would be "expiring" from birth and refreshed on every request;
 * such a token is refreshed at half its life instead.
 */
export function effectiveBufferMs(bufferMs, expiresAtMs, issuedAtMs) {
    if (issuedAtMs === null || issuedAtMs >= expiresAtMs)
        return bufferMs;
    return Math.min(bufferMs, (expiresAtMs - issuedAtMs) / 2);
}
/** `expired`: no usable token; `expiring`: usable but due for refresh; `ok`: neither. */
export function lifetimeStatus(lifetime, nowMs) {
    if (lifetime === null || (lifetime.expiresAtMs !== null && nowMs >= lifetime.expiresAtMs))
        return 'expired';
    return nowMs >= lifetime.refreshAtMs ? 'expiring' : 'ok';
}
