// deploy/kubernetes/tokengate.yaml without a cluster: every object valid against the Kubernetes
// API's own schemas (kubernetes-models), and the promises docs/deployment.md makes of it kept: two replicas
// sharing Redis, the probes on the health routes, a termination grace that covers the preStop and
// the gateway's shutdown, resources, the Secret's keys, a Redis that keeps the rotated refresh
// token across restarts. .ci/run then runs it for real with podman (test/deploy/kubernetes.js).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { Deployment } from 'kubernetes-models/apps/v1'
import { PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1'
import { configSchema } from '../../src/config/schema.js'
import { ROOT } from '../helpers/process.js'

// The gateway's whole shutdown (src/server.ts, SHUTDOWN_TIMEOUT_MS): the 10 s drain, then a refresh in flight.
const SHUTDOWN_TIMEOUT_S = 30

interface KubeObject { apiVersion: string, kind: string, metadata: { name: string, labels?: Record<string, string> }, [field: string]: any }

const objects = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'tokengate.yaml'), 'utf8')).map((doc) => doc.toJS() as KubeObject)
const find = (kind: string, name: string): KubeObject => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name}`)
  return found
}
const MODELS: Record<string, new (data: any) => { validate: () => void }> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'v1 Secret': Secret,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim
}

t.test('every object is valid against the Kubernetes API schemas', async (t) => {
  t.same(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    ['Deployment/tokengate', 'Deployment/tokengate-redis', 'PersistentVolumeClaim/tokengate-redis', 'Secret/tokengate', 'Service/tokengate', 'Service/tokengate-redis'])
  for (const object of objects) {
    const Model = MODELS[`${object.apiVersion} ${object.kind}`]
    t.ok(Model, `${object.apiVersion} ${object.kind} is a known kind`)
    t.doesNotThrow(() => new Model(object).validate(), `${object.kind}/${object.metadata.name} is valid`)
  }
  t.throws(() => new Deployment({ ...find('Deployment', 'tokengate'), spec: { ...find('Deployment', 'tokengate').spec, replicas: 'two' } }).validate(),
    'the schemas do refuse a bad object')
})

t.test('two gateway replicas on the shared Redis store, with the Secret\'s credentials', async (t) => {
  const deployment = find('Deployment', 'tokengate')
  t.equal(deployment.spec.replicas, 2)
  const [container] = deployment.spec.template.spec.containers
  const env = Object.fromEntries(container.env.map((e: { name: string, value: string }) => [e.name, e.value]))
  for (const name of Object.keys(env)) t.ok(name in configSchema.properties, `${name} is a tokengate variable`)
  t.equal(env.TOKEN_STORE, 'redis')
  const redisService = find('Service', 'tokengate-redis')
  t.equal(env.REDIS_URL, `redis://${redisService.metadata.name}:${redisService.spec.ports[0].port}`, 'REDIS_URL names the Redis Service')
  const secret = find('Secret', 'tokengate')
  t.same(container.envFrom, [{ secretRef: { name: secret.metadata.name } }])
  t.same(Object.keys(secret.stringData).sort(), ['AUTH_TOKEN', 'GATEWAY_ADMIN_KEY', 'GATEWAY_API_KEYS', 'REFRESH_TOKEN'])
  for (const name of Object.keys(secret.stringData)) t.ok(name in configSchema.properties, `${name} is a tokengate variable`)
})

t.test('probes, drain and resources as docs/deployment.md says', async (t) => {
  const pod = find('Deployment', 'tokengate').spec.template.spec
  const [container] = pod.containers
  t.same(container.livenessProbe.httpGet, { path: '/health/live', port: 'http' })
  t.same(container.readinessProbe.httpGet, { path: '/health/token', port: 'http' })
  t.same(container.ports, [{ name: 'http', containerPort: 3000 }])
  const preStopS = Number(container.lifecycle.preStop.exec.command.at(-1))
  t.ok(pod.terminationGracePeriodSeconds >= preStopS + SHUTDOWN_TIMEOUT_S,
    `grace ${pod.terminationGracePeriodSeconds} s covers the preStop (${preStopS} s) and the gateway's shutdown bound (${SHUTDOWN_TIMEOUT_S} s)`)
  t.match(container.resources, { requests: { cpu: String, memory: String }, limits: { memory: String } })
  const mib = (quantity: string): number => Number(/^(\d+)Mi$/.exec(quantity)![1])
  t.ok(mib(container.resources.requests.memory) >= 128, 'the memory request covers the gateway\'s peak under load (about 125 MB)')
  t.ok(mib(container.resources.limits.memory) > mib(container.resources.requests.memory))
  t.equal(pod.securityContext.runAsUser, 1000, 'the image\'s node user')

  const service = find('Service', 'tokengate')
  t.same(service.spec.selector, find('Deployment', 'tokengate').spec.template.metadata.labels)
  t.equal(service.spec.ports[0].targetPort, 'http')
})

t.test('Redis keeps the rotated refresh token across its own restarts', async (t) => {
  const pod = find('Deployment', 'tokengate-redis').spec.template.spec
  const [redis] = pod.containers
  t.match(redis.args.join(' '), /--appendonly yes/)
  t.match(redis.args.join(' '), /--appendfsync always/, 'and across its being killed: each write fsynced before it is acknowledged')
  t.same(redis.volumeMounts, [{ name: 'data', mountPath: '/data' }])
  t.same(pod.volumes, [{ name: 'data', persistentVolumeClaim: { claimName: find('PersistentVolumeClaim', 'tokengate-redis').metadata.name } }])
  t.same(find('Service', 'tokengate-redis').spec.selector, find('Deployment', 'tokengate-redis').spec.template.metadata.labels)
})
