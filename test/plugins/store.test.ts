// The store and token plugins in-process: which store TOKEN_STORE builds, start-up precedence
// and its failure modes, and the Redis wiring (announcements between replicas, outage, resync).
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { buildApp } from '../../src/app.js'
import { ConfigError } from '../../src/errors.js'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { canLockFolders, emptyWorkdir, lockFolder } from '../helpers/process.js'
import { freePort, privateRedis, SHARED_REDIS_URL, uniquePrefix, type PrivateRedis } from '../helpers/redis.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'

async function buildFails (env: Record<string, string>): Promise<ConfigError> {
  try {
    const app = await buildApp({ env: { UPSTREAM_URL: 'http://127.0.0.1:9', ...env }, logStream: { write: () => {} } })
    await app.ready()
    await app.close()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

const LOCKABLE = canLockFolders() ? false : 'chattr is not available to make a folder unwritable for root'

t.test('redis: an unreachable REDIS_URL stops start-up naming the variable, without the password', async (t) => {
  const port = await freePort()
  const err = await buildFails({ AUTH_TOKEN: 'a', TOKEN_STORE: 'redis', REDIS_URL: `redis://:s3cret-pass@127.0.0.1:${port}` })
  t.equal(err.problems[0].variable, 'REDIS_URL')
  t.match(err.problems[0].message, /cannot connect to Redis at redis:\/\/:\*\*\*@127\.0\.0\.1/)
  t.notMatch(err.message, /s3cret-pass/)
})

t.test('redis: a REDIS_URL that is not a redis URL is a configuration error', async (t) => {
  const err = await buildFails({ AUTH_TOKEN: 'a', TOKEN_STORE: 'redis', REDIS_URL: 'http://127.0.0.1:6379' })
  t.same(err.problems, [{ variable: 'REDIS_URL', message: 'must be a redis:// or rediss:// URL' }])
})

t.test('redis: a stored record that is not a record stops start-up', async (t) => {
  const prefix = uniquePrefix(t)
  const client = redisClient(t, SHARED_REDIS_URL)
  await client.set(`${prefix}:tokens`, '{"accessToken": 12}')
  const err = await buildFails({ AUTH_TOKEN: 'a', TOKEN_STORE: 'redis', REDIS_URL: SHARED_REDIS_URL, TOKEN_STORE_KEY: prefix })
  t.equal(err.problems[0].variable, 'REDIS_URL')
  t.match(err.problems[0].message, /cannot read the stored tokens/)
})

t.test('redis: two gateways in one process share refreshes and announcements', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const env = {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(-30),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_STORE: 'redis',
    REDIS_URL: SHARED_REDIS_URL,
    TOKEN_STORE_KEY: uniquePrefix(t)
  }
  const [a, b] = await Promise.all([startGateway(t, env), startGateway(t, env)])
  const seen = await Promise.all([a, b, a, b].map(async (gw) => {
    const res = await request(`${gw.url}/x`)
    return (await res.body.json() as { authorization: string }).authorization
  }))
  t.equal(idp.calls.length, 1, 'one refresh for both')
  t.same(new Set(seen), new Set([`Bearer ${idp.issued[0]}`]))
  const health = await request(`${a.url}/health/token`)
  t.equal((await health.body.json() as { store: string }).store, 'redis')

  await a.app.tokenService.refreshAccessToken('admin')
  t.equal(idp.calls.length, 2)
  t.equal(idp.calls[1].status, 200)
  await waitFor(() => b.app.tokenService.currentRecord()?.accessToken === idp.issued[1], 5000, 'the announcement to reach b')
  t.match(b.logText(), /Token updated by another replica/)
})

/** A gateway on a private Redis (keys under `tg`), serving AUTH_TOKEN opaque-1; then the Redis is stopped and the outage shows in health. */
async function gatewayAfterRedisStopped (t: Test): Promise<{ redis: PrivateRedis, gw: TestGateway }> {
  const redis = await privateRedis(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-1', TOKEN_STORE: 'redis', REDIS_URL: redis.url, TOKEN_STORE_KEY: 'tg' })
  await redis.stop()
  await waitFor(() => gw.app.tokenService.getHealth().storeError !== null, 5000, 'the outage to show')
  return { redis, gw }
}

function redisClient (t: Test, url: string): Redis {
  const client = new Redis(url)
  t.teardown(() => client.disconnect())
  return client
}

t.test('redis: an outage is reported, the cached token serves, and a restarted Redis gets the tokens back', async (t) => {
  const { redis, gw } = await gatewayAfterRedisStopped(t)
  t.match(gw.app.tokenService.getHealth().storeError, /Redis unavailable/)
  const res = await request(`${gw.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, 'Bearer opaque-1')
  await gw.app.tokenService.checkAndRefresh()
  t.match(gw.logText(), /Token store unreachable; serving the cached token/)

  await redis.start()
  await waitFor(() => /wrote the cached tokens back/.test(gw.logText()), 10_000, 'the resync')
  t.equal(gw.app.tokenService.getHealth().storeError, null)
  const client = redisClient(t, redis.url)
  t.equal(JSON.parse((await client.get('tg:tokens'))!).accessToken, 'opaque-1', 'Redis holds the tokens again')
})

t.test('redis: after a reconnect a newer record in Redis is taken', async (t) => {
  const { redis, gw } = await gatewayAfterRedisStopped(t)
  await redis.start()
  const client = redisClient(t, redis.url)
  await client.set('tg:tokens', JSON.stringify({ accessToken: 'opaque-from-elsewhere', refreshToken: null, expiresAtMs: null, version: 9, seedFingerprint: null, updatedAt: new Date().toISOString() }))
  await waitFor(() => gw.app.tokenService.currentRecord()?.accessToken === 'opaque-from-elsewhere', 10_000, 'the newer record to be taken')
  t.equal(gw.app.tokenService.currentRecord()?.version, 9)
})

t.test('redis: a reconnect while another process holds the lock only reads', async (t) => {
  const { redis, gw } = await gatewayAfterRedisStopped(t)
  await redis.start()
  const client = redisClient(t, redis.url)
  await client.set('tg:refresh-lock', 'someone-else', 'PX', 60_000)
  await client.set('tg:tokens', JSON.stringify({ accessToken: 'opaque-2', refreshToken: null, expiresAtMs: null, version: 5, seedFingerprint: null, updatedAt: new Date().toISOString() }))
  await waitFor(() => gw.app.tokenService.currentRecord()?.accessToken === 'opaque-2', 10_000, 'the record to be read')
  t.equal(await client.get('tg:refresh-lock'), 'someone-else', 'the other holder\'s lock is untouched')
})

t.test('file: a corrupt file that cannot be moved aside stops start-up', { skip: LOCKABLE }, async (t) => {
  const folder = join(emptyWorkdir(), 'frozen')
  mkdirSync(folder, { mode: 0o700 })
  const path = join(folder, 'tokens.json')
  writeFileSync(path, 'garbage', { mode: 0o600 })
  lockFolder(t, folder)
  const err = await buildFails({ AUTH_TOKEN: 'a', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.equal(err.problems[0].variable, 'TOKEN_STORE_PATH')
  t.match(err.problems[0].message, /nor moved aside/)
})

t.test('file: environment tokens that cannot be saved at start-up are served from memory and reported', { skip: LOCKABLE }, async (t) => {
  const folder = join(emptyWorkdir(), 'frozen')
  mkdirSync(folder, { mode: 0o700 })
  lockFolder(t, folder)
  const upstream = await echoUpstream(t)
  const path = join(folder, 'tokens.json')
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-env', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  const warning = gw.logs.map((text) => JSON.parse(text) as { level: number, msg: string }).find((entry) => entry.msg.startsWith('cannot lock'))
  t.match(warning, { level: 40, msg: `cannot lock the token file ${path} (${process.getuid?.() === 0 ? 'EPERM' : 'EACCES'}): starting without the lock; the first save that can takes it` })
  t.match(gw.logText(), /Could not save the tokens to the store; serving them from memory/)
  t.match(gw.app.tokenService.getHealth().storeError, /cannot write the token file/)
  const res = await request(`${gw.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, 'Bearer opaque-env')
})

t.test('file: the stored tokens win when the environment is the one they came from; a folder open to others is warned about', async (t) => {
  const folder = join(emptyWorkdir(), 'open')
  mkdirSync(folder, { mode: 0o755 })
  chmodSync(folder, 0o755)
  const path = join(folder, 'tokens.json')
  const upstream = await echoUpstream(t)
  const first = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-env', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  await first.app.tokenService.replaceTokens('opaque-replaced', 'rt-replaced')
  await first.app.close()
  t.equal(JSON.parse(readFileSync(path, 'utf8')).accessToken, 'opaque-replaced')
  const second = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-env', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.match(second.logText(), /Using the tokens from the token store/)
  t.match(second.logText(), /is readable by other users/, 'the folder is 0755')
  const res = await request(`${second.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, 'Bearer opaque-replaced')
  t.same(readdirSync(folder).sort(), ['tokens.json', 'tokens.json.lock'], 'the token file, and the lock of the running gateway')
})

/** A lock file as a gateway on another host leaves it, its heartbeat `ageMs` old. */
function foreignLock (path: string, ageMs = 0): void {
  writeFileSync(`${path}.lock`, JSON.stringify({ pid: 4242, hostname: 'gw-elsewhere', startedAt: '2026-11-30T12:00:00.000Z', nonce: 'theirs' }), { mode: 0o600 })
  const at = new Date(Date.now() - ageMs)
  utimesSync(`${path}.lock`, at, at)
}

t.test('file: a token file another gateway holds stops start-up naming TOKEN_STORE_PATH, the path and the holder', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  foreignLock(path)
  const err = await buildFails({ AUTH_TOKEN: 'a', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.same(err.problems, [{
    variable: 'TOKEN_STORE_PATH',
    message: `${path} is in use by another gateway (pid 4242 on host gw-elsewhere, since 2026-11-30T12:00:00.000Z; lock file ${path}.lock): stop that gateway, or give this one a TOKEN_STORE_PATH of its own`
  }])
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).nonce, 'theirs', 'their lock is untouched')
  t.same(readdirSync(folder), ['tokens.json.lock'], 'nothing written')

  foreignLock(path, 31_000)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.equal(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, process.pid, 'its heartbeat 31 s old: taken over')
  await gw.app.close()
  t.same(readdirSync(folder), ['tokens.json'], 'and let go on close')
})

t.test('file: a start-up that fails after the lock was taken lets it go', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  writeFileSync(path, 'not a record', { mode: 0o600 })
  const err = await buildFails({ TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.match(err.problems[0].message, 'cannot be used')
  t.same(readdirSync(folder), ['tokens.json'], 'no lock left behind')
})

t.test('file: a lost lock is logged as an error; saves then fail while the other gateway holds it', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-1', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  foreignLock(path)
  await gw.app.tokenService.replaceTokens('opaque-2', null)
  const line = gw.logs.map((text) => JSON.parse(text) as { level: number, msg: string, path?: string }).find((entry) => entry.msg.startsWith('Lost the lock'))
  t.match(line, {
    level: 50,
    path,
    msg: `Lost the lock on the token file: the lock file ${path}.lock was taken over by another process while this gateway held it; each save takes it again first, and fails while another gateway holds it`
  })
  t.match(gw.app.tokenService.getHealth().storeError, `cannot write the token file ${path}: another gateway holds its lock (pid 4242 on host gw-elsewhere`)
  t.equal(JSON.parse(readFileSync(path, 'utf8')).accessToken, 'opaque-1', 'the other gateway\'s file is not written')
  const res = await request(`${gw.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, 'Bearer opaque-2', 'served from memory')
})

t.test('file: a temp file that cannot be adopted stops start-up naming TOKEN_STORE_PATH, and lets the lock go', { skip: process.getuid?.() === 0 ? false : 'chattr +i needs root' }, async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  const stored = { accessToken: 'opaque-1', refreshToken: null, expiresAtMs: null, version: 1, seedFingerprint: null, updatedAt: new Date().toISOString() }
  writeFileSync(path, JSON.stringify(stored), { mode: 0o600 })
  writeFileSync(join(folder, '.tokens.json.77.0123abcd.tmp'), JSON.stringify({ ...stored, version: 2 }), { mode: 0o600 })
  t.teardown(() => { execFileSync('chattr', ['-i', path]) })
  execFileSync('chattr', ['+i', path])
  const err = await buildFails({ AUTH_TOKEN: 'a', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.same(err.problems, [{ variable: 'TOKEN_STORE_PATH', message: `cannot recover the temp files beside the token file ${path} (EPERM)` }])
  t.same(readdirSync(folder).sort(), ['.tokens.json.77.0123abcd.tmp', 'tokens.json'], 'the newer tokens kept, the lock let go')
})
