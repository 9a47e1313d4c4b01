// @ts-check
// What the container checks of .ci/run share (test/deploy/image.js, test/deploy/kubernetes.js):
// podman with its noise kept out, a tally of checks, free ports, and waiting for a gateway.
import { execFileSync, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'

export const IMAGE = 'localhost/tokengate:ci'
export const BASES = ['docker.io/library/node:22-bookworm-slim', 'docker.io/library/redis:7-bookworm']

/** Whether podman and buildah run here, with the two base images present. */
export function engineHere () {
  const runs = (/** @type {string} */ command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0
  return runs('podman') && runs('buildah') && BASES.every((image) => spawnSync('podman', ['image', 'exists', image]).status === 0)
}

/** podman's stdout; it complains on stderr that it cannot reach systemd for healthcheck timers. @param {string[]} args */
export function podman (...args) {
  return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
}

/** The exit status of a podman command, without throwing. @param {string[]} args */
export function podmanStatus (...args) {
  return spawnSync('podman', args, { stdio: 'ignore' }).status
}

/** A tally of checks, each printed as it is made. */
export function checks () {
  let failures = 0
  return {
    /** @param {boolean} ok @param {string} what */
    check (ok, what) {
      console.log(`${ok ? 'ok    ' : 'FAILED'} ${what}`)
      if (!ok) failures++
    },
    get failures () { return failures }
  }
}

export async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** @param {() => Promise<boolean> | boolean} condition @param {number} timeoutMs */
export async function waitUntil (condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return false
}

/** True when `url` answers 2xx. @param {string} url */
export async function answers (url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok
  } catch {
    return false
  }
}
