// A disk that can be filled: a 64 KiB tmpfs, for the paths only a full disk reaches.
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { emptyWorkdir } from './process.js'

export interface SmallDisk {
  folder: string
  remount (mode: 'ro' | 'rw'): void
  unmount (): void
}

/** Mounts a 64 KiB tmpfs at a fresh folder, or says why it cannot. */
export function smallDisk (): SmallDisk | string {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'mounting a small tmpfs needs root on Linux'
  const folder = join(emptyWorkdir(), 'small-disk')
  mkdirSync(folder)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', folder], { stdio: 'ignore' })
  } catch {
    return 'mount -t tmpfs is not permitted here'
  }
  return {
    folder,
    remount: (mode) => { execFileSync('mount', ['-o', `remount,${mode}`, folder], { stdio: 'ignore' }) },
    unmount: () => { execFileSync('umount', ['-l', folder], { stdio: 'ignore' }) }
  }
}

/** Fills the disk: a file as large as will fit, then a check that not one more byte does. */
export function fill (folder: string): string {
  const filler = join(folder, 'filler')
  try {
    writeFileSync(filler, Buffer.alloc(128 * 1024, 1))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  }
  try {
    writeFileSync(join(folder, 'probe'), 'x')
    throw new Error('the disk is not full')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    rmSync(join(folder, 'probe'), { force: true })
  }
  return filler
}
