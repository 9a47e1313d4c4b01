// What every style's token answer must satisfy before its tokens are used: a JSON object, an
// access token that can travel in an Authorization header, and a refresh token that is either
// a string or absent.
import { RefreshError } from '../errors.js';
import { badResponse } from './httpExchange.js';
// Visible ASCII only: the token goes into an Authorization header as it is.
export const HEADER_SAFE_TOKEN = /^[\x21-\x7E]+$/;
// The token travels in a request header; servers refuse header lines beyond 8 KiB (nginx's
// default) or all headers beyond 16 KiB (Node's), and every request would then fail with 431.
export const DEFAULT_MAX_ACCESS_TOKEN_BYTES = 8192;
export function answerObject(json) {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
        throw badResponse('answer is not a JSON object');
    }
    return json;
}
/** The access token under `field`; never an empty or header-unsafe one. */
export function requiredAccessToken(answer, field) {
    const accessToken = answer[field];
    if (typeof accessToken !== 'string' || accessToken.trim() === '') {
        throw badResponse(`answer has no ${field} string`);
    }
    if (!HEADER_SAFE_TOKEN.test(accessToken)) {
        throw badResponse(`${field} has characters that cannot travel in a header`);
    }
    return accessToken;
}
/** An absent, null or empty refresh token means "not rotated"; any other non-string is a bad answer. */
export function optionalToken(value, field) {
    if (value === undefined || value === null || value === '')
        return null;
    if (typeof value !== 'string' || value.trim() === '')
        throw badResponse(`answer has a ${field} that is not a string`);
    return value;
}
/**
 * Runs the rest of an answer's checks; a refused answer still hands over the refresh token it
 * carried (the provider may have rotated it already, spending the one presented).
 */
export function keepingRefreshToken(refreshToken, check) {
    try {
        return check();
    }
    catch (err) {
        if (err instanceof RefreshError)
            err.carryingRefreshToken(refreshToken);
        throw err;
    }
}
/** Why a lifetime the answer gave (present, not null) means nothing; null when it is usable or absent. */
export function lifetimeProblem(fields, expiresAtMs) {
    if (expiresAtMs !== null)
        return undefined;
    const given = Object.entries(fields).filter(([, value]) => value !== undefined && value !== null).map(([name]) => name);
    return given.length === 0 ? undefined : `${given.join(' / ')} is not a usable lifetime`;
}
