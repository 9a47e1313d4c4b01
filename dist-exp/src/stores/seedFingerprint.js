// Start-up precedence: a store remembers which environment tokens it was seeded from. The same
// environment as last time means the stored (possibly rotated) tokens are newer; a different one
// means an operator supplied new tokens on purpose.
import { createHash } from 'node:crypto';
export function seedFingerprint(authToken, refreshToken) {
    if (authToken === null && refreshToken === null)
        return null;
    return createHash('sha256').update(`${authToken ?? ''}\n${refreshToken ?? ''}`).digest('hex');
}
/** Which tokens the gateway starts with: the store's or the environment's. */
export function chooseStartupTokens(stored, authToken, refreshToken) {
    const fingerprint = seedFingerprint(authToken, refreshToken);
    const environmentGiven = fingerprint !== null;
    if (stored !== null && (!environmentGiven || stored.seedFingerprint === fingerprint)) {
        return {
            source: 'store',
            accessToken: stored.accessToken,
            refreshToken: stored.refreshToken,
            expiresAtMs: stored.expiresAtMs,
            version: stored.version,
            fingerprint: stored.seedFingerprint
        };
    }
    return {
        source: environmentGiven ? 'environment' : 'none',
        accessToken: authToken,
        refreshToken,
        expiresAtMs: null,
        version: stored?.version ?? 0,
        fingerprint
    };
}
