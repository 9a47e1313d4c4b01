// The Redis store says at start-up when Redis may lose a write it has acknowledged (a rotated
// refresh token among them): real redis-servers with each persistence setting.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { privateRedis, uniquePrefix } from '../helpers/redis.js'
import { echoUpstream } from '../helpers/servers.js'

interface LogLine { level: number, msg: string }

async function gatewayOn (t: Test, redisUrl: string): Promise<TestGateway> {
  const upstream = await echoUpstream(t)
  return startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-1', TOKEN_STORE: 'redis', REDIS_URL: redisUrl, TOKEN_STORE_KEY: uniquePrefix(t, redisUrl), LOG_LEVEL: 'info'
  })
}

function aboutPersistence (gw: TestGateway): LogLine[] {
  return gw.logs.map((line) => JSON.parse(line) as LogLine).filter((entry) => /appendfsync|append-only file/.test(entry.msg))
}

// The append-only file goes to a folder of the test's own.
const aofFolder = (): string => mkdtempSync(join(tmpdir(), 'tokengate-aof-'))

t.test('appendonly yes and appendfsync always: nothing to say', async (t) => {
  const redis = await privateRedis(t, ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', aofFolder()])
  const gw = await gatewayOn(t, redis.url)
  t.same(aboutPersistence(gw), [])
})

t.test('appendfsync everysec (Redis\'s default): a warning naming the setting to change', async (t) => {
  const redis = await privateRedis(t, ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', aofFolder()])
  const gw = await gatewayOn(t, redis.url)
  t.match(aboutPersistence(gw), [{
    level: 40,
    msg: 'Redis fsyncs its append-only file with appendfsync everysec, not on every write: a crash of its machine can lose the last second of writes, the last rotated refresh token among them; run Redis with appendfsync always'
  }])
})

t.test('no append-only file: a warning', async (t) => {
  const redis = await privateRedis(t, ['--appendonly', 'no'])
  const gw = await gatewayOn(t, redis.url)
  t.match(aboutPersistence(gw), [{ level: 40, msg: /^Redis runs without its append-only file \(appendonly no\): .*run Redis with appendonly yes and appendfsync always$/ }])
})

t.test('CONFIG refused (renamed away, as managed services do): an info line, not a warning, and the gateway starts', async (t) => {
  const redis = await privateRedis(t, ['--rename-command', 'CONFIG', ''])
  const gw = await gatewayOn(t, redis.url)
  const lines = aboutPersistence(gw)
  t.equal(lines.length, 1)
  t.equal(lines[0]!.level, 30)
  t.match(lines[0]!.msg, /^could not read Redis's persistence settings \(CONFIG GET: ERR unknown command .*\); make sure Redis runs with appendonly yes and appendfsync always/)
})
