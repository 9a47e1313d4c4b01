// A secret kept in a file (a mounted Docker or Kubernetes secret) that may be replaced while the
// gateway runs: read again whenever the file changed since the last read, so a rotated secret is
// used from the next token request on, without a restart. Kubernetes swaps a symlink to rotate a
// secret; the file is looked at through it, so a swap shows as a change.
import { readFileSync, statSync } from 'node:fs'
import { RefreshError } from '../errors.js'

interface Snapshot {
  mtimeMs: number
  ctimeMs: number
  size: number
  ino: number
  value: string
}

export class SecretFile {
  private last: Snapshot | null = null

  /** `field` names the file in errors: `credentials.graph.clientSecretFile`. */
  constructor (readonly path: string, readonly field: string) {}

  /**
   * The secret, trimmed. Throws a RefreshError naming the field (never the content) when the
   * file cannot be read or is empty: the refresh fails, is logged and shows in health.
   */
  read (): string {
    try {
      const stats = statSync(this.path)
      const last = this.last
      if (last !== null && last.mtimeMs === stats.mtimeMs && last.ctimeMs === stats.ctimeMs && last.size === stats.size && last.ino === stats.ino) {
        return last.value
      }
      const value = readFileSync(this.path, 'utf8').trim()
      if (value === '') throw Object.assign(new Error('empty'), { code: 'EMPTY' })
      this.last = { mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, size: stats.size, ino: stats.ino, value }
      return value
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new RefreshError({ reason: 'secret_file_unreadable', retryable: false, rejected: false },
        `${this.field} (${this.path}) cannot be read (${code})`)
    }
  }
}
