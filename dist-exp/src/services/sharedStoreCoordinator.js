// The protocol by which gateway processes sharing a store (Redis) refresh a credential exactly
// once per rotation: the lock holder refreshes after taking any newer record; the others wait for
// the record it writes; stored versions are announced and taken at once; after the store comes
// back from an outage, the newer of its record and this process's tokens wins. What the store is
// made of stays in the store (SharedTokenStore); what a refresh is stays in the engine.
import { StoreError, redactedError, safeMessage } from '../errors.js';
/** How long a lock holder whose new tokens the store failed to take keeps the lock, writing them. */
export const WRITE_BACK_MS = 10_000;
export const WRITE_BACK_RETRY_MS = 250;
export class SharedStoreCoordinator {
    store;
    holder;
    options;
    unsubscribe = null;
    constructor(store, holder, options) {
        this.store = store;
        this.holder = holder;
        this.options = options;
    }
    /**
     * One refresh across every process: with the lock, `refresh` runs on the latest record (null
     * when the store holds none) and the lock is released after it; without, the holder's record
     * is awaited instead. Store failures reject with StoreError.
     */
    async exclusive(refresh) {
        const lock = await this.store.acquireRefreshLock();
        if (lock === null) {
            this.options.logger.info('Another replica is refreshing the token; waiting for its result');
            const newer = await this.store.waitForNewerRecord(this.holder.version, this.options.waitMs);
            return { waited: true, newer };
        }
        try {
            return await refresh(await this.store.load());
        }
        finally {
            await this.writeBackUnsaved();
            await lock.release().catch(() => { });
        }
    }
    /**
     * New tokens the store failed to take (Redis lost between the lock and the save) exist in this
     * process alone, and the identity provider has spent the refresh token the store still holds:
     * released now, the lock would let another process present it, and a provider with reuse
     * detection revoke the family. So the lock is kept, and renewed, while they are written again.
     * Bounded: once the lock's lease has lapsed nothing is gained, and the resync after a reconnect
     * writes them back too.
     */
    async writeBackUnsaved() {
        let unsaved = this.holder.unsavedRecord();
        if (unsaved === null)
            return;
        const deadline = this.options.now() + WRITE_BACK_MS;
        while (unsaved !== null) {
            if (this.options.now() >= deadline) {
                this.options.logger.error({ version: unsaved.version }, `Could not write the new tokens to the token store within ${WRITE_BACK_MS / 1000} s; releasing the refresh lock (another replica may present the refresh token they replace)`);
                return;
            }
            await this.options.sleep(WRITE_BACK_RETRY_MS);
            try {
                await this.store.save(unsaved);
                this.holder.savedBack();
                this.options.logger.info({ version: unsaved.version }, 'Wrote the new tokens to the token store, which had failed to take them; releasing the refresh lock');
            }
            catch { }
            unsaved = this.holder.unsavedRecord();
        }
    }
    /** Like exclusive(), but waits its turn for the lock (an operator's replacement must not be lost). */
    async whenLocked(run) {
        const lock = await this.acquirePatiently();
        try {
            return await run(await this.store.load());
        }
        finally {
            await lock.release().catch(() => { });
        }
    }
    /** The store's record, taken when newer. Rejects with StoreError. */
    async pull() {
        const latest = await this.store.load();
        this.holder.reportStoreError(null);
        if (latest !== null)
            this.holder.adoptRecord(latest);
    }
    /**
     * Follows the store: announced versions are taken at once; a lost connection is reported;
     * after a reconnect the newer of the store's record and the held tokens wins (a Redis that
     * restarted empty gets them written back).
     */
    async watch() {
        this.unsubscribe = await this.store.subscribe({
            // This process's own saves are announced too: only a newer version is worth a read.
            onAnnounced: (version) => { if (version > this.holder.version)
                this.pullQuietly(); },
            onDisconnected: () => { this.holder.reportStoreError('Redis unavailable (connection lost)'); },
            onReconnected: () => {
                this.resync().catch((err) => { this.holder.reportStoreError(safeMessage(err)); });
            }
        });
    }
    async close() {
        const unsubscribe = this.unsubscribe;
        this.unsubscribe = null;
        if (unsubscribe !== null)
            await unsubscribe().catch(() => { });
    }
    /** Pulls, reporting a failure in health instead of rejecting (announcements, periodic checks). */
    async pullQuietly() {
        try {
            await this.pull();
        }
        catch (err) {
            this.holder.reportStoreError(safeMessage(err));
            this.options.logger.warn({ err: redactedError(err) }, 'Token store unreachable; serving the cached token while it is valid');
        }
    }
    async resync() {
        const lock = await this.store.acquireRefreshLock();
        // Someone else is refreshing or resyncing: its record will be announced.
        if (lock === null)
            return this.pullQuietly();
        try {
            const latest = await this.store.load();
            const held = this.holder.currentRecord();
            if (held !== null && (latest === null || latest.version < held.version)) {
                await this.store.save(held);
                this.options.logger.info({ version: held.version }, 'Redis is back; wrote the cached tokens back to it');
            }
            else if (latest !== null) {
                this.holder.adoptRecord(latest);
            }
            this.holder.reportStoreError(null);
        }
        finally {
            await lock.release().catch(() => { });
        }
    }
    async acquirePatiently() {
        const deadline = this.options.now() + this.options.waitMs;
        for (;;) {
            const lock = await this.store.acquireRefreshLock();
            if (lock !== null)
                return lock;
            if (this.options.now() >= deadline)
                throw new StoreError('the refresh lock stayed taken');
            await this.options.sleep(50);
        }
    }
}
