// The scope a client asks for, as RFC 6749 §3.3 spells it: shared by OAUTH_SCOPE and the
// configuration file's `scope`, so both accept and refuse the same text.
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
export const SCOPE_PROBLEM = 'must be scope tokens separated by spaces (RFC 6749 §3.3: no quotes or backslashes)';
/** The scope as sent (tokens joined by one space; null when blank), or undefined when malformed. */
export function normaliseScope(text) {
    const tokens = text.trim() === '' ? [] : text.trim().split(/\s+/);
    if (!tokens.every((token) => SCOPE_TOKEN.test(token)))
        return undefined;
    return tokens.length > 0 ? tokens.join(' ') : null;
}
