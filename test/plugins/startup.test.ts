// Start-up in-process: which tokens the gateway starts with, what stops it, and the
// environment read from process.env and .env.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { buildApp, loggerOptions } from '../../src/app.js'
import { ConfigError } from '../../src/errors.js'
import { startGateway } from '../helpers/app.js'
import { emptyWorkdir } from '../helpers/process.js'
import { privateRedis } from '../helpers/redis.js'
import { echoUpstream, waitFor } from '../helpers/servers.js'

async function startupError (env: Record<string, string>): Promise<ConfigError> {
  const err = await buildApp({ env: { UPSTREAM_URL: 'http://127.0.0.1:9', TOKEN_STORE: 'memory', ...env }, logStream: { write: () => {} } })
    .then(async (app) => { await app.close(); return null }, (e: unknown) => e)
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`)
  return err
}

t.test('a bad environment: every problem, each naming its variable', async (t) => {
  const err = await startupError({ AUTH_TOKEN: 'a', PORT: 'eighty', TOKEN_REFRESH_INTERVAL: '0', LOG_LEVEL: 'loud' })
  t.same(err.problems.map((p) => p.variable).sort(), ['LOG_LEVEL', 'PORT', 'TOKEN_REFRESH_INTERVAL'])
})

t.test('no AUTH_TOKEN and nothing stored: start-up names AUTH_TOKEN', async (t) => {
  const err = await startupError({ REFRESH_TOKEN: 'rt' })
  t.same(err.problems.map((p) => p.variable), ['AUTH_TOKEN'])
  t.match(err.problems[0].message, /token store holds none/)
})

t.test('no AUTH_TOKEN and an empty store that start-up must read first (Redis, a token file of no tokens yet): named after the read', async (t) => {
  const redis = await startupError({ REFRESH_TOKEN: 'rt', TOKEN_STORE: 'redis', TOKEN_STORE_KEY: `tokengate-test:startup:${process.pid}:${Date.now()}` })
  t.same(redis.problems, [{ variable: 'AUTH_TOKEN', message: 'is required (the initial access token, JWT or opaque): the token store holds none' }])
  // A file that exists was not judged by the configuration: the store says it holds nothing.
  const path = join(emptyWorkdir(), 'tokens.json')
  writeFileSync(path, '', { mode: 0o600 })
  const file = await startupError({ REFRESH_TOKEN: 'rt', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.same(file.problems.map((p) => p.variable), ['TOKEN_STORE_PATH'], 'an empty file is not a record: named as the file')
})

t.test('a corrupt token file without AUTH_TOKEN stops start-up naming the file; with it the file is moved aside', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  writeFileSync(path, '[1, 2]', { mode: 0o600 })
  const err = await startupError({ TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.equal(err.problems[0].variable, 'TOKEN_STORE_PATH')
  t.match(err.problems[0].message, `${path} cannot be used`)

  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.match(gw.logText(), /moved it to .*tokens\.json\.corrupt-/)
  t.equal(readdirSync(folder).filter((name) => name.includes('.corrupt-')).length, 1)
})

t.test('temp files an interrupted write left: a newer whole record is adopted, the rest removed, with warnings naming paths only', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  const upstream = await echoUpstream(t)
  const first = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  await first.app.close()
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { version: number }
  // What a kill between the temp file's fsync and its rename leaves, and a kill in the middle of its write.
  const newer = join(folder, `.tokens.json.${process.pid}.0000beef.tmp`)
  writeFileSync(newer, JSON.stringify({ ...stored, accessToken: 'opaque-from-the-temp-file', version: stored.version + 1 }), { mode: 0o600 })
  const torn = join(folder, `.tokens.json.${process.pid}.deadbeef.tmp`)
  writeFileSync(torn, '{"accessToken":"at_half_written"', { mode: 0o600 })

  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  const entries = gw.logs.map((text) => JSON.parse(text) as { level: number, msg: string, paths?: string[], adopted?: string, path?: string })
  t.match(entries.find((entry) => entry.msg.startsWith('Adopted ')), {
    level: 40, adopted: newer, path, msg: `Adopted ${newer} as the token file: an interrupted write had saved newer tokens in it`
  })
  t.match(entries.find((entry) => entry.msg.startsWith('Removed 1 temp file')), { level: 40, paths: [torn] })
  t.same(readdirSync(folder).sort(), ['tokens.json', 'tokens.json.lock'], 'the token file, and the lock while the gateway runs')
  const res = await request(`${gw.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, 'Bearer opaque-from-the-temp-file', 'the adopted tokens serve')
  t.notMatch(gw.logText(), 'at_half_written', 'no temp file\'s content is logged')
  t.notMatch(gw.logText(), 'opaque-from-the-temp-file')
})

t.test('environment tokens that differ from the seed win, and say so', async (t) => {
  const path = join(emptyWorkdir(), 'tokens.json')
  const upstream = await echoUpstream(t)
  const first = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-1', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  await first.app.close()
  const second = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-2', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.match(second.logText(), /differ from the ones the store was seeded from/)
  const res = await request(`${second.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, 'Bearer opaque-2')
})

t.test('the logger writes to stdout unless given a stream, and redacts credentials', async (t) => {
  const options = loggerOptions() as { level: string, stream?: unknown, formatters: { log: (line: object) => object } }
  t.equal(options.level, 'info')
  t.equal(options.stream, undefined)
  t.same(options.formatters.log({ req: { headers: { authorization: 'Bearer x' } } }), { req: { headers: { authorization: '[redacted]' } } })
})

t.test('without injected variables the environment and .env are read; the environment wins', async (t) => {
  const folder = emptyWorkdir()
  writeFileSync(join(folder, '.env'), 'UPSTREAM_URL=http://127.0.0.1:1\nAUTH_TOKEN=from-dotenv\nTOKEN_STORE=memory\nLOG_LEVEL=silent\n')
  const cwd = process.cwd()
  const saved = { ...process.env }
  t.teardown(() => {
    process.chdir(cwd)
    process.env = saved
  })
  process.chdir(folder)
  process.env.AUTH_TOKEN = 'from-environment'
  const app = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  t.equal(app.gatewayConfig.authToken, 'from-environment', 'the real environment wins over .env')
  t.equal(app.gatewayConfig.upstream.href, 'http://127.0.0.1:1/', '.env filled the rest')
  t.equal(app.log.level, 'silent')
})

t.test('redis: an admin action that cannot reach Redis answers 500 without detail; errors are reported once per outage', async (t) => {
  const redis = await privateRedis(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-1', TOKEN_STORE: 'redis', REDIS_URL: redis.url, TOKEN_STORE_KEY: 'tg', GATEWAY_ADMIN_KEY: 'k'
  })
  let errors = 0
  gw.app.redis!.on('error', () => { errors++ })
  await redis.stop()
  await waitFor(() => errors >= 2, 10_000, 'two reconnect failures')
  t.equal(gw.logText().split('Redis connection error').length - 1, 1, 'one warning for the whole outage')
  const res = await request(`${gw.url}/admin/token`, {
    method: 'PUT', headers: { 'x-admin-key': 'k', 'content-type': 'application/json' }, body: JSON.stringify({ accessToken: 'opaque-2' })
  })
  t.equal(res.statusCode, 500)
  t.same(await res.body.json(), { error: 'internal_error', message: 'the admin action failed' })
  t.match(gw.logText(), /Admin route failed/)
  await redis.start()
  await waitFor(() => /wrote the cached tokens back/.test(gw.logText()), 10_000, 'the resync')
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  t.equal(JSON.parse((await client.get('tg:tokens'))!).accessToken, 'opaque-1', 'the refused replacement was not half-applied')
})

t.test('folders for the file store are created on demand', async (t) => {
  const base = emptyWorkdir()
  mkdirSync(join(base, 'a'))
  const path = join(base, 'a', 'b', 'c', 'tokens.json')
  const upstream = await echoUpstream(t)
  await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.same(readdirSync(join(base, 'a', 'b', 'c')).sort(), ['tokens.json', 'tokens.json.lock'])
})
