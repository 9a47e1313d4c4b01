// `npm run token:inspect` as an operator runs it (the built entry, a clean environment).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { signJwt } from '../../src/demo/jwt.js'
import { RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import { seedFingerprint } from '../../src/stores/seedFingerprint.js'
import { CHILD_ENV, ROOT, emptyWorkdir, startGatewayProcess } from '../helpers/process.js'
import { SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { nowSeconds } from '../helpers/servers.js'

const ENTRY = join(ROOT, 'dist', 'src', 'cli', 'tokenInspectMain.js')

async function inspect (env: Record<string, string>, cwd = emptyWorkdir()): Promise<{ code: number | null, out: string }> {
  const child = spawn(process.execPath, [ENTRY], { cwd, env: { PATH: process.env.PATH ?? '', ...CHILD_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, out }
}

const claims = { sub: 'user_01INSPECT', email: 'ops@example.com', iss: 'https://issuer.example', org_id: 'org_01INSPECT' }

t.test('a valid JWT: the seed report, exit 0, no UPSTREAM_URL needed', async (t) => {
  const now = nowSeconds()
  const { code, out } = await inspect({ AUTH_TOKEN: signJwt({ ...claims, iat: now - 60, exp: now + 3600 }, 'k'), REFRESH_TOKEN: 'rt', TOKEN_STORE: 'memory' })
  t.equal(code, 0)
  for (const line of [/^User ID: user_01INSPECT$/m, /^Email: ops@example.com$/m, /^Issuer: https:\/\/issuer.example$/m,
    /^Organization: org_01INSPECT$/m, /^Issued At: \d{4}-/m, /^Expires At: \d{4}-/m, /^Current Time: \d{4}-/m,
    /^Token is VALID$/m, /^Time until expiry: 0 days, 0 hours, (59|60) minutes/m, /^Refresh: configured \(json style/m]) {
    t.match(out, line)
  }
})

t.test('inside the buffer: EXPIRING, exit 0; expired: EXPIRED, exit 1; none: exit 1', async (t) => {
  const now = nowSeconds()
  const expiring = await inspect({ AUTH_TOKEN: signJwt({ ...claims, iat: now - 3000, exp: now + 120 }, 'k'), TOKEN_STORE: 'memory' })
  t.equal(expiring.code, 0)
  t.match(expiring.out, /^Token is EXPIRING/m)
  t.match(expiring.out, /^Refresh: NOT configured/m)
  const expired = await inspect({ AUTH_TOKEN: signJwt({ ...claims, iat: now - 3000, exp: now - 10 }, 'k'), TOKEN_STORE: 'memory' })
  t.equal(expired.code, 1)
  t.match(expired.out, /^Token is EXPIRED$/m)
  const none = await inspect({ TOKEN_STORE: 'memory' })
  t.equal(none.code, 1)
  t.match(none.out, /No token found/)
})

t.test('the same precedence as the gateway: the stored token when the environment is the one it was seeded from', async (t) => {
  const now = nowSeconds()
  const seedAccess = signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, 'k')
  const rotated = signJwt({ ...claims, sub: 'user_01ROTATED', iat: now, exp: now + 3600 }, 'k')
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  writeFileSync(path, JSON.stringify({
    accessToken: rotated, refreshToken: 'rt_2', expiresAtMs: null, version: 2, seedFingerprint: seedFingerprint(seedAccess, 'rt_1'), updatedAt: new Date().toISOString()
  }))
  const same = await inspect({ AUTH_TOKEN: seedAccess, REFRESH_TOKEN: 'rt_1', TOKEN_STORE_PATH: path })
  t.equal(same.code, 0, 'the stored, rotated token is valid')
  t.match(same.out, /^User ID: user_01ROTATED$/m)
  t.match(same.out, /token store \(file .*tokens\.json\), version 2/)
  const changed = await inspect({ AUTH_TOKEN: seedAccess, REFRESH_TOKEN: 'rt_other', TOKEN_STORE_PATH: path })
  t.equal(changed.code, 1, 'a different environment wins: its token is expired')
  t.match(changed.out, /AUTH_TOKEN \(environment\)/)
})

t.test('a token file of several credentials: the default entry is read', async (t) => {
  const now = nowSeconds()
  const entry = (sub: string, version: number): object => ({
    accessToken: signJwt({ ...claims, sub, iat: now, exp: now + 3600 }, 'k'), refreshToken: null, expiresAtMs: null, version, seedFingerprint: null, updatedAt: new Date().toISOString()
  })
  const path = join(emptyWorkdir(), 'tokens.json')
  writeFileSync(path, JSON.stringify({ credentials: { chat: entry('user_01CHAT', 7), default: entry('user_01DEFAULT', 4) } }))
  const { code, out } = await inspect({ TOKEN_STORE_PATH: path })
  t.equal(code, 0)
  t.match(out, /^User ID: user_01DEFAULT$/m)
  t.match(out, /token store \(file .*tokens\.json\), version 4/)
})

t.test('.env in the working folder is read, the real environment wins', async (t) => {
  const now = nowSeconds()
  const folder = emptyWorkdir()
  writeFileSync(join(folder, '.env'), `AUTH_TOKEN=${signJwt({ ...claims, sub: 'user_FROM_DOTENV', iat: now, exp: now + 600 }, 'k')}\nTOKEN_STORE=memory\n`)
  const fromFile = await inspect({}, folder)
  t.equal(fromFile.code, 0)
  t.match(fromFile.out, /^User ID: user_FROM_DOTENV$/m)
  const fromEnv = await inspect({ AUTH_TOKEN: signJwt({ ...claims, sub: 'user_FROM_ENV', iat: now, exp: now + 600 }, 'k') }, folder)
  t.match(fromEnv.out, /^User ID: user_FROM_ENV$/m)
})

t.test('client_credentials and token_exchange count as refresh configured, without a refresh token', async (t) => {
  const now = nowSeconds()
  const token = signJwt({ ...claims, iat: now, exp: now + 600 }, 'k')
  const cc = await inspect({ AUTH_TOKEN: token, TOKEN_STORE: 'memory', TOKEN_GRANT: 'client_credentials', OAUTH_CLIENT_ID: 'gateway', OAUTH_CLIENT_SECRET: 's' })
  t.equal(cc.code, 0)
  t.match(cc.out, /^Refresh: configured \(client_credentials style/m)
  t.notMatch(cc.out, /\bs\b.*secret/)
  const none = await inspect({ AUTH_TOKEN: token, TOKEN_STORE: 'memory', TOKEN_GRANT: 'client_credentials' })
  t.match(none.out, /^Refresh: NOT configured/m)
  const exchange = await inspect({ AUTH_TOKEN: token, TOKEN_STORE: 'memory', TOKEN_GRANT: 'token_exchange', OAUTH_CLIENT_ID: 'gateway', OAUTH_SUBJECT_TOKEN_FILE: '/var/run/secrets/tokens/sts' })
  t.equal(exchange.code, 0)
  t.match(exchange.out, /^Refresh: configured \(token_exchange style/m, 'token_exchange needs no refresh token either')
  const anonymous = await inspect({ AUTH_TOKEN: token, TOKEN_STORE: 'memory', TOKEN_GRANT: 'token_exchange' })
  t.match(anonymous.out, /^Refresh: NOT configured \(no REFRESH_TOKEN; with client_credentials or token_exchange, no OAUTH_CLIENT_ID\)/m)
})

t.test('token:inspect agrees with /health/token: a short token is EXPIRING from half its life, as health says', async (t) => {
  const now = nowSeconds()
  // 4-minute tokens against the 5-minute buffer: both count the buffer as half the life (2 min).
  const cases = [{ age: 60, inspect: 'VALID', health: 'ok' }, { age: 150, inspect: 'EXPIRING', health: 'expiring' }]
  for (const c of cases) {
    const token = signJwt({ ...claims, iat: now - c.age, exp: now - c.age + 240 }, 'k')
    const { code, out } = await inspect({ AUTH_TOKEN: token, TOKEN_STORE: 'memory' })
    t.equal(code, 0)
    t.match(out, new RegExp(`^Token is ${c.inspect}\\b`, 'm'), `${c.age} s old: ${c.inspect}`)
    const gw = await startGatewayProcess(t, { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: token })
    const health = await (await request(`${gw.url}/health/token`)).body.json() as { status: string }
    t.equal(health.status, c.health, `and health says ${c.health}`)
    gw.child.kill('SIGKILL')
  }
})

t.test('an opaque token with the expiry the store recorded: shown, and judged by it', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  const record = (expiresAtMs: number): string => JSON.stringify({
    accessToken: 'opaque-stored-token', refreshToken: 'rt_2', expiresAtMs, version: 3, seedFingerprint: seedFingerprint('opaque-seed', 'rt_1'), updatedAt: new Date().toISOString()
  })
  writeFileSync(path, record(Date.now() + 3600_000))
  const valid = await inspect({ AUTH_TOKEN: 'opaque-seed', REFRESH_TOKEN: 'rt_1', TOKEN_STORE_PATH: path })
  t.equal(valid.code, 0)
  t.match(valid.out, /^Expires At: \d{4}-.* \(recorded by the token store\)$/m)
  t.match(valid.out, /^Token is VALID$/m)
  writeFileSync(path, record(Date.now() - 1000))
  const expired = await inspect({ AUTH_TOKEN: 'opaque-seed', REFRESH_TOKEN: 'rt_1', TOKEN_STORE_PATH: path })
  t.equal(expired.code, 1)
  t.match(expired.out, /^Token is EXPIRED$/m)
})

/** A TOKENGATE_CONFIG file of two credentials, chat (its token in the file) and search (in a file of its own). */
function twoCredentials (folder: string, chatSeed: string, searchSeed: string): { config: string, searchTokenFile: string } {
  const searchTokenFile = join(folder, 'search-token')
  writeFileSync(searchTokenFile, searchSeed)
  const config = join(folder, 'tokengate.json')
  writeFileSync(config, JSON.stringify({
    credentials: {
      chat: { tokenUrl: 'https://idp.example/token', accessToken: chatSeed, refreshToken: 'rt_chat_secret' },
      search: { tokenUrl: 'https://idp.example/token', accessTokenFile: searchTokenFile, refreshToken: 'rt_search_secret' }
    },
    routes: [{ path: '/chat', upstream: 'https://api.example', credential: 'chat' }, { path: '/search', upstream: 'https://api.example', credential: 'search' }]
  }))
  return { config, searchTokenFile }
}

t.test('with TOKENGATE_CONFIG: a report per credential, each from its own entry of the token file', async (t) => {
  const now = nowSeconds()
  const folder = emptyWorkdir()
  const chatSeed = signJwt({ ...claims, sub: 'user_01CHAT', iat: now - 60, exp: now + 3600 }, 'k')
  const searchSeed = signJwt({ ...claims, sub: 'user_01SEARCH', iat: now - 7200, exp: now - 3600 }, 'k')
  const { config, searchTokenFile } = twoCredentials(folder, chatSeed, searchSeed)
  const tokens = join(folder, 'tokens.json')
  const env = { TOKENGATE_CONFIG: config, TOKEN_STORE_PATH: tokens }

  const seeds = await inspect(env)
  t.equal(seeds.code, 1, 'exit 1: one credential\'s token is expired')
  const [chat, search] = seeds.out.split(/^(?=Credential: )/m)
  t.match(chat, /^Credential: chat\n/)
  t.match(chat, new RegExp(`^Token source: credentials\\.chat\\.accessToken \\(${config}\\)$`, 'm'))
  t.match(chat, /^User ID: user_01CHAT$/m)
  t.match(chat, /^Token is VALID$/m)
  t.match(search, /^Credential: search\n/)
  t.match(search, new RegExp(`^Token source: credentials\\.search\\.accessTokenFile \\(${searchTokenFile}\\)$`, 'm'))
  t.match(search, /^Token is EXPIRED$/m)

  // The gateway rotated search's token; the file also holds a `default` entry, which is no credential of this configuration.
  const entry = (sub: string, version: number, seed: string | null): object => ({
    accessToken: signJwt({ ...claims, sub, iat: now, exp: now + 3600 }, 'k'), refreshToken: 'rt_rotated_secret', expiresAtMs: null, version, seedFingerprint: seed, updatedAt: new Date().toISOString()
  })
  writeFileSync(tokens, JSON.stringify({ credentials: { search: entry('user_01ROTATED', 5, seedFingerprint(searchSeed, 'rt_search_secret')), default: entry('user_01DEFAULT', 9, null) } }))
  const stored = await inspect(env)
  t.equal(stored.code, 0, 'both usable now')
  const [chatAgain, searchAgain] = stored.out.split(/^(?=Credential: )/m)
  t.match(chatAgain, /^User ID: user_01CHAT$/m, 'chat has no entry: its configured token')
  t.match(searchAgain, /^User ID: user_01ROTATED$/m)
  t.match(searchAgain, new RegExp(`^Token source: token store \\(file ${tokens}\\), version 5$`, 'm'))
  t.notMatch(stored.out, /user_01DEFAULT/, 'the default entry is not one of the file\'s credentials')
  t.notMatch(stored.out + seeds.out, /_secret/, 'no refresh token in the reports')
})

t.test('with TOKENGATE_CONFIG and the Redis store: each credential\'s own key', async (t) => {
  const now = nowSeconds()
  const folder = emptyWorkdir()
  const searchSeed = signJwt({ ...claims, sub: 'user_01SEARCH', iat: now - 7200, exp: now - 3600 }, 'k')
  const { config } = twoCredentials(folder, signJwt({ ...claims, iat: now, exp: now + 3600 }, 'k'), searchSeed)
  const prefix = uniquePrefix(t)
  const client = new Redis(SHARED_REDIS_URL)
  t.teardown(() => { client.disconnect() })
  await new RedisTokenStore(client, { keyPrefix: `${prefix}:search` }).save({
    accessToken: signJwt({ ...claims, sub: 'user_01ROTATED', iat: now, exp: now + 3600 }, 'k'), refreshToken: 'rt_rotated_secret', expiresAtMs: null, version: 3, seedFingerprint: seedFingerprint(searchSeed, 'rt_search_secret'), updatedAt: new Date().toISOString()
  })
  const { code, out } = await inspect({ TOKENGATE_CONFIG: config, TOKEN_STORE: 'redis', REDIS_URL: SHARED_REDIS_URL, TOKEN_STORE_KEY: prefix })
  t.equal(code, 0)
  const [chat, search] = out.split(/^(?=Credential: )/m)
  t.match(chat, /^Token source: credentials\.chat\.accessToken /m)
  t.match(search, /^User ID: user_01ROTATED$/m)
  t.match(search, new RegExp(`^Token source: token store \\(Redis key ${prefix}:search:tokens\\), version 3$`, 'm'))
})

t.test('a TOKENGATE_CONFIG the gateway would refuse: exit 1 naming the field, nothing inspected', async (t) => {
  const folder = emptyWorkdir()
  const config = join(folder, 'tokengate.json')
  writeFileSync(config, JSON.stringify({ credentials: { chat: { accessToken: 'opaque' } }, routes: [{ path: '/chat', upstream: 'https://api.example', credential: 'search' }] }))
  const { code, out } = await inspect({ TOKENGATE_CONFIG: config, TOKEN_STORE: 'memory' })
  t.equal(code, 1)
  t.match(out, /^token:inspect: routes\[0\]\.credential: /m)
  t.notMatch(out, /Token Inspection/)
})
