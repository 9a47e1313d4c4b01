// The file store's lock with the built gateway as real processes: a second gateway on the same
// TOKEN_STORE_PATH is refused while the first serves on, a killed gateway's lock is taken over at
// once, a clean stop lets it go, token:inspect reads beside it, and a whole temp file with newer
// tokens is adopted at the next start.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { CHILD_ENV, ROOT, emptyWorkdir, spawnGateway, startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, fileStoreEnv, identityProvider } from '../helpers/servers.js'

const ADMIN_KEY = 'admin-key-for-the-lock'

async function seen (url: string): Promise<string> {
  const res = await request(`${url}/x`)
  return (await res.body.json() as { authorization: string }).authorization
}

const lockOf = (path: string): { pid: number, hostname: string, startedAt: string, nonce: string } =>
  JSON.parse(readFileSync(`${path}.lock`, 'utf8')) as { pid: number, hostname: string, startedAt: string, nonce: string }

t.test('one gateway per token file: refused while it runs, taken over after a kill, let go on a clean stop', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const path = join(emptyWorkdir(), 'state', 'tokens.json')
  const env = { ...fileStoreEnv(idp, upstream, path), GATEWAY_ADMIN_KEY: ADMIN_KEY }
  const first = await startGatewayProcess(t, env)
  t.equal(await seen(first.url), `Bearer ${idp.issued[0]}`, 'the first gateway refreshed at start-up')
  const held = lockOf(path)
  t.equal(held.pid, first.child.pid)
  t.equal(held.hostname, hostname())

  await t.test('a second gateway on the same path exits 1 with one line naming TOKEN_STORE_PATH and the holder', async (t) => {
    const second = spawnGateway({ ...env, HOST: '127.0.0.1', PORT: '0' })
    t.same(await second.exited, { code: 1, signal: null })
    t.equal(second.output(), `tokengate: configuration error: TOKEN_STORE_PATH ${path} is in use by another gateway ` +
      `(pid ${first.child.pid} on host ${hostname()}, since ${held.startedAt}; lock file ${path}.lock): ` +
      'stop that gateway, or give this one a TOKEN_STORE_PATH of its own\n')
    t.equal(idp.calls.length, 1, 'it never called the identity provider')
    t.same(lockOf(path), held, 'the first gateway\'s lock is untouched')
  })

  await t.test('the first serves on, and its refresh token is still the one the identity provider accepts', async (t) => {
    t.equal(await seen(first.url), `Bearer ${idp.issued[0]}`)
    const rotated = idp.validRefreshToken
    const forced = await request(`${first.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
    t.equal(forced.statusCode, 200)
    await forced.body.dump()
    t.same(idp.calls.map((call) => call.status), [200, 200])
    t.equal(idp.calls[1].refreshToken, rotated, 'the refresh presented the token the first refresh returned, and it was accepted')
    t.equal(await seen(first.url), `Bearer ${idp.issued[1]}`)
    t.equal(JSON.parse(readFileSync(path, 'utf8')).refreshToken, idp.validRefreshToken)
  })

  await t.test('token:inspect reads the token file while the gateway holds it', async (t) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'tokenInspectMain.js')], {
      cwd: emptyWorkdir(),
      env: { PATH: process.env.PATH ?? '', ...CHILD_ENV, AUTH_TOKEN: env.AUTH_TOKEN, REFRESH_TOKEN: env.REFRESH_TOKEN, TOKEN_STORE_PATH: path },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    t.equal(code, 0, out)
    t.match(out, /token store \(file .*tokens\.json\), version 3/)
    t.same(lockOf(path), held, 'and leaves the lock alone')
  })

  await t.test('after SIGKILL a new gateway takes the lock over at once and carries on with the rotated tokens', async (t) => {
    first.child.kill('SIGKILL')
    await first.exited
    t.same(lockOf(path), held, 'the killed gateway left its lock')
    const started = Date.now()
    const next = await startGatewayProcess(t, env)
    const tookMs = Date.now() - started
    t.ok(tookMs < 10_000, `listening after ${tookMs} ms: no wait for the lock to age`)
    t.equal(lockOf(path).pid, next.child.pid)
    t.not(lockOf(path).nonce, held.nonce)
    t.match(next.output(), /Using the tokens from the token store/)
    t.equal(await seen(next.url), `Bearer ${idp.issued[1]}`)

    next.child.kill('SIGTERM')
    t.same(await next.exited, { code: 0, signal: null }, 'a clean stop')
    t.same(readdirSync(dirname(path)), ['tokens.json'], 'the lock file is gone')
  })
})

t.test('a whole temp file with a newer version than the token file is adopted by the next start, and serves', async (t) => {
  const idp = await identityProvider(t, { tokenTtlSeconds: 3600 })
  const upstream = await echoUpstream(t)
  const path = join(emptyWorkdir(), 'state', 'tokens.json')
  const env = fileStoreEnv(idp, upstream, path)
  const first = await startGatewayProcess(t, env)
  t.equal(await seen(first.url), `Bearer ${idp.issued[0]}`)
  first.child.kill('SIGTERM')
  await first.exited

  // What a kill between the temp file's fsync and its rename leaves: the next version, whole.
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { version: number }
  const fromTemp = idp.mint(3600, { sid: 'only-in-the-temp-file' })
  const temp = join(dirname(path), `.tokens.json.${first.child.pid}.0a1b2c3d.tmp`)
  writeFileSync(temp, `${JSON.stringify({ ...stored, accessToken: fromTemp, refreshToken: idp.validRefreshToken, version: stored.version + 1 }, null, 2)}\n`, { mode: 0o600 })
  const torn = join(dirname(path), `.tokens.json.${first.child.pid}.ffffffff.tmp`)
  writeFileSync(torn, '{\n  "accessToken": "eyJ', { mode: 0o600 })

  const next = await startGatewayProcess(t, env)
  t.match(next.output(), `Adopted ${temp} as the token file`)
  t.match(next.output(), /Removed 1 temp file\(s\)/)
  t.notMatch(next.output(), fromTemp, 'the adopted token is not logged')
  t.equal(await seen(next.url), `Bearer ${fromTemp}`, 'the upstream receives the adopted access token')
  t.equal(idp.calls.length, 1, 'no refresh was needed')
  t.equal(JSON.parse(readFileSync(path, 'utf8')).version, stored.version + 1)
  t.same(readdirSync(dirname(path)).sort(), ['tokens.json', 'tokens.json.lock'])
})
