// Client keys for the proxied routes (GATEWAY_API_KEYS). Both sides are hashed with SHA-256
// first, so timingSafeEqual always compares equal lengths and the time taken says nothing about
// a key's length or its first differing byte; every configured key is compared, match or not.
import { createHash, timingSafeEqual } from 'node:crypto';
function digest(value) {
    return createHash('sha256').update(value, 'utf8').digest();
}
export function createKeyMatcher(keys) {
    const digests = keys.map(digest);
    return (presented) => {
        // A header given twice arrives as one joined value or an array; neither is a key.
        if (typeof presented !== 'string')
            return false;
        const candidate = digest(presented);
        let matched = false;
        for (const known of digests)
            matched = timingSafeEqual(candidate, known) || matched;
        return matched;
    };
}
/** True for addresses only this machine can reach. */
export function isLoopbackHost(host) {
    return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
