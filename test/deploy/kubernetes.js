// @ts-check
// deploy/kubernetes/tokengate.yaml run for real with `podman kube play`, after the image test in
// .ci/run: two gateway replicas and Redis come up, share their tokens (one refresh for both),
// answer readiness, and stopping them as `podman kube down` does drains them (each gateway's clean
// shutdown) before kube down removes them.
//
// The manifest is adapted to this machine, where pods run on the host's network (docs/deployment.md,
// "Kubernetes"): the two replicas become two Deployments of one replica on ports of their own
// (there is no Service to spread requests) and declare no container ports (a process's own on the
// host's network), Services are left out, the image is the one the image
// test built, the upstream and the identity provider are the demo's in this process, and the
// Secret is handed over as a podman secret (podman 4 reads a Secret's data from one, as a JSON map
// of base64 values). Skips, saying so, without an engine.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { startEchoUpstream } from '../../dist/src/demo/echoUpstream.js'
import { startIdentityProvider } from '../../dist/src/demo/identityProvider.js'
import { BASES, checks, engineHere, freePort, IMAGE, podman, waitUntil } from './podman.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = randomBytes(3).toString('hex')

if (!engineHere() || spawnSync('podman', ['image', 'exists', IMAGE]).status !== 0) {
  console.log(`kubernetes test skipped: no container engine here, or no ${IMAGE} (node test/deploy/image.js builds it)`)
  process.exit(0)
}
const tally = checks()
const check = tally.check

/** @typedef {{ kind: string, metadata: { name: string, labels?: Record<string, string> }, spec: any, stringData?: Record<string, string> }} KubeObject */
/** @type {KubeObject[]} */
const objects = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'tokengate.yaml'), 'utf8')).map((doc) => doc.toJS())
/** @param {string} kind @param {string} name @returns {KubeObject} */
const find = (kind, name) => structuredClone(objects.find((o) => o.kind === kind && o.metadata.name === name))

const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
const upstream = await startEchoUpstream()
const secretName = `tokengate-ci-${run}`
const file = join(mkdtempSync(join(tmpdir(), 'tokengate-kube-')), 'tokengate.yaml')
const ports = [await freePort(), await freePort()]
const redisPort = await freePort()
let played = false
try {
  // The Secret, filled in, as podman wants it.
  const secret = find('Secret', 'tokengate')
  const values = { ...secret.stringData, AUTH_TOKEN: idp.mint(-30), REFRESH_TOKEN: idp.validRefreshToken, GATEWAY_API_KEYS: 'ci-key', GATEWAY_ADMIN_KEY: 'ci-admin-key' }
  const secretFile = join(tmpdir(), `${secretName}.json`)
  writeFileSync(secretFile, JSON.stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))), { mode: 0o600 })
  podman('secret', 'create', secretName, secretFile)

  const gateway = find('Deployment', 'tokengate')
  const replicas = ports.map((port, i) => {
    const replica = structuredClone(gateway)
    replica.metadata.name = `tokengate-${run}-${'ab'[i]}`
    replica.spec.replicas = 1
    const container = replica.spec.template.spec.containers[0]
    container.image = IMAGE
    container.envFrom[0].secretRef.name = secretName
    /** @type {Record<string, string>} */
    const here = {
      UPSTREAM_URL: upstream.url, TOKEN_REFRESH_URL: idp.refreshUrl, REDIS_URL: `redis://127.0.0.1:${redisPort}`, TOKEN_STORE_KEY: `tokengate-ci:${run}`, HOST: '127.0.0.1', PORT: String(port)
    }
    container.env = [...container.env.filter((/** @type {{ name: string }} */ e) => !(e.name in here)), ...Object.entries(here).map(([name, value]) => ({ name, value }))]
    // On the host's network a port is the process's own: podman refuses to map one.
    delete container.ports
    for (const probe of [container.livenessProbe, container.readinessProbe]) probe.httpGet.port = port
    return replica
  })
  const redis = find('Deployment', 'tokengate-redis')
  redis.metadata.name = `tokengate-${run}-redis`
  const redisContainer = redis.spec.template.spec.containers[0]
  redisContainer.image = BASES[1]
  redisContainer.args = [...redisContainer.args, '--port', String(redisPort), '--bind', '127.0.0.1']
  delete redisContainer.ports
  redisContainer.readinessProbe.exec.command = ['redis-cli', '-p', String(redisPort), 'ping']
  const claim = find('PersistentVolumeClaim', 'tokengate-redis')
  claim.metadata.name = `tokengate-${run}-redis`
  redis.spec.template.spec.volumes[0].persistentVolumeClaim.claimName = claim.metadata.name
  writeFileSync(file, [claim, redis, ...replicas].map((object) => stringify(object)).join('---\n'))

  const play = spawnSync('podman', ['kube', 'play', '--network', 'host', file], { encoding: 'utf8' })
  played = true
  check(play.status === 0, `podman kube play brings up Redis and two replicas${play.status === 0 ? '' : `: ${play.stderr}`}`)
  const ready = await waitUntil(async () => (await Promise.all(ports.map(async (port) => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/health/token`)).status === 200
    } catch {
      return false
    }
  }))).every(Boolean), 60_000)
  check(ready, 'readiness (/health/token) answers 200 on both replicas')
  check(idp.calls.length === 1 && idp.calls[0].status === 200, `they share their tokens: one refresh of the expired token for both (${idp.calls.length} call${idp.calls.length === 1 ? '' : 's'})`)
  const seen = await Promise.all(ports.map(async (port) => (await (await fetch(`http://127.0.0.1:${port}/x`, { headers: { 'x-api-key': 'ci-key' } })).json()).authorization))
  check(seen.every((authorization) => authorization === `Bearer ${idp.issued[0]}`), 'both send that token upstream, with the key from the Secret')
  const refused = await fetch(`http://127.0.0.1:${ports[0]}/x`)
  check(refused.status === 401, 'and refuse a caller without the key')

  // Stopping the pods, as kube down does before it removes them: each gateway drains (SIGTERM,
  // in-flight requests finished, the refresh awaited) and says so; then kube down removes it all.
  const pods = replicas.map((replica) => `${replica.metadata.name}-pod-0`)
  const stopAt = Date.now()
  const stopped = spawnSync('podman', ['pod', 'stop', '-t', String(gateway.spec.template.spec.terminationGracePeriodSeconds), ...pods], { encoding: 'utf8' })
  const stopMs = Date.now() - stopAt
  const drained = pods.every((pod) => podman('logs', `${pod}-tokengate`).includes('"msg":"tokengate stopped"') &&
    podman('inspect', '--format', '{{.State.ExitCode}}', `${pod}-tokengate`) === '0')
  check(stopped.status === 0 && drained, `the pods stop as kube down stops them: both gateways drained and exited 0 (${stopMs} ms)`)
  const down = spawnSync('podman', ['kube', 'down', file], { encoding: 'utf8' })
  played = false
  check(down.status === 0 && !podman('pod', 'ls', '--format', '{{.Name}}').includes(run), 'podman kube down removes them')
} catch (err) {
  check(false, `the kubernetes test ran to its end: ${/** @type {Error} */ (err).message}`)
} finally {
  if (played) spawnSync('podman', ['kube', 'down', file], { stdio: 'ignore' })
  spawnSync('podman', ['volume', 'rm', '-f', `tokengate-${run}-redis`], { stdio: 'ignore' })
  spawnSync('podman', ['secret', 'rm', secretName], { stdio: 'ignore' })
  await idp.close()
  await upstream.close()
}
console.log(tally.failures === 0 ? 'kubernetes test: all checks passed' : `kubernetes test: ${tally.failures} check(s) failed`)
process.exit(tally.failures === 0 ? 0 : 1)
