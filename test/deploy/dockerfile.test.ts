// What the Dockerfile, .dockerignore and docker-compose.yml promise (docs/deployment.md, "Deploying with
// Docker and compose"), read without a Docker engine. The runtime stage itself runs in runtimeStage.test.ts.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { all, envOf, execForm, readDockerfile } from '../helpers/dockerfile.js'
import { ROOT } from '../helpers/process.js'

const stages = readDockerfile()
const build = stages[0]
const runtime = stages.at(-1)!

t.test('multi-stage on a current Node LTS slim image', async (t) => {
  t.ok(stages.length >= 2, 'at least a build and a runtime stage')
  t.equal(build.name, 'build')
  for (const stage of stages) {
    const [, major] = /^node:(\d+)-[a-z]+-slim$/.exec(stage.from) ?? []
    t.ok(major !== undefined && Number(major) >= 22 && Number(major) % 2 === 0, `${stage.from} is an LTS slim base (even major, 22+)`)
  }
  t.equal(runtime.from, build.from, 'build and run on the same Node')
})

t.test('the build stage installs everything and builds; the runtime stage only production dependencies', async (t) => {
  const buildRuns = all(build, 'RUN').join('\n')
  t.match(buildRuns, /^npm ci(?! [^\n]*--omit)/m, 'npm ci with the development dependencies')
  t.match(buildRuns, /^npm run build$/m)
  const runtimeRuns = all(runtime, 'RUN').join('\n')
  t.match(runtimeRuns, /npm ci --omit=dev/)
  t.notMatch(runtimeRuns, /npm run build|npm install /, 'nothing is built or added at run time')
  t.ok(all(runtime, 'COPY').some((args) => /^--from=build \/app\/dist \.\/dist$/.test(args)), 'dist/ comes from the build stage')
  t.notOk(all(runtime, 'COPY').some((args) => /\b(src|plugins|routes|node_modules)\b/.test(args)), 'no sources, no built node_modules')
})

t.test('runtime: unprivileged user, init process, environment, volume, port', async (t) => {
  const users = all(runtime, 'USER')
  t.same(users, ['node'], 'runs as node')
  const keywords = runtime.instructions.map((i) => i.keyword)
  const lastRun = keywords.lastIndexOf('RUN')
  const user = keywords.indexOf('USER')
  t.ok(user > lastRun, 'USER comes after the last RUN')
  t.match(all(runtime, 'RUN').join('\n'), /apt-get install -y --no-install-recommends tini/)
  t.same(execForm(all(runtime, 'ENTRYPOINT')[0]), ['/usr/bin/tini', '--'], 'tini is PID 1')
  t.match(envOf(runtime), { HOST: '0.0.0.0', TOKEN_STORE_PATH: '/data/tokens.json', NODE_ENV: 'production' })
  t.same(all(runtime, 'VOLUME'), ['/data'])
  t.match(all(runtime, 'RUN').join('\n'), /install -d -o node -g node -m 0700 \/data/, '/data belongs to node, 0700')
  t.same(all(runtime, 'EXPOSE'), ['3000'])
})

t.test('CMD starts the same entry file as npm start', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>, main: string }
  const cmd = execForm(all(runtime, 'CMD')[0])
  // npm start execs node in place of its shell, so a signal to npm reaches the gateway.
  t.match(pkg.scripts.start, /^exec /)
  t.same(cmd, pkg.scripts.start.replace(/^exec /, '').split(' '), `CMD is ${pkg.scripts.start}`)
  t.equal(cmd.at(-1), pkg.main)
})

t.test('HEALTHCHECK asks /health/token with plain node', async (t) => {
  const [healthcheck] = all(runtime, 'HEALTHCHECK')
  t.ok(healthcheck, 'there is one')
  t.match(healthcheck, /--interval=\d+s/)
  t.match(healthcheck, /--timeout=\d+s/)
  const command = execForm(healthcheck)
  t.equal(command[0], 'node')
  t.match(command.join(' '), /\/health\/token/)
  t.notMatch(command.join(' '), /\b(curl|wget)\b/)
})

t.test('.dockerignore keeps secrets and local state out of the build context', async (t) => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim())
  for (const entry of ['.env', 'data/', 'node_modules/', 'dist/', '.git']) t.ok(ignored.includes(entry), `${entry} is ignored`)
})

t.test('docker-compose.yml: Redis and two gateway replicas sharing it', async (t) => {
  const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')
  t.match(compose, /^ {2}redis:\n {4}image: redis:/m)
  t.match(compose, /command: \["redis-server", "--appendonly", "yes", "--appendfsync", "always"/, 'Redis keeps an acknowledged write across a crash')
  t.match(compose, /^ {2}gateway-a:\n {4}<<: \*gateway$/m)
  t.match(compose, /^ {2}gateway-b:\n {4}<<: \*gateway$/m)
  t.match(compose, /^ {4}TOKEN_STORE: redis$/m)
  t.match(compose, /^ {4}REDIS_URL: redis:\/\/redis:6379$/m)
  t.match(compose, /^ {2}stop_grace_period: 30s$/m, 'the shutdown has the time it needs')
  t.match(compose, /condition: service_healthy/)
})
