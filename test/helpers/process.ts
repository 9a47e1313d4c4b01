// The gateway as a real child process, started the way `npm start` starts it (node on the
// built entry file), with a clean environment so nothing of the test runner leaks in.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SERVER_ENTRY = join(ROOT, 'dist', 'src', 'server.js')

interface Teardown { teardown (fn: () => unknown): void }

export interface GatewayProcess {
  child: ChildProcess
  url: string
  output (): string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  waitForOutput (pattern: RegExp, timeoutMs?: number): Promise<void>
}

/** A fresh empty working folder, so no .env of the repository is read. */
export function emptyWorkdir (): string {
  return mkdtempSync(join(tmpdir(), 'tokengate-test-'))
}

/**
 * Children run the compiled dist/ files; coverage is measured on src/ by the in-process tests,
 * so tap's process tracking is told not to collect theirs.
 */
export const CHILD_ENV = { _TAPJS_PROCESSINFO_COVERAGE_: '0' }

export function spawnGateway (env: Record<string, string>, cwd = emptyWorkdir()): { child: ChildProcess, output: () => string, exited: GatewayProcess['exited'] } {
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...CHILD_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let text = ''
  child.stdout!.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  child.stderr!.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, output: () => text, exited }
}

/** Starts the gateway on a free port and resolves once it listens. */
export async function startGatewayProcess (t: Teardown, env: Record<string, string>, cwd?: string): Promise<GatewayProcess> {
  const spawned = spawnGateway({ HOST: '127.0.0.1', PORT: '0', TOKEN_STORE: 'memory', ...env }, cwd)
  t.teardown(async () => {
    if (spawned.child.exitCode === null && spawned.child.signalCode === null) {
      spawned.child.kill('SIGKILL')
      await spawned.exited
    }
  })
  const waitForOutput = async (pattern: RegExp, timeoutMs = 10_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    while (!pattern.test(spawned.output())) {
      if (spawned.child.exitCode !== null) throw new Error(`gateway exited early:\n${spawned.output()}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${spawned.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  await waitForOutput(/Server listening at http:\/\/127\.0\.0\.1:\d+/)
  const port = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(spawned.output())![1]
  return { ...spawned, url: `http://127.0.0.1:${port}`, waitForOutput }
}

/**
 * Whether a folder can be made unwritable for this user: root ignores permission bits, so as
 * root the folder is made immutable (chattr +i); elsewhere chmod 0500 does it.
 */
export function canLockFolders (): boolean {
  if (process.getuid?.() !== 0) return true
  const probe = mkdtempSync(join(tmpdir(), 'tokengate-chattr-'))
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'ignore' })
    execFileSync('chattr', ['-i', probe], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Makes `folder` unwritable until the test ends. */
export function lockFolder (t: Teardown, folder: string): void {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', folder], { stdio: 'ignore' })
    t.teardown(() => { execFileSync('chattr', ['-i', folder], { stdio: 'ignore' }) })
  } else {
    chmodSync(folder, 0o500)
    t.teardown(() => { chmodSync(folder, 0o700) })
  }
}
