// The image's runtime stage without a Docker engine: the build output and the lock file in an
// empty folder, the stage's own `npm ci` (production dependencies only), the gateway started as
// the CMD starts it with the image's environment, then the HEALTHCHECK command run verbatim.
// A development dependency needed at run time would fail here. npm prefers its cache (CI's
// `npm ci` has just filled it) and asks the registry only for what the cache lacks.
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { all, envOf, execForm, readDockerfile } from '../helpers/dockerfile.js'
import { ROOT } from '../helpers/process.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'

const runtime = readDockerfile().at(-1)!

interface Run { code: number | null, output: string }

// Without the test runner's NODE_OPTIONS (its coverage loader), as in the image.
function run (command: string[], cwd: string, env: Record<string, string>): { done: Promise<Run>, output: () => string, kill: () => void, stop: () => void } {
  const [file, ...args] = command
  const child = spawn('env', ['-u', 'NODE_OPTIONS', file === 'node' ? process.execPath : file, ...args], {
    cwd, env, stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  const done = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, output })))
  return { done, output: () => output, kill: () => { child.kill('SIGKILL') }, stop: () => { child.kill('SIGTERM') } }
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('the runtime stage starts with production dependencies only and its HEALTHCHECK passes', async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'tokengate-image-'))
  t.teardown(() => rmSync(app, { recursive: true, force: true }))
  const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? app }

  // COPY package.json package-lock.json ./ · RUN npm ci --omit=dev … · COPY --from=build /app/dist ./dist
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(app, file))
  const install = all(runtime, 'RUN').flatMap((args) => args.split('&&').map((s) => s.trim())).find((s) => s.startsWith('npm ci'))!
  t.match(install, /--omit=dev/)
  const installed = await run([...install.split(' '), '--prefer-offline'], app, baseEnv).done
  t.equal(installed.code, 0, `${install} succeeds`, { output: installed.output })
  t.ok(existsSync(join(app, 'node_modules', 'fastify')), 'production dependencies are there')
  for (const dev of ['typescript', 'tap', 'pino-pretty', '@tapjs/tsx', 'eslint']) {
    t.notOk(existsSync(join(app, 'node_modules', dev)), `${dev} (development) is not`)
  }
  cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true })

  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const cmd = execForm(all(runtime, 'CMD')[0])
  const healthcheck = execForm(all(runtime, 'HEALTHCHECK')[0])

  const start = async (extra: Record<string, string>): Promise<{ env: Record<string, string> }> => {
    const port = String(await freePort())
    // The image's environment; the listen address stays on loopback on a shared test machine,
    // and /data is a folder of the test's own.
    const env = {
      ...baseEnv,
      ...envOf(runtime),
      HOST: '127.0.0.1',
      PORT: port,
      TOKEN_STORE_PATH: join(app, 'data', 'tokens.json'),
      TOKEN_STORE: 'memory',
      UPSTREAM_URL: upstream.url,
      ...extra
    }
    const gateway = run(cmd, app, env)
    t.teardown(() => gateway.kill())
    await waitFor(() => gateway.output().includes('Server listening at'), 15_000, 'the gateway to listen')
    return { env }
  }

  const healthy = await start({ AUTH_TOKEN: idp.mint(3600) })
  const check = await run(healthcheck, app, healthy.env).done
  t.equal(check.code, 0, 'HEALTHCHECK exits 0 while a usable token is held', { output: check.output })

  const expired = await start({ AUTH_TOKEN: idp.mint(-60) })
  const failing = await run(healthcheck, app, expired.env).done
  t.equal(failing.code, 1, 'and 1 when none is (503)')

  // npm start on the same production install, as a deployment without an image runs it: no
  // TypeScript compiler, so the dist/ that is there is used, untouched.
  cpSync(join(ROOT, 'scripts'), join(app, 'scripts'), { recursive: true })
  const entry = join(app, 'dist', 'src', 'server.js')
  const builtAt = statSync(entry).mtimeMs
  const npmStart = run(['npm', 'start'], app, { ...healthy.env, PORT: String(await freePort()), AUTH_TOKEN: idp.mint(3600) })
  t.teardown(() => npmStart.kill())
  await waitFor(() => npmStart.output().includes('Server listening at'), 15_000, 'npm start to listen')
  t.notMatch(npmStart.output(), /tsc|not found/, 'nothing tried to compile')
  t.equal(statSync(entry).mtimeMs, builtAt, 'dist/ is used as it is')
  // A SIGKILL would leave npm's child running: the gateway is stopped the way it is meant to be.
  npmStart.stop()
  t.equal((await npmStart.done).code, 0, 'SIGTERM to npm start stops the gateway')

  rmSync(join(app, 'dist'), { recursive: true })
  const unbuilt = await run(['npm', 'start'], app, healthy.env).done
  t.not(unbuilt.code, 0, 'without dist/ and without the compiler: npm start fails')
  t.match(unbuilt.output, /tokengate: dist\/ is not built and the TypeScript compiler is not installed: run `npm ci`/, 'and says what to do')
})
