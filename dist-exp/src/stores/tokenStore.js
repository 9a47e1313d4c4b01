// Where tokens live between refreshes and restarts. A store only keeps records; deciding which
// tokens win and when to refresh is the refresh service's job.
import { StoreError } from '../errors.js';
export function isSharedTokenStore(store) {
    return typeof store.acquireRefreshLock === 'function';
}
/** A record read back from storage, checked field by field; throws StoreError when it is not one. */
export function parseTokenRecord(value, where) {
    const record = value;
    const valid = record !== null && typeof record === 'object' &&
        typeof record.accessToken === 'string' && record.accessToken !== '' &&
        (record.refreshToken === null || (typeof record.refreshToken === 'string' && record.refreshToken !== '')) &&
        (record.expiresAtMs === null || (typeof record.expiresAtMs === 'number' && Number.isFinite(record.expiresAtMs))) &&
        typeof record.version === 'number' && Number.isSafeInteger(record.version) && record.version >= 0 &&
        (record.seedFingerprint === null || typeof record.seedFingerprint === 'string') &&
        typeof record.updatedAt === 'string';
    if (!valid)
        throw new StoreError(`${where} does not hold a token record`);
    return {
        accessToken: record.accessToken,
        refreshToken: record.refreshToken,
        expiresAtMs: record.expiresAtMs,
        version: record.version,
        seedFingerprint: record.seedFingerprint,
        updatedAt: record.updatedAt
    };
}
