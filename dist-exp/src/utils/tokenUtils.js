// JWT helpers with the seed's names. Decoding reads claims only and never verifies a signature:
// the gateway forwards the token, the upstream is the one that trusts or refuses it.
import { TokenDecodeError } from '../errors.js';
import { systemClock } from './clock.js';
export const DEFAULT_EXPIRY_BUFFER_MS = 5 * 60_000;
// Three base64url segments; the signature may be empty (alg "none").
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
export function isJwt(token) {
    return JWT_SHAPE.test(token);
}
/**
 * Claims of a JWT. Throws TokenDecodeError when the token has the shape of a JWT but its
 * header or payload is not a JSON object, or its time claims are not numbers.
 * Returns null for a token that is not a JWT at all (opaque).
 */
export function decodeJwt(token) {
    if (!isJwt(token))
        return null;
    const [header, payload] = token.split('.');
    decodeSegment(header, 'header');
    const claims = decodeSegment(payload, 'payload');
    for (const claim of ['exp', 'iat', 'nbf']) {
        const value = claims[claim];
        if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
            throw new TokenDecodeError(`claim "${claim}" is not a number`);
        }
    }
    return claims;
}
function decodeSegment(segment, name) {
    let parsed;
    try {
        parsed = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    }
    catch {
        throw new TokenDecodeError(`${name} is not base64url-encoded JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new TokenDecodeError(`${name} is not a JSON object`);
    }
    return parsed;
}
/** Milliseconds until the token's `exp` (negative once past); null when the expiry is unknown. */
export function getTokenExpiryTime(token, now = systemClock) {
    const expiresAtMs = describeToken(token).expiresAtMs;
    return expiresAtMs === null ? null : expiresAtMs - now();
}
/**
 * True when the token expires within the buffer (5 minutes by default) or already has.
 * A token of unknown expiry counts as valid: only the upstream's 401 can tell otherwise.
 */
export function isTokenExpired(token, bufferMs = DEFAULT_EXPIRY_BUFFER_MS, now = systemClock) {
    const remaining = getTokenExpiryTime(token, now);
    return remaining !== null && remaining <= bufferMs;
}
/** Who the token speaks for; null for an opaque token. */
export function getUserFromToken(token) {
    const claims = decodeJwt(token);
    if (claims === null)
        return null;
    return {
        userId: stringClaim(claims, 'sub', 'user_id', 'uid'),
        email: stringClaim(claims, 'email'),
        issuer: stringClaim(claims, 'iss'),
        organization: stringClaim(claims, 'org_id', 'organization_id', 'organization', 'org'),
        issuedAt: dateClaim(claims.iat),
        expiresAt: dateClaim(claims.exp)
    };
}
export function describeToken(token) {
    const claims = decodeJwt(token);
    if (claims === null)
        return { tokenType: 'opaque', expiresAtMs: null, issuedAtMs: null, subject: null, issuer: null };
    return {
        tokenType: 'jwt',
        expiresAtMs: dateClaim(claims.exp)?.getTime() ?? null,
        issuedAtMs: dateClaim(claims.iat)?.getTime() ?? null,
        subject: stringClaim(claims, 'sub'),
        issuer: stringClaim(claims, 'iss')
    };
}
function stringClaim(claims, ...names) {
    for (const name of names) {
        const value = claims[name];
        if (typeof value === 'string' && value !== '')
            return value;
    }
    return null;
}
function dateClaim(value) {
    if (typeof value !== 'number')
        return null;
    const date = new Date(value * 1000);
    // A claim beyond the range of Date (±8.64e15 ms) says nothing usable.
    return Number.isNaN(date.getTime()) ? null : date;
}
