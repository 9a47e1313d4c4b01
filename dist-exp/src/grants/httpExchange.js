// One bounded POST to the identity provider: a total time limit (headers and body, so a server
// that trickles bytes cannot hold a refresh open), a body size limit, and the body always
// consumed or destroyed. Failures become RefreshErrors whose messages never quote the answer.
import { context, propagation } from '@opentelemetry/api';
import { request } from 'undici';
import { RefreshError } from '../errors.js';
import { basicAuthorization } from './clientAuth.js';
export const DEFAULT_REFRESH_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;
const ANSWER_TOO_LARGE = Symbol('answer too large');
export async function postForJson(url, headers, body, limits = {}) {
    const timeoutMs = limits.timeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS;
    const maxAnswerBytes = limits.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    // One deadline for headers and body together; its timer is unref'd and needs no clearing.
    const signal = AbortSignal.timeout(timeoutMs);
    try {
        // The refresh's trace continues at the identity provider (W3C traceparent), when tracing is on.
        const traced = { accept: 'application/json', ...headers };
        propagation.inject(context.active(), traced);
        const response = await request(url, {
            method: 'POST',
            headers: traced,
            body,
            signal,
            dispatcher: limits.dispatcher
        });
        const text = await readLimited(response.body, maxAnswerBytes);
        return {
            status: response.statusCode,
            json: parseJson(text),
            retryAfterMs: parseRetryAfter(response.headers['retry-after']),
            dateMs: parseDate(response.headers.date)
        };
    }
    catch (err) {
        if (err === ANSWER_TOO_LARGE) {
            throw new RefreshError({ reason: 'bad_response', retryable: false, rejected: false }, `answer larger than ${maxAnswerBytes} bytes`);
        }
        if (signal.aborted) {
            throw new RefreshError({ reason: 'timeout', retryable: true, rejected: false }, `no complete answer within ${timeoutMs} ms`, { cause: err });
        }
        const code = err.code;
        throw new RefreshError({ reason: 'network', retryable: true, rejected: false }, `identity provider unreachable${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
    }
}
async function readLimited(body, maxBytes) {
    const chunks = [];
    let size = 0;
    for await (const chunk of body) {
        size += chunk.length;
        if (size > maxBytes) {
            body.destroy();
            throw ANSWER_TOO_LARGE;
        }
        chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
}
function parseJson(text) {
    try {
        return JSON.parse(text);
    }
    catch {
        return undefined;
    }
}
function parseDate(value) {
    const parsed = Date.parse(String(value));
    return Number.isNaN(parsed) ? undefined : parsed;
}
export function parseRetryAfter(value, now = Date.now()) {
    const raw = Array.isArray(value) ? value[0] : value;
    if (raw === undefined || raw.trim() === '')
        return undefined;
    if (/^\d+$/.test(raw.trim()))
        return Number(raw.trim()) * 1000;
    const date = Date.parse(raw);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
// OAuth error codes are short ASCII words (RFC 6749 §5.2); anything else is not echoed.
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/;
/**
 * A non-2xx answer as a RefreshError. 400/401 mean the grant itself was refused (for a refresh,
 * the refresh token is dead): not retried. Network-like statuses (5xx, 429) are retried.
 */
export function failureFromStatus(answer) {
    const { status } = answer;
    const oauthError = answer.json?.error;
    const code = typeof oauthError === 'string' && OAUTH_ERROR_CODE.test(oauthError) ? oauthError : undefined;
    if (status === 400 || status === 401) {
        return new RefreshError({ reason: code ?? `http_${status}`, retryable: false, rejected: true }, `identity provider refused the grant (HTTP ${status})`);
    }
    const retryable = status >= 500 || status === 429;
    return new RefreshError({ reason: `http_${status}`, retryable, rejected: false, retryAfterMs: answer.retryAfterMs }, `identity provider answered HTTP ${status}${code ? ` (${code})` : ''}`);
}
export function badResponse(detail) {
    return new RefreshError({ reason: 'bad_response', retryable: false, rejected: false }, detail);
}
/** Epoch ms from a lifetime in seconds (number or numeric string); null for anything else. */
export function expiryFromLifetime(value, nowMs) {
    const seconds = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0)
        return null;
    return validEpochMs(nowMs + seconds * 1000);
}
/** Epoch ms from an absolute expiry: ISO 8601 text, or epoch seconds (number or numeric string). */
export function expiryFromInstant(value) {
    if (typeof value === 'number')
        return validEpochMs(value * 1000);
    if (typeof value !== 'string' || value.trim() === '')
        return null;
    if (/^\d+(\.\d+)?$/.test(value.trim()))
        return validEpochMs(Number(value) * 1000);
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
}
const MAX_DATE_MS = 8.64e15;
function validEpochMs(ms) {
    return Number.isFinite(ms) && ms > 0 && ms <= MAX_DATE_MS ? ms : null;
}
/** One form-encoded POST to an OAuth 2.0 token endpoint (RFC 6749 §3.2), the client authenticated. */
export async function postTokenRequest(url, params, client, limits = {}) {
    const form = new URLSearchParams(params);
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (client.authenticate !== undefined)
        await client.authenticate(form, headers);
    else if (client.clientSecret === null)
        form.set('client_id', client.clientId);
    else
        headers.authorization = basicAuthorization({ clientId: client.clientId, clientSecret: client.clientSecret });
    return postForJson(url, headers, form.toString(), client.dispatcher === undefined ? limits : { ...limits, dispatcher: client.dispatcher() });
}
// Codes a token endpoint uses for its own trouble; RFC 6749 §4.1.2.1 defines them, and servers
// answer them at the token endpoint too. Worth another attempt, like a 5xx.
const RETRYABLE_OAUTH_ERRORS = new Set(['server_error', 'temporarily_unavailable']);
/**
 * A non-2xx answer of an OAuth 2.0 token endpoint (RFC 6749 §5.2) as a RefreshError.
 * `invalid_grant` to a refresh means the refresh token is dead: final. To a token exchange it means
 * the subject token was refused (expired, or not yet trusted): the platform rewrites that file, so
 * it is backed off and tried again like the codes below. 5xx, 429, server_error and
 * temporarily_unavailable are retried within the refresh. Any other code (invalid_client,
 * invalid_scope, …) is a configuration problem the next refresh may not have: not retried at
 * once, but not final either, so the service's growing backoff tries again later.
 */
export function oauthFailure(answer, grantType) {
    const { status } = answer;
    const oauthError = answer.json?.error;
    const code = typeof oauthError === 'string' && OAUTH_ERROR_CODE.test(oauthError) ? oauthError : undefined;
    const named = code ? ` (${code})` : '';
    if (code === 'invalid_grant' && grantType === 'refresh_token') {
        return new RefreshError({ reason: code, retryable: false, rejected: true }, `identity provider refused the refresh token (HTTP ${status})`);
    }
    if (code === 'invalid_grant' && grantType === 'token_exchange') {
        return new RefreshError({ reason: code, retryable: false, rejected: false, retryAfterMs: answer.retryAfterMs }, `identity provider refused the subject token (HTTP ${status}): tried again after a backoff, with the file's token as it is then`);
    }
    const retryable = status >= 500 || status === 429 || (code !== undefined && RETRYABLE_OAUTH_ERRORS.has(code));
    return new RefreshError({ reason: code ?? `http_${status}`, retryable, rejected: false, retryAfterMs: answer.retryAfterMs }, `identity provider answered HTTP ${status}${named}`);
}
