// @ts-check
// The container image, built from the Dockerfile and run for real with podman (host network),
// after `npm test` in .ci/run: a proxied request carries the bearer, the HEALTHCHECK passes with a
// token and fails without, it runs as node with /data 0700, a rotated refresh token survives
// `podman rm` and a new container on the same volume, SIGTERM stops it within 10 s, and two
// gateway containers sharing a Redis container make one refresh per rotation. Prints the image's
// size. Skips, saying so, where no container engine can be had. Needs dist/ (npm test builds it):
// the demo identity provider and echo upstream run in this process, on this machine's loopback.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startEchoUpstream } from '../../dist/src/demo/echoUpstream.js'
import { startIdentityProvider } from '../../dist/src/demo/identityProvider.js'
import { answers, BASES, checks, engineHere, freePort, IMAGE, podman, podmanStatus, waitUntil } from './podman.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = randomBytes(3).toString('hex')
const STOP_BOUND_MS = 10_000

if (!engineHere()) {
  console.log(`image test skipped: no container engine here (podman and buildah, with ${BASES.join(' and ')} present)`)
  process.exit(0)
}
const tally = checks()
const check = tally.check

const containers = []
const volumes = []
/** Starts a container on the host network; its environment as -e flags. @param {string} name @param {Record<string, string>} env @param {string[]} extra */
function start (name, env, extra = [], image = IMAGE, command = []) {
  const full = `tokengate-ci-${run}-${name}`
  containers.push(full)
  podman('run', '-d', '--name', full, '--network', 'host', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), ...extra, image, ...command)
  return full
}

function cleanUp () {
  // -v: the anonymous volume each container without one on /data got goes with it.
  for (const name of containers) spawnSync('podman', ['rm', '-f', '-v', '-t', '0', name], { stdio: 'ignore' })
  for (const name of volumes) spawnSync('podman', ['volume', 'rm', '-f', name], { stdio: 'ignore' })
}

const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
const upstream = await startEchoUpstream()
try {
  const builtAt = Date.now()
  const build = spawnSync('buildah', ['bud', '--isolation', 'chroot', '--network', 'host', '--format', 'docker', '-t', IMAGE, '.'], { cwd: ROOT, encoding: 'utf8' })
  check(build.status === 0, `the Dockerfile builds (${Math.round((Date.now() - builtAt) / 1000)} s)${build.status === 0 ? '' : `\n${build.stdout}\n${build.stderr}`}`)
  if (build.status !== 0) throw new Error('no image')
  const sizeMb = Number(podman('image', 'inspect', '--format', '{{.Size}}', IMAGE)) / 1e6
  console.log(`image size: ${sizeMb.toFixed(0)} MB (on this machine's stand-in for node:22-bookworm-slim, ${(Number(podman('image', 'inspect', '--format', '{{.Size}}', BASES[0])) / 1e6).toFixed(0)} MB of it)`)

  // One gateway with a file store on a volume: the bearer, the health check, the user, /data.
  const volume = `tokengate-ci-${run}-data`
  volumes.push(volume)
  const base = { HOST: '127.0.0.1', UPSTREAM_URL: upstream.url, TOKEN_REFRESH_URL: idp.refreshUrl, AUTH_TOKEN: idp.mint(-30), REFRESH_TOKEN: idp.validRefreshToken }
  const port = await freePort()
  const first = start('file-1', { ...base, PORT: String(port) }, ['-v', `${volume}:/data`])
  check(await waitUntil(() => answers(`http://127.0.0.1:${port}/health/live`), 20_000), 'the container serves')
  const echoed = await (await fetch(`http://127.0.0.1:${port}/hello`, { headers: { authorization: 'Bearer client-credential' } })).json()
  check(idp.issued.length === 1 && echoed.authorization === `Bearer ${idp.issued[0]}`, 'a proxied request carries the bearer the start-up refresh obtained, not the client\'s')
  check(podmanStatus('healthcheck', 'run', first) === 0, 'HEALTHCHECK passes while a usable token is held')
  check(podman('exec', first, 'id', '-un') === 'node', 'it runs as node')
  check(podman('exec', first, 'stat', '-c', '%a %U', '/data') === '700 node', '/data is 0700 and belongs to node')

  const stoppingAt = Date.now()
  podman('stop', '-t', String(STOP_BOUND_MS / 1000), first)
  const stopMs = Date.now() - stoppingAt
  check(stopMs < STOP_BOUND_MS && podman('inspect', '--format', '{{.State.ExitCode}}', first) === '0', `SIGTERM stops it within 10 s, exit 0 (${stopMs} ms)`)
  podman('rm', '-v', first)

  // A new container on the same volume, with the same (now spent) REFRESH_TOKEN in its environment.
  const port2 = await freePort()
  const second = start('file-2', { ...base, PORT: String(port2), GATEWAY_ADMIN_KEY: 'ci-admin-key' }, ['-v', `${volume}:/data`])
  check(await waitUntil(() => answers(`http://127.0.0.1:${port2}/health/live`), 20_000), 'a new container on the same volume serves')
  check(podman('logs', second).includes('Using the tokens from the token store'), 'it starts from the stored, rotated tokens')
  const forced = await fetch(`http://127.0.0.1:${port2}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': 'ci-admin-key' } })
  check(forced.status === 200 && idp.calls.length === 2 && idp.calls[1].status === 200, 'its refresh presents the rotated refresh token, and the provider accepts it')

  // A second container on the same volume while the first runs (host networking: the same host
  // name, pids numbered alike in each container): refused, naming TOKEN_STORE_PATH.
  const intruder = start('file-3', { ...base, PORT: String(await freePort()) }, ['-v', `${volume}:/data`])
  await waitUntil(() => podman('inspect', '--format', '{{.State.Status}}', intruder) === 'exited', 20_000)
  // The container's stderr comes out on podman's.
  const refusal = spawnSync('podman', ['logs', intruder], { encoding: 'utf8' })
  check(podman('inspect', '--format', '{{.State.ExitCode}}', intruder) === '1' &&
    /tokengate: configuration error: TOKEN_STORE_PATH \/data\/tokens\.json is in use by another gateway/.test(`${refusal.stdout}${refusal.stderr}`),
  'a second container on the same volume exits 1 naming TOKEN_STORE_PATH')
  check(await answers(`http://127.0.0.1:${port2}/health/token`), 'while the first keeps serving')

  check(podman('logs', second).includes('HOST=127.0.0.1 inside a container: only the container itself can reach the gateway'),
    'HOST=127.0.0.1 in a container is warned about')

  // .env.example, filled in as its comments say, handed over with --env-file: the image's HOST and
  // TOKEN_STORE_PATH stand.
  const envFile = join(mkdtempSync(join(tmpdir(), 'tokengate-ci-')), '.env')
  writeFileSync(envFile, readFileSync(join(ROOT, '.env.example'), 'utf8')
    .replace(/^UPSTREAM_URL=.*$/m, `UPSTREAM_URL=${upstream.url}`)
    .replace(/^AUTH_TOKEN=.*$/m, `AUTH_TOKEN=${idp.mint(3600)}`))
  const port4 = await freePort()
  const fromExample = start('env-file', { PORT: String(port4), GATEWAY_API_KEYS: 'ci-key' }, ['--env-file', envFile])
  check(await waitUntil(() => answers(`http://127.0.0.1:${port4}/health/token`), 20_000), 'a container given .env.example with --env-file serves')
  const logs = podman('logs', fromExample)
  // Fastify names each address of 0.0.0.0: one beside loopback shows it listens on all of them.
  check(new RegExp(`Server listening at http://(?!127\\.)[\\d.]+:${port4}`).test(logs), 'it listens on all interfaces (the image\'s HOST)')
  check(logs.includes('kept in the file /data/tokens.json') && !logs.includes('inside a container'), 'and keeps its tokens on the volume, without a warning')

  // No usable token and no way to get one: the health check fails.
  const port3 = await freePort()
  const stale = start('stale', { HOST: '127.0.0.1', PORT: String(port3), UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-30), TOKEN_STORE: 'memory' })
  check(await waitUntil(() => answers(`http://127.0.0.1:${port3}/health/live`), 20_000), 'a gateway with an expired token serves its routes')
  check(podmanStatus('healthcheck', 'run', stale) !== 0, 'and its HEALTHCHECK fails (503: no token can be had)')

  // Two gateway containers and a Redis container: one refresh per rotation.
  const redisPort = await freePort()
  start('redis', {}, [], BASES[1], ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  const callsBefore = idp.calls.length
  const shared = { ...base, AUTH_TOKEN: idp.mint(-30), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${redisPort}`, TOKEN_STORE_KEY: `tokengate-ci:${run}` }
  const ports = [await freePort(), await freePort()]
  await waitUntil(() => spawnSync('podman', ['exec', containers.at(-1), 'redis-cli', '-p', String(redisPort), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG'), 20_000)
  for (const [i, p] of ports.entries()) start(`replica-${i}`, { ...shared, PORT: String(p) })
  check(await waitUntil(async () => (await Promise.all(ports.map((p) => answers(`http://127.0.0.1:${p}/health/token`)))).every(Boolean), 30_000), 'both replicas hold a token')
  const seen = await Promise.all(ports.flatMap((p) => Array.from({ length: 10 }, async () => (await (await fetch(`http://127.0.0.1:${p}/x`)).json()).authorization)))
  const rotations = idp.calls.length - callsBefore
  check(rotations === 1, `two replicas, one refresh of the expired token (${rotations} call${rotations === 1 ? '' : 's'} to the provider)`)
  check(new Set(seen).size === 1 && seen[0] === `Bearer ${idp.issued.at(-1)}`, 'both send the one new token upstream')
} catch (err) {
  check(false, `the image test ran to its end: ${/** @type {Error} */ (err).message}`)
} finally {
  cleanUp()
  await idp.close()
  await upstream.close()
}
console.log(tally.failures === 0 ? 'image test: all checks passed' : `image test: ${tally.failures} check(s) failed`)
process.exit(tally.failures === 0 ? 0 : 1)
