// The report of the seed's test-token-refresh.js: who the token speaks for, when it was issued
// and expires, whether it is VALID, EXPIRING or EXPIRED, and whether refresh is configured.
import { lifetimeStatus, tokenLifetime } from '../utils/tokenLifetime.js';
import { DEFAULT_EXPIRY_BUFFER_MS, describeToken, getUserFromToken } from '../utils/tokenUtils.js';
export function inspectToken(input) {
    const bufferMs = input.bufferMs ?? DEFAULT_EXPIRY_BUFFER_MS;
    const lines = ['Token Inspection', ''];
    const refreshLines = [
        'Token Refresh:',
        '==============',
        input.refreshConfigured
            ? `Refresh: configured (${input.refreshStyle} style, ${input.refreshUrl})`
            : 'Refresh: NOT configured (no REFRESH_TOKEN; with client_credentials or token_exchange, no OAUTH_CLIENT_ID): the token cannot be renewed automatically'
    ];
    if (input.token === null) {
        lines.push('No token found: set AUTH_TOKEN (or start the gateway once so the token store holds tokens).', '', ...refreshLines);
        return { status: 'NO_TOKEN', report: lines.join('\n'), exitCode: 1 };
    }
    let user;
    try {
        user = getUserFromToken(input.token);
    }
    catch (err) {
        lines.push(`Token source: ${input.source}`, `The token looks like a JWT but cannot be decoded: ${err.message}`, '', ...refreshLines);
        return { status: 'MALFORMED', report: lines.join('\n'), exitCode: 1 };
    }
    lines.push('Token Information:', '==================', `Token source: ${input.source}`);
    // The same arithmetic as the gateway's health: the stored expiry, and the buffer capped at half
    // the token's life, so both say EXPIRING / expiring at the same moment.
    const lifetime = tokenLifetime(user === null ? { expiresAtMs: null, issuedAtMs: null } : describeToken(input.token), input.expiresAtMs ?? null, input.origin ?? 'given', input.nowMs, bufferMs);
    const expiresAtMs = lifetime.expiresAtMs;
    if (user === null && expiresAtMs === null) {
        lines.push('Token type: opaque (not a JWT): no claims to show, expiry unknown', '', 'Token Status:', '=============', 'Token is VALID (expiry unknown: valid until the upstream answers 401)', '', ...refreshLines);
        return { status: 'VALID', report: lines.join('\n'), exitCode: 0 };
    }
    if (user === null) {
        lines.push('Token type: opaque (not a JWT): no claims to show', '', 'Token Timestamps:', '=================', `Expires At: ${new Date(expiresAtMs).toISOString()} (recorded by the token store)`, `Current Time: ${new Date(input.nowMs).toISOString()}`, '', 'Token Status:', '=============');
        return finish(lines, refreshLines, lifetime, input.nowMs, bufferMs);
    }
    lines.push(`User ID: ${user.userId ?? '(none)'}`, `Email: ${user.email ?? '(none)'}`, `Issuer: ${user.issuer ?? '(none)'}`, `Organization: ${user.organization ?? '(none)'}`, '', 'Token Timestamps:', '=================', `Issued At: ${user.issuedAt?.toISOString() ?? '(unknown)'}`, `Expires At: ${expiresAtMs === null ? '(no exp claim)' : new Date(expiresAtMs).toISOString()}`, `Current Time: ${new Date(input.nowMs).toISOString()}`, '', 'Token Status:', '=============');
    return finish(lines, refreshLines, lifetime, input.nowMs, bufferMs);
}
function finish(lines, refreshLines, lifetime, nowMs, bufferMs) {
    const { expiresAtMs } = lifetime;
    const status = { ok: 'VALID', expiring: 'EXPIRING', expired: 'EXPIRED' }[lifetimeStatus(lifetime, nowMs)];
    const buffer = expiresAtMs !== null && expiresAtMs - lifetime.refreshAtMs < bufferMs
        ? `the refresh window: half of a token shorter than twice the ${bufferMs / 60_000}-minute expiry buffer`
        : `the ${bufferMs / 60_000}-minute expiry buffer`;
    const statusLine = {
        VALID: 'Token is VALID',
        EXPIRING: `Token is EXPIRING (inside ${buffer}: the gateway refreshes it now)`,
        EXPIRED: 'Token is EXPIRED'
    }[status];
    lines.push(statusLine);
    if (expiresAtMs === null)
        lines.push('Time until expiry: unknown (no exp claim)');
    else if (status === 'EXPIRED')
        lines.push(`Expired: ${formatDuration(nowMs - expiresAtMs)} ago`);
    else
        lines.push(`Time until expiry: ${formatDuration(expiresAtMs - nowMs)}`);
    lines.push('', ...refreshLines);
    return { status, report: lines.join('\n'), exitCode: status === 'EXPIRED' ? 1 : 0 };
}
export function formatDuration(ms) {
    const totalSeconds = Math.floor(ms / 1000);
    const days = Math.floor(totalSeconds / 86_400);
    const hours = Math.floor((totalSeconds % 86_400) / 3600);
    const minutes = Math.floor((totalSeconds % 3600) / 60);
    const seconds = totalSeconds % 60;
    return `${days} days, ${hours} hours, ${minutes} minutes, ${seconds} seconds`;
}
