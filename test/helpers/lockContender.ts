// A process of its own that takes and lets go of a FileLock when told: the built lock module
// (dist/, as `npm start` runs it) in a child, so a test can race real processes for one lock.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import type { FileLockOptions } from '../../src/stores/fileLock.js'
import { CHILD_ENV, ROOT } from './process.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface AcquireResult {
  won: boolean
  /** The error's code when refused: TOKENGATE_STORE_LOCKED for a held lock. */
  code?: string
  message?: string
}

export interface LockContender {
  pid: number
  acquire (path: string, options?: Omit<FileLockOptions, 'now' | 'onLost'>): Promise<AcquireResult>
  release (): Promise<void>
}

const SCRIPT = `
import { createInterface } from 'node:readline'
const { FileLock } = await import(process.env.FILE_LOCK_MODULE)
let lock = null
const say = (answer) => { process.stdout.write(JSON.stringify(answer) + '\\n') }
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  if (command.op === 'acquire') {
    lock = new FileLock(command.path, command.options)
    try {
      await lock.acquire()
      say({ won: true })
    } catch (err) {
      say({ won: false, code: err.code, message: err.message })
    }
  } else {
    await lock?.release()
    lock = null
    say({})
  }
}
`

export async function lockContender (t: Teardown): Promise<LockContender> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    env: { PATH: process.env.PATH ?? '', ...CHILD_ENV, FILE_LOCK_MODULE: pathToFileURL(join(ROOT, 'dist', 'src', 'stores', 'fileLock.js')).href },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  // One command at a time, one answer line each.
  const waiting: Array<(line: string) => void> = []
  createInterface({ input: child.stdout }).on('line', (line) => { waiting.shift()!(line) })
  const ask = async (command: object): Promise<string> => await new Promise((resolve) => {
    waiting.push(resolve)
    child.stdin.write(`${JSON.stringify(command)}\n`)
  })
  return {
    pid: child.pid!,
    acquire: async (path, options = {}) => JSON.parse(await ask({ op: 'acquire', path, options })) as AcquireResult,
    release: async () => { await ask({ op: 'release' }) }
  }
}
