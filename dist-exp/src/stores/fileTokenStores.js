// The file store for every credential: one token file (TOKEN_STORE_PATH), one lock, one write
// queue; each credential's store is a view of its entry.
import { FileTokenStore } from './fileTokenStore.js';
import { TokenFile } from './tokenFile.js';
import { CredentialTokenStores } from './tokenStores.js';
export class FileTokenStores extends CredentialTokenStores {
    kind = 'file';
    /** The shared file: the plugin locks it and recovers its temp files before any credential loads. */
    file;
    /** `options.namespaced` chooses the file's format as well (see TokenFileOptions). */
    constructor(path, options = {}) {
        super(options);
        this.file = new TokenFile(path, options);
    }
    /** Waits for the saves in flight, then lets the lock go. */
    async close() {
        await this.file.close();
    }
    open(name) {
        return new FileTokenStore(this.file, { credential: name });
    }
}
