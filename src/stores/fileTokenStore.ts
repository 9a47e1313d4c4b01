// The default store: one JSON file, replaced atomically (temp file in the same folder, fsync,
// rename, fsync of the folder), so a crash leaves the old record or the new one, never a torn
// file. The file is 0600 in a 0700 folder; the folder is created on demand. A gateway holds it
// with an exclusive lock (fileLock.ts); readers such as token:inspect do not.
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { StoreError, StoreLockedError } from '../errors.js'
import { FileLock, type FileLockOptions } from './fileLock.js'
import { parseTokenRecord, type TokenRecord, type TokenStore } from './tokenStore.js'

export interface FileTokenStoreOptions {
  lock?: FileLockOptions
}

/** What recoverTempFiles() found beside the token file, as paths. */
export interface TempFileRecovery {
  /** The temp file that became the token file, or null. */
  adopted: string | null
  /** Where an unusable token file went before a temp file replaced it, or null. */
  movedAside: string | null
  removed: string[]
}

export class FileTokenStore implements TokenStore {
  readonly kind = 'file'
  readonly path: string
  /** `<path>.lock`, taken by lock(). */
  readonly lockFile: FileLock
  private locking = false
  private writing: Promise<void> = Promise.resolve()

  constructor (path: string, options: FileTokenStoreOptions = {}) {
    this.path = path
    this.lockFile = new FileLock(`${path}.lock`, options.lock)
  }

  /**
   * Takes the exclusive lock for as long as the store is open. From then on every save first
   * checks the lock is still this process's, and takes it when it could not be taken before (the
   * disk was full or read-only) or was lost; a save while another process holds it fails.
   * Throws StoreLockedError while another live gateway holds it, StoreError when the lock file
   * cannot be made.
   */
  async lock (): Promise<void> {
    this.locking = true
    try {
      await this.lockFile.acquire()
    } catch (err) {
      if (err instanceof StoreLockedError) throw err
      throw new StoreError(`cannot lock the token file ${this.path} (${errorCode(err)})`)
    }
  }

  /** Null when there is no file yet. Throws StoreError when the file exists but is unreadable or not a record. */
  async load (): Promise<TokenRecord | null> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new StoreError(`cannot read the token file ${this.path} (${(err as NodeJS.ErrnoException).code})`)
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new StoreError(`the token file ${this.path} is not valid JSON`)
    }
    return parseTokenRecord(parsed, `the token file ${this.path}`)
  }

  /** Saves are queued: one write at a time, each complete before the next starts. */
  async save (record: TokenRecord): Promise<void> {
    // Serialised now: the record as it was when save() was called is what gets written.
    let text: string
    try {
      text = `${JSON.stringify(record, null, 2)}\n`
    } catch (err) {
      throw this.writeFailed(err)
    }
    const write = this.writing.then(() => this.write(text))
    this.writing = write.catch(() => {})
    return write
  }

  private async write (text: string): Promise<void> {
    const folder = dirname(this.path)
    const temp = join(folder, `${tempPrefix(this.path)}${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      if (this.locking && !(await this.lockFile.verify())) await this.lockFile.acquire()
      await mkdir(folder, { recursive: true, mode: 0o700 })
      const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      try {
        await file.writeFile(text, 'utf8')
        await file.sync()
      } finally {
        await file.close()
      }
      await rename(temp, this.path)
      await sync(folder)
    } catch (err) {
      await rm(temp, { force: true }).catch(() => {})
      if (err instanceof StoreLockedError) {
        throw new StoreError(`cannot write the token file ${this.path}: another gateway holds its lock (${err.holder})`)
      }
      throw this.writeFailed(err)
    }
  }

  private writeFailed (err: unknown): StoreError {
    return new StoreError(`cannot write the token file ${this.path} (${errorCode(err)})`)
  }

  /** Moves an unreadable file out of the way, keeping it for the operator; returns where it went. */
  async moveAside (): Promise<string> {
    const aside = `${this.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`
    await rename(this.path, aside)
    return aside
  }

  /**
   * Deals with the temp files writes interrupted by a crash or a kill left beside the token file.
   * Called at start-up once lock() succeeded, so no other process writes there. A temp file that
   * holds a whole record newer than the token file (or with no usable token file) got as far as
   * its fsync but not its rename: tokens are saved before they are used, so the identity provider
   * may already have rotated the refresh token and that file holds the only one it accepts. The
   * newest such file becomes the token file (an unusable token file is moved aside first, kept
   * for the operator); every other temp file is removed. Throws StoreError when that fails: the
   * newer tokens are left where they are rather than lost.
   */
  async recoverTempFiles (): Promise<TempFileRecovery> {
    const folder = dirname(this.path)
    let names: string[]
    try {
      names = await readdir(folder)
    } catch {
      return { adopted: null, movedAside: null, removed: [] }
    }
    const prefix = tempPrefix(this.path)
    const temps = names.filter((name) => name.startsWith(prefix) && TEMP_FILE.test(name.slice(prefix.length))).map((name) => join(folder, name))
    let newest: { path: string, version: number } | null = null
    for (const path of temps) {
      const version = await recordVersion(path)
      if (version !== null && (newest === null || version > newest.version)) newest = { path, version }
    }
    let stored: number | 'unusable'
    try {
      stored = (await this.load())?.version ?? -1
    } catch {
      stored = 'unusable'
    }
    const recovery: TempFileRecovery = { adopted: null, movedAside: null, removed: [] }
    try {
      if (newest !== null && (stored === 'unusable' || newest.version > stored)) {
        if (stored === 'unusable') recovery.movedAside = await this.moveAside()
        await sync(newest.path)
        await rename(newest.path, this.path)
        await sync(folder)
        recovery.adopted = newest.path
      }
      for (const path of temps) {
        if (path === recovery.adopted) continue
        await rm(path, { force: true })
        recovery.removed.push(path)
      }
    } catch (err) {
      throw new StoreError(`cannot recover the temp files beside the token file ${this.path} (${errorCode(err)})`)
    }
    return recovery
  }

  /** Paths (folder, file) that exist and that users other than the owner may read or enter. */
  async exposedPaths (): Promise<string[]> {
    const exposed: string[] = []
    for (const path of [dirname(this.path), this.path]) {
      try {
        if (((await stat(path)).mode & 0o077) !== 0) exposed.push(path)
      } catch {}
    }
    return exposed
  }

  /** Waits for the saves in flight, then lets the lock go. */
  async close (): Promise<void> {
    await this.writing
    await this.lockFile.release()
  }
}

// write()'s temp files are `<tempPrefix><pid>.<8 hex digits>.tmp`; recoverTempFiles()
// recognises the rest of the name with TEMP_FILE.
function tempPrefix (path: string): string {
  return `.${basename(path)}.`
}
const TEMP_FILE = /^\d+\.[0-9a-f]{8}\.tmp$/

// The version of the record a temp file holds, or null when it is torn or not a record.
async function recordVersion (path: string): Promise<number | null> {
  try {
    return parseTokenRecord(JSON.parse(await readFile(path, 'utf8')), path).version
  } catch {
    return null
  }
}

// An errno code where the system gave one (EACCES, ENOSPC, EROFS), else the reason.
function errorCode (err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message
}

// A rename is durable only once the folder entry is on disk; an adopted temp file's writer may
// have died before its own fsync.
async function sync (path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
