// The store plugin's stores per credential: without a configuration file (gatewayConfig.configFile
// unset or null) the gateway has `default` alone, stored exactly as before, and tokenStore is its
// store; with one, every credential is kept apart by its name. The store plugin runs on its own
// here, after a stand-in for the config plugin that sets configFile.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import storePlugin from '../../plugins/store.js'
import { resolveConfig, type GatewayConfig } from '../../src/config/gatewayConfig.js'
import type { RedisTokenStore } from '../../src/stores/redisTokenStore.js'
import { startGateway } from '../helpers/app.js'
import { validate } from '../helpers/config.js'
import { emptyWorkdir } from '../helpers/process.js'
import { SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { echoUpstream, waitFor } from '../helpers/servers.js'
import { record } from '../helpers/stores.js'

interface Stores { app: FastifyInstance, logs: Array<{ level: number, msg: string }> }

/** The store plugin alone, over the configuration the environment `env` gives, with `configFile` set as given. */
async function storesOf (t: Test, env: Record<string, string>, configFile: string | null): Promise<Stores> {
  const logs: Array<{ level: number, msg: string }> = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } } })
  const config: GatewayConfig = { ...resolveConfig(validate({ UPSTREAM_URL: 'http://127.0.0.1:9', ...env })), configFile }
  await app.register(fp(async (instance) => { instance.decorate('gatewayConfig', config) }, { name: 'tokengate-config' }))
  await app.register(storePlugin)
  await app.ready()
  t.teardown(() => app.close())
  return { app, logs }
}

t.test('without a configuration file: tokenStore is default\'s store, kept in the single record of earlier versions', async (t) => {
  const upstream = await echoUpstream(t)
  const path = join(emptyWorkdir(), 'tokens.json')
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-env', TOKEN_STORE: 'file', TOKEN_STORE_PATH: path })
  t.equal(gw.app.gatewayConfig.configFile, null)
  t.equal(gw.app.tokenStores.kind, 'file')
  t.equal(gw.app.tokenStores.namespaced, false)
  t.equal(gw.app.tokenStore, gw.app.tokenStores.forCredential('default'))
  t.throws(() => gw.app.tokenStores.forCredential('chat'), { code: 'TOKENGATE_STORE_FAILED' })
  await gw.app.tokenService.replaceTokens('opaque-replaced', 'rt-replaced')
  const text = readFileSync(path, 'utf8')
  t.match(JSON.parse(text), { accessToken: 'opaque-replaced', refreshToken: 'rt-replaced', version: 2 })
  t.equal(text, `${JSON.stringify(JSON.parse(text), null, 2)}\n`, 'the format of earlier versions')
})

t.test('without a configuration file: Redis keeps default under TOKEN_STORE_KEY as before; memory has default alone', async (t) => {
  const upstream = await echoUpstream(t)
  const prefix = uniquePrefix(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-env', TOKEN_STORE: 'redis', REDIS_URL: SHARED_REDIS_URL, TOKEN_STORE_KEY: prefix })
  t.equal(gw.app.tokenStores.kind, 'redis')
  t.equal(gw.app.tokenStores.namespaced, false)
  t.equal((gw.app.tokenStore as RedisTokenStore).recordKey, `${prefix}:tokens`)
  const client = new Redis(SHARED_REDIS_URL)
  t.teardown(() => { client.disconnect() })
  t.match(JSON.parse((await client.get(`${prefix}:tokens`))!), { accessToken: 'opaque-env' })

  const memory = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-env' })
  t.equal(memory.app.tokenStores.kind, 'memory')
  t.equal(memory.app.tokenStore, memory.app.tokenStores.forCredential('default'))
  t.throws(() => memory.app.tokenStores.forCredential('chat'), { code: 'TOKENGATE_STORE_FAILED' })
})

t.test('configFile null is no configuration file', async (t) => {
  const { app } = await storesOf(t, { TOKEN_STORE: 'memory' }, null)
  t.equal(app.tokenStores.namespaced, false)
})

t.test('with a configuration file: one token file, every credential an entry of it; close lets the lock go', async (t) => {
  const folder = emptyWorkdir()
  const path = join(folder, 'tokens.json')
  const { app } = await storesOf(t, { TOKEN_STORE: 'file', TOKEN_STORE_PATH: path }, '/etc/tokengate/gateway.yaml')
  t.equal(app.tokenStores.namespaced, true)
  t.equal(app.tokenStore, app.tokenStores.forCredential('default'))
  await app.tokenStores.forCredential('chat').save(record(1))
  await app.tokenStore.save(record(2))
  t.same(JSON.parse(readFileSync(path, 'utf8')), { credentials: { chat: record(1), default: record(2) } })
  t.same(readdirSync(folder).sort(), ['tokens.json', 'tokens.json.lock'])
  await app.close()
  t.same(readdirSync(folder), ['tokens.json'])
})

t.test('with a configuration file: a token file that is no longer JSON is moved aside at the next save, with a warning', async (t) => {
  const folder = join(emptyWorkdir(), 'state')
  mkdirSync(folder, { mode: 0o700 })
  const path = join(folder, 'tokens.json')
  const { app, logs } = await storesOf(t, { TOKEN_STORE: 'file', TOKEN_STORE_PATH: path }, '/etc/tokengate/gateway.yaml')
  writeFileSync(path, 'garbage', { mode: 0o600 })
  await app.tokenStores.forCredential('chat').save(record(1))
  const warning = logs.find((line) => line.msg.includes('is not valid JSON'))
  t.match(warning, { level: 40, msg: new RegExp(`^The token file ${path} is not valid JSON; moved it to ${path}\\.corrupt-.+ before saving, so that the tokens it may hold are kept$`) })
  t.same(JSON.parse(readFileSync(path, 'utf8')), { credentials: { chat: record(1) } })
})

t.test('with a configuration file: Redis keeps each credential under TOKEN_STORE_KEY:<name>, on one client, subscriptions closed with the app', async (t) => {
  const prefix = uniquePrefix(t)
  const { app } = await storesOf(t, { TOKEN_STORE: 'redis', REDIS_URL: SHARED_REDIS_URL, TOKEN_STORE_KEY: prefix }, '/etc/tokengate/gateway.yaml')
  t.equal(app.tokenStores.namespaced, true)
  t.equal((app.tokenStore as RedisTokenStore).recordKey, `${prefix}:default:tokens`)
  const chat = app.tokenStores.forCredential('chat') as RedisTokenStore
  t.equal(chat.recordKey, `${prefix}:chat:tokens`)
  const announced: number[] = []
  await chat.subscribe({ onAnnounced: (version) => { announced.push(version) }, onDisconnected: () => {}, onReconnected: () => {} })
  await chat.save(record(4))
  await waitFor(() => announced.length === 1, 5_000, 'the announcement')
  t.same(announced, [4])
  const redis = app.redis!
  await app.close()
  await waitFor(() => redis.status === 'end', 5_000, 'the client to end')
  t.equal(redis.listenerCount('close'), 0, 'the subscriptions ended before the client quit')
})

t.test('with a configuration file: memory keeps every credential apart', async (t) => {
  const { app } = await storesOf(t, { TOKEN_STORE: 'memory' }, '/etc/tokengate/gateway.yaml')
  t.equal(app.tokenStores.namespaced, true)
  await app.tokenStores.forCredential('chat').save(record(1))
  t.equal(await app.tokenStore.load(), null)
})
