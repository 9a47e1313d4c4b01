// Keeps credentials out of log lines: a token or secret field at the top of a log object or one
// level down, and the credential headers of a logged `headers` or `req.headers`. Used as pino's
// log and bindings formatters: one pass over each line's own keys, copying only what it censors.
// (pino's path redaction did the same job for these paths, but re-parsed every path for every key
// of every line, more CPU than the rest of the logging together: see docs/benchmarks.md.)
// rawPacket: Node's client errors (a malformed or oversized request) carry the raw request bytes,
// every header included, which Fastify logs with the error at trace level. subject_token and
// client_assertion: the form fields of a token exchange and of assertion client authentication.
export const REDACTED_FIELDS = ['accessToken', 'refreshToken', 'access_token', 'refresh_token', 'client_secret', 'subject_token', 'client_assertion', 'rawPacket'];
export const REDACTED_HEADERS = ['authorization', 'x-api-key', 'x-admin-key', 'cookie'];
export const CENSOR = '[redacted]';
const FIELDS = new Set(REDACTED_FIELDS);
/**
 * The log object with every credential replaced by CENSOR; the same object when it holds none.
 * Never changes what it is given: what is logged may still be in use elsewhere.
 */
export function redactLogObject(obj) {
    let copy = null;
    for (const key of Object.keys(obj)) {
        const value = obj[key];
        const clean = FIELDS.has(key) ? CENSOR : redactChild(key, value);
        if (clean !== value) {
            copy ??= { ...obj };
            copy[key] = clean;
        }
    }
    return (copy ?? obj);
}
// One level down (an error, a token answer someone logged) and the credential headers.
function redactChild(key, value) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
        return value;
    let clean = censorOwn(value, REDACTED_FIELDS);
    if (key === 'headers')
        clean = censorOwn(clean, REDACTED_HEADERS);
    // A logged request: Fastify's req serializer writes no headers, a plain object might.
    const headers = key === 'req' && Object.hasOwn(clean, 'headers') ? clean.headers : undefined;
    if (typeof headers === 'object' && headers !== null) {
        const cleanHeaders = censorOwn(headers, REDACTED_HEADERS);
        if (cleanHeaders !== headers)
            clean = withOwn(clean, 'headers', cleanHeaders);
    }
    return clean;
}
function censorOwn(value, names) {
    let clean = value;
    for (const name of names) {
        if (Object.hasOwn(value, name))
            clean = withOwn(clean, name, CENSOR);
    }
    return clean;
}
// A copy with one own property replaced, keeping the prototype and the other properties with
// their descriptors, so an Error stays an Error (message, stack) for pino's err serializer.
function withOwn(value, name, replacement) {
    const copy = Object.create(Object.getPrototypeOf(value), Object.getOwnPropertyDescriptors(value));
    const { enumerable } = Object.getOwnPropertyDescriptor(value, name);
    Object.defineProperty(copy, name, { value: replacement, enumerable, writable: true, configurable: true });
    return copy;
}
/**
 * Child loggers' bindings get the same censoring: pino runs its bindings formatter for the root
 * logger's own bindings only. Children are created from their parent's prototype chain, so every
 * descendant (Fastify's per-request loggers included) goes through this wrapper.
 */
export function censorChildBindings(logger) {
    const child = logger.child;
    logger.child = function (bindings, options) {
        return child.call(this, redactLogObject(bindings), options);
    };
}
