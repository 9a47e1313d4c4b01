// The file store for every credential: one token file (TOKEN_STORE_PATH), one lock, one write
// queue; each credential's store is a view of its entry.
import { FileTokenStore } from './fileTokenStore.js'
import { TokenFile, type TokenFileOptions } from './tokenFile.js'
import { CredentialTokenStores } from './tokenStores.js'

export class FileTokenStores extends CredentialTokenStores<FileTokenStore> {
  readonly kind = 'file'
  /** The shared file: the plugin locks it and recovers its temp files before any credential loads. */
  readonly file: TokenFile

  /** `options.namespaced` chooses the file's format as well (see TokenFileOptions). */
  constructor (path: string, options: TokenFileOptions = {}) {
    super(options)
    this.file = new TokenFile(path, options)
  }

  /** Waits for the saves in flight, then lets the lock go. */
  async close (): Promise<void> {
    await this.file.close()
  }

  protected open (name: string): FileTokenStore {
    return new FileTokenStore(this.file, { credential: name })
  }
}
