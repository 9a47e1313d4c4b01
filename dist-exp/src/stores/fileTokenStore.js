// The file store of one credential: its entry of the token file (tokenFile.ts). Made from a path,
// it is the whole store of a gateway with one credential, as token:inspect reads it; made from a
// TokenFile, it is one of the views FileTokenStores hands out, all sharing that file's lock and
// write queue.
import { DEFAULT_CREDENTIAL } from '../config/gatewayDefinition.js';
import { TokenFile } from './tokenFile.js';
export class FileTokenStore {
    kind = 'file';
    file;
    credential;
    // A store made from a path owns its file: closing it lets the lock go.
    ownsFile;
    /** A path: a file of its own, made with `options`; a TokenFile: a view of that shared file. */
    constructor(file, options = {}) {
        this.ownsFile = typeof file === 'string';
        this.file = typeof file === 'string' ? new TokenFile(file, options) : file;
        this.credential = options.credential ?? DEFAULT_CREDENTIAL;
    }
    get path() {
        return this.file.path;
    }
    /** `<path>.lock`, shared by every credential of the file. */
    get lockFile() {
        return this.file.lockFile;
    }
    /** Null when there is no file or no entry for this credential. Throws StoreError when the file, or this credential's entry, cannot be used. */
    async load() {
        return await this.file.load(this.credential);
    }
    /** Replaces this credential's entry; the file's other entries stay as they are. */
    async save(record) {
        await this.file.save(this.credential, record);
    }
    // The file-wide operations, so that a gateway with one credential reaches them through its store.
    async lock() {
        await this.file.lock();
    }
    /** Moves the whole file (every credential's entry) out of the way; returns where it went. */
    async moveAside() {
        return await this.file.moveAside();
    }
    async recoverTempFiles() {
        return await this.file.recoverTempFiles();
    }
    async exposedPaths() {
        return await this.file.exposedPaths();
    }
    /** Waits for the saves in flight; a store that owns its file then lets the lock go. */
    async close() {
        if (this.ownsFile)
            await this.file.close();
        else
            await this.file.flush();
    }
}
