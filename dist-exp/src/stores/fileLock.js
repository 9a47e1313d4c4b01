// The file store's exclusive lock, so that two gateways on one TOKEN_STORE_PATH cannot spend each
// other's rotated refresh token. Node has no flock: a lock file made with O_EXCL names its holder,
// and is taken over once that holder is gone.
import { randomBytes } from 'node:crypto';
import { constants, readlinkSync } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreLockedError } from '../errors.js';
import { systemClock } from '../utils/clock.js';
/** How often the holder touches its lock file, so that a gateway on another host can tell it lives. */
export const LOCK_HEARTBEAT_MS = 10_000;
/** A lock of another host untouched this long (three missed heartbeats) is abandoned; so is an unreadable one. */
export const LOCK_STALE_MS = 30_000;
// Another process is taking an abandoned lock over (a handful of file operations), or writing the
// lock file it has just made: look again after this.
const LOOK_AGAIN_MS = 10;
// A lock file is written moments after it is made: an unreadable new one is looked at this many
// times before it is refused without naming its holder.
const UNREADABLE_LOOKS = 5;
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
export class FileLock {
    path;
    heartbeatMs;
    staleMs;
    now;
    onLost;
    hostname = hostname();
    pidNamespace = currentPidNamespace();
    /** Open (read-only) while the lock is held: the heartbeat touches the file through it, never another process's file at the same path. */
    handle = null;
    nonce = '';
    heartbeat = null;
    constructor(path, options = {}) {
        this.path = path;
        this.heartbeatMs = options.heartbeatMs ?? LOCK_HEARTBEAT_MS;
        this.staleMs = options.staleMs ?? LOCK_STALE_MS;
        this.now = options.now ?? systemClock;
        this.onLost = options.onLost ?? noop;
    }
    get held() {
        return this.handle !== null;
    }
    /**
     * Takes the lock, or takes over one its holder abandoned. Throws StoreLockedError while a live
     * process holds it; file system errors (a read-only or full disk) as Node gives them.
     */
    async acquire() {
        if (this.handle !== null)
            return;
        const holder = {
            pid: process.pid,
            hostname: this.hostname,
            // Left out of the file where unknown: JSON has no undefined.
            pidNamespace: this.pidNamespace,
            startedAt: new Date(this.now()).toISOString(),
            nonce: randomBytes(8).toString('hex')
        };
        const text = `${JSON.stringify(holder)}\n`;
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        let handle = null;
        for (let look = 1; handle === null; look++) {
            if (look > 1)
                await sleep(LOOK_AGAIN_MS);
            handle = await this.create(text) ?? await this.takeOverIfAbandoned(holder, text, look);
        }
        this.hold(handle, holder.nonce);
    }
    /** Whether the lock file is still this process's; tells onLost when it was taken over or removed. */
    async verify() {
        if (this.handle === null)
            return false;
        const found = await this.read();
        if (found?.holder?.nonce === this.nonce)
            return true;
        // Two checks at once (a heartbeat and a save) tell it once.
        if (await this.drop())
            this.onLost(`the lock file ${this.path} was ${found === null ? 'removed' : 'taken over by another process'} while this gateway held it`);
        return false;
    }
    /** Removes the lock file while it is still this process's; one another process took over is left to it. */
    async release() {
        if (!(await this.drop()))
            return;
        // One that cannot be removed (a read-only disk) names a pid that is gone at the next start,
        // which takes it over.
        await this.removeIfOurs().catch(noop);
    }
    async removeIfOurs() {
        const guard = await this.guard();
        // A fresh guard: another process found this lock abandoned and is replacing it.
        if (guard === 0)
            return;
        try {
            if ((await this.read())?.holder?.nonce === this.nonce)
                await rm(this.path);
        }
        finally {
            await this.dropGuards(guard);
        }
    }
    hold(handle, nonce) {
        this.handle = handle;
        this.nonce = nonce;
        this.heartbeat = setInterval(() => { this.touch(handle); }, this.heartbeatMs);
        this.heartbeat.unref();
    }
    touch(handle) {
        const at = new Date(this.now());
        // A failed touch is tried again at the next beat; a lock taken over meanwhile shows in verify().
        handle.utimes(at, at).then(async () => { await this.verify(); }).catch(noop);
    }
    /** Stops holding: false when it was not held (released, or lost, already). */
    async drop() {
        const handle = this.handle;
        if (handle === null)
            return false;
        this.handle = null;
        clearInterval(this.heartbeat);
        await handle.close();
        return true;
    }
    /** The new lock file, whole, or null when one exists. */
    async create(text) {
        let handle;
        try {
            handle = await open(this.path, CREATE, 0o600);
        }
        catch (err) {
            if (err.code === 'EEXIST')
                return null;
            throw err;
        }
        return await written(handle, text, this.path);
    }
    /**
     * Replaces an abandoned lock by ours, under a guard so that of two processes that both found it
     * abandoned only one replaces it. Throws StoreLockedError when it is not abandoned; null: look again.
     */
    async takeOverIfAbandoned(holder, text, look) {
        const found = await this.read();
        // found null: released since create() found it; the check under the guard sends us back to create().
        if (found !== null && !this.isAbandoned(found)) {
            if (found.holder === null && look < UNREADABLE_LOOKS)
                return null;
            throw new StoreLockedError(this.path, this.describe(found));
        }
        const guard = await this.guard();
        if (guard === 0)
            return null;
        try {
            // Judged again under the guard: another process may have released it or taken it over since.
            const current = await this.read();
            /* c8 ignore next -- only when another process acts between the two reads: the race test drives it in child processes, whose coverage is not counted */
            if (current === null || !this.isAbandoned(current))
                return null;
            const temp = `${this.path}.${holder.nonce}.tmp`;
            const handle = await written(await open(temp, CREATE, 0o600), text, temp);
            try {
                await rename(temp, this.path);
            }
            catch (err) {
                await handle.close();
                await rm(temp, { force: true });
                throw err;
            }
            return handle;
        }
        finally {
            await this.dropGuards(guard);
        }
    }
    isAbandoned({ holder, mtimeMs }) {
        // On this host a pid is alive or not, whatever its heartbeat. Our own pid is an earlier life of
        // this process: a restarted container starts with the pid it had.
        if (holder !== null && this.sharesPids(holder))
            return holder.pid === process.pid || !isRunning(holder.pid);
        // Another host's pid cannot be checked from here (a volume shared between containers), nor
        // can an unreadable file's: only the time since the last heartbeat tells.
        return this.now() - mtimeMs > this.staleMs;
    }
    // Same host name and, where both are known, the same pid namespace: the holder's pid is one of ours.
    sharesPids(holder) {
        if (holder.hostname !== this.hostname)
            return false;
        return holder.pidNamespace === undefined || this.pidNamespace === undefined || holder.pidNamespace === this.pidNamespace;
    }
    describe({ holder, mtimeMs }) {
        if (holder === null) {
            return `unreadable lock, last changed ${Math.round((this.now() - mtimeMs) / 1000)} s ago: abandoned once ${this.staleMs / 1000} s old`;
        }
        return `pid ${holder.pid} on host ${holder.hostname}, since ${holder.startedAt}`;
    }
    async read() {
        let handle;
        try {
            handle = await open(this.path, constants.O_RDONLY);
        }
        catch (err) {
            if (err.code === 'ENOENT')
                return null;
            throw err;
        }
        try {
            // One descriptor: the time and the text are those of the same file.
            const { mtimeMs } = await handle.stat();
            return { holder: parseHolder(await handle.readFile('utf8')), mtimeMs };
        }
        finally {
            await handle.close();
        }
    }
    /**
     * Takes the take-over guard: the number n of `<lock>.takeover.<n>` created, or 0 while another
     * process holds a fresh one. A guard older than staleMs was left by a process that died taking
     * over; it is never removed on its own (two processes removing it at once could each create a
     * new one): the next number is taken, and the holder of guard n removes guards 1 to n when done.
     */
    async guard() {
        let n = 1;
        for (;;) {
            const path = `${this.path}.takeover.${n}`;
            try {
                await (await open(path, CREATE, 0o600)).close();
                return n;
            }
            catch (err) {
                if (err.code !== 'EEXIST')
                    throw err;
            }
            // Removed since (its take-over finished): counts as fresh, and the caller looks at the lock again.
            /* c8 ignore next -- only when another process acts between the two calls, as above */
            const age = await lstat(path).then((found) => this.now() - found.mtimeMs, () => 0);
            if (age <= this.staleMs)
                return 0;
            n++;
        }
    }
    async dropGuards(taken) {
        for (let n = 1; n <= taken; n++)
            await rm(`${this.path}.takeover.${n}`, { force: true });
    }
}
/** The holder a lock file names, or null when the text is not one (empty, torn, foreign). */
export function parseHolder(text) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return null;
    }
    // pid > 0: kill(0) and kill(-1) would signal process groups, not check one process.
    if (typeof value !== 'object' || value === null || !Number.isSafeInteger(value.pid) || value.pid <= 0)
        return null;
    if (typeof value.hostname !== 'string' || typeof value.startedAt !== 'string' || typeof value.nonce !== 'string')
        return null;
    if (value.pidNamespace !== undefined && typeof value.pidNamespace !== 'string')
        return null;
    return {
        pid: value.pid,
        hostname: value.hostname,
        ...(value.pidNamespace === undefined ? {} : { pidNamespace: value.pidNamespace }),
        startedAt: value.startedAt,
        nonce: value.nonce
    };
}
// The file, its text written and synced, open again read-only (a file held open for writing
// would stop its disk being remounted read-only), or the error after removing what was created.
async function written(handle, text, path) {
    try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
    }
    catch (err) {
        await handle.close();
        await rm(path, { force: true });
        throw err;
    }
    await handle.close();
    return await open(path, constants.O_RDONLY);
}
// `pid:[4026531836]` on Linux; undefined where there is no /proc.
function currentPidNamespace() {
    try {
        return readlinkSync('/proc/self/ns/pid');
        /* c8 ignore start -- Linux always has /proc/self/ns/pid; other systems fall back to the host name alone */
    }
    catch {
        return undefined;
    }
    /* c8 ignore stop */
}
function isRunning(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (err) {
        // EPERM: it runs, as another user.
        return err.code === 'EPERM';
    }
}
function noop() { }
