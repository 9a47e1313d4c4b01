// The gateway's own namespace under /admin/ is never proxied, however a client spells it. Fastify
// routes only the exact spelling to the admin routes; /ADMIN/token, //admin/token or
// /admin%2ftoken would reach the proxy, and an upstream that folds case, merges slashes or
// decodes %2F would read them as /admin/token.
const ADMIN_WORD = /admin/i;
/**
 * The path as a lenient server might read it: decoded once, '\' as '/', slashes merged, path
 * parameters dropped (Java servers read /admin;x/token as /admin/token), dot segments resolved,
 * lower case.
 */
export function normalisedPath(url) {
    const raw = url.split('?', 1)[0];
    let decoded;
    try {
        decoded = decodeURIComponent(raw);
    }
    catch {
        decoded = raw;
    }
    const segments = [];
    for (const part of decoded.replaceAll('\\', '/').split('/')) {
        const segment = part.split(';', 1)[0];
        if (segment === '' || segment === '.')
            continue;
        if (segment === '..')
            segments.pop();
        else
            segments.push(segment);
    }
    return `/${segments.join('/')}`.toLowerCase();
}
/** True for any spelling of /admin or a path under it. */
export function isAdminPath(url) {
    // The proxy asks for every request: one without "admin" in any case and without an escape
    // that could spell it cannot be one, and costs no normalising.
    if (!url.includes('%') && !ADMIN_WORD.test(url))
        return false;
    const path = normalisedPath(url);
    return path === '/admin' || path.startsWith('/admin/');
}
