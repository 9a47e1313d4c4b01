// The one file of the file store, shared by every credential: each credential's record is an
// entry of it (tokenFileFormat.ts). The file is replaced atomically (temp file in the same folder,
// fsync, rename, fsync of the folder), so a crash leaves the old file or the new one, never a torn
// one; 0600 in a 0700 folder created on demand. Writes are queued one at a time across
// credentials, each reading the file afresh, so two credentials saving at once never lose each
// other's entry. A gateway holds the file with an exclusive lock (fileLock.ts); readers such as
// token:inspect do not.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_CREDENTIAL } from '../config/gatewayDefinition.js';
import { StoreError, StoreLockedError } from '../errors.js';
import { FileLock } from './fileLock.js';
import { formatTokenFile, parseTokenFile, recordEntry } from './tokenFileFormat.js';
import { parseTokenRecord } from './tokenStore.js';
export class TokenFile {
    path;
    /** `<path>.lock`, taken by lock(). */
    lockFile;
    namespaced;
    onMovedAside;
    locking = false;
    writing = Promise.resolve();
    constructor(path, options = {}) {
        this.path = path;
        this.namespaced = options.namespaced ?? false;
        this.lockFile = new FileLock(`${path}.lock`, options.lock);
        this.onMovedAside = options.onMovedAside ?? noMoveReported;
    }
    /**
     * Takes the exclusive lock for as long as the file is open. From then on every save first
     * checks the lock is still this process's, and takes it when it could not be taken before (the
     * disk was full or read-only) or was lost; a save while another process holds it fails.
     * Throws StoreLockedError while another live gateway holds it, StoreError when the lock file
     * cannot be made.
     */
    async lock() {
        this.locking = true;
        try {
            await this.lockFile.acquire();
        }
        catch (err) {
            if (err instanceof StoreLockedError)
                throw err;
            throw new StoreError(`cannot lock the token file ${this.path} (${errorCode(err)})`);
        }
    }
    /**
     * The credential's record; null when there is no file or no entry for it. Throws StoreError when
     * the file is unreadable or not JSON (for every credential), or when the entry is not a record
     * (for this credential only).
     */
    async load(credential) {
        const content = await this.read();
        const entry = content?.entries.get(credential);
        if (entry === undefined)
            return null;
        const where = content.format === 'record' ? `the token file ${this.path}` : `the token file ${this.path} (credential "${credential}")`;
        return parseTokenRecord(JSON.parse(entry), where);
    }
    /**
     * Replaces the credential's entry, keeping every other entry as the file holds it. Saves are
     * queued: one write at a time, each complete before the next starts.
     */
    async save(credential, record) {
        // Serialised now: the record as it was when save() was called is what gets written.
        let entry;
        try {
            entry = recordEntry(record);
        }
        catch (err) {
            throw this.writeFailed(err);
        }
        return await this.queue(async () => {
            try {
                if (this.locking && !(await this.lockFile.verify()))
                    await this.lockFile.acquire();
                await this.replace(await this.withEntry(credential, entry));
            }
            catch (err) {
                if (err instanceof StoreLockedError) {
                    throw new StoreError(`cannot write the token file ${this.path}: another gateway holds its lock (${err.holder})`);
                }
                throw this.writeFailed(err);
            }
        });
    }
    /** Moves the whole file out of the way, keeping it for the operator; returns where it went. */
    async moveAside() {
        const aside = `${this.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        await rename(this.path, aside);
        return aside;
    }
    /**
     * Deals with the temp files writes interrupted by a crash or a kill left beside the token file.
     * Called at start-up once lock() succeeded, so no other process writes there. A temp file that
     * holds a whole entry newer than the token file's (or where the token file has no usable one)
     * got as far as its fsync but not its rename: tokens are saved before they are used, so the
     * identity provider may already have rotated the refresh token and that file holds the only one
     * it accepts. Each credential's newest entry goes into the token file, every other entry stays;
     * when that replaces something unusable (a file that is not JSON, an entry that is not a
     * record) the token file is moved aside first, kept for the operator. Every temp file is then
     * removed. Throws StoreError when that fails: the newer tokens are left where they are rather
     * than lost.
     */
    async recoverTempFiles() {
        const recovery = { adopted: null, movedAside: null, removed: [] };
        const folder = dirname(this.path);
        let names;
        try {
            names = await readdir(folder);
        }
        catch {
            return recovery;
        }
        const prefix = tempPrefix(this.path);
        const temps = names.filter((name) => name.startsWith(prefix) && TEMP_FILE.test(name.slice(prefix.length))).map((name) => join(folder, name));
        let stored;
        try {
            stored = await this.read();
        }
        catch {
            stored = 'unusable';
        }
        const entries = new Map(stored === 'unusable' || stored === null ? [] : stored.entries);
        // Each credential's newest record, and the temp file it came from (null: the token file).
        const newest = new Map();
        const damaged = new Set();
        for (const [credential, entry] of entries) {
            const version = entryVersion(entry);
            if (version === null)
                damaged.add(credential);
            else
                newest.set(credential, { entry, version, from: null });
        }
        for (const path of temps) {
            for (const [credential, entry] of (await readTempFile(path))?.entries ?? []) {
                const version = entryVersion(entry);
                if (version !== null && version > (newest.get(credential)?.version ?? -1))
                    newest.set(credential, { entry, version, from: path });
            }
        }
        const adopted = [...newest].filter(([, { from }]) => from !== null);
        recovery.adopted = temps.find((path) => adopted.some(([, { from }]) => from === path)) ?? null;
        const replacesUnusable = stored === 'unusable' || adopted.some(([credential]) => damaged.has(credential));
        for (const [credential, { entry }] of adopted)
            entries.set(credential, entry);
        const format = this.namespaced || (stored !== 'unusable' && stored?.format === 'credentials') || entries.size > 1 ? 'credentials' : 'record';
        try {
            if (recovery.adopted !== null) {
                if (replacesUnusable)
                    recovery.movedAside = await this.moveAside();
                await this.queue(async () => { await this.replace(formatTokenFile({ format, entries })); });
            }
            for (const path of temps) {
                await rm(path, { force: true });
                if (path !== recovery.adopted)
                    recovery.removed.push(path);
            }
        }
        catch (err) {
            throw new StoreError(`cannot recover the temp files beside the token file ${this.path} (${errorCode(err)})`);
        }
        return recovery;
    }
    /** Paths (folder, file) that exist and that users other than the owner may read or enter. */
    async exposedPaths() {
        const exposed = [];
        for (const path of [dirname(this.path), this.path]) {
            try {
                if (((await stat(path)).mode & 0o077) !== 0)
                    exposed.push(path);
            }
            catch { }
        }
        return exposed;
    }
    /** Resolves once the saves queued so far are done, whatever their outcome. */
    async flush() {
        await this.writing;
    }
    /** Waits for the saves in flight, then lets the lock go. */
    async close() {
        await this.writing;
        await this.lockFile.release();
    }
    /** Null when there is no file. Throws StoreError when it cannot be read or is not JSON. */
    async read() {
        let text;
        try {
            text = await readFile(this.path, 'utf8');
        }
        catch (err) {
            if (err.code === 'ENOENT')
                return null;
            throw new StoreError(`cannot read the token file ${this.path} (${err.code})`);
        }
        const content = parseTokenFile(text);
        if (content === null)
            throw new StoreError(`the token file ${this.path} is not valid JSON`);
        return content;
    }
    /**
     * The file's next text: the current one with the credential's entry replaced. A single record
     * is written alone only where it cannot cost another credential its entry.
     */
    async withEntry(credential, entry) {
        let text = null;
        try {
            text = await readFile(this.path, 'utf8');
        }
        catch (err) {
            // A single-record file is replaced whatever it was; another format's entries must be read first.
            if (err.code !== 'ENOENT' && this.namespaced)
                throw err;
        }
        let content = text === null ? null : parseTokenFile(text);
        if (text !== null && content === null && this.namespaced) {
            this.onMovedAside(await this.moveAside());
        }
        content ??= { format: 'record', entries: new Map() };
        const single = !this.namespaced && content.format === 'record' && credential === DEFAULT_CREDENTIAL;
        if (single)
            return formatTokenFile({ format: 'record', entries: new Map([[credential, entry]]) });
        content.entries.set(credential, entry);
        return formatTokenFile({ format: 'credentials', entries: content.entries });
    }
    async queue(write) {
        const queued = this.writing.then(write);
        this.writing = queued.catch(() => { });
        return await queued;
    }
    // One whole file or none: the errors as the file system gives them, the temp file removed.
    async replace(text) {
        const folder = dirname(this.path);
        const temp = join(folder, `${tempPrefix(this.path)}${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
        try {
            await mkdir(folder, { recursive: true, mode: 0o700 });
            const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
            try {
                await file.writeFile(text, 'utf8');
                await file.sync();
            }
            finally {
                await file.close();
            }
            await rename(temp, this.path);
            await sync(folder);
        }
        catch (err) {
            await rm(temp, { force: true }).catch(() => { });
            throw err;
        }
    }
    writeFailed(err) {
        return new StoreError(`cannot write the token file ${this.path} (${errorCode(err)})`);
    }
}
// replace()'s temp files are `<tempPrefix><pid>.<8 hex digits>.tmp`; recoverTempFiles()
// recognises the rest of the name with TEMP_FILE.
function tempPrefix(path) {
    return `.${basename(path)}.`;
}
const TEMP_FILE = /^\d+\.[0-9a-f]{8}\.tmp$/;
// A temp file's content, or null when it is torn.
async function readTempFile(path) {
    try {
        return parseTokenFile(await readFile(path, 'utf8'));
    }
    catch {
        return null;
    }
}
// The version of the record an entry holds, or null when it is not a record.
function entryVersion(entry) {
    try {
        return parseTokenRecord(JSON.parse(entry), 'an entry').version;
    }
    catch {
        return null;
    }
}
// An errno code where the system gave one (EACCES, ENOSPC, EROFS), else the reason.
function errorCode(err) {
    return err.code ?? err.message;
}
// A rename is durable only once the folder entry is on disk.
async function sync(path) {
    const handle = await open(path, constants.O_RDONLY);
    try {
        await handle.sync();
    }
    finally {
        await handle.close();
    }
}
function noMoveReported() { }
