// Each credential's tokens saved and restored on their own, from outside: one token file with an
// entry per credential (a damaged entry loses only itself), and Redis keys per credential shared
// by two gateway processes that refresh each credential once between them.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { emptyWorkdir, startGatewayProcess } from '../helpers/process.js'
import { SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'
import { TWO_CREDENTIALS, twoCredentialEnv } from '../helpers/severalUpstreams.js'

const CONFIG = `${TWO_CREDENTIALS}
routes:
  - path: /chat
    upstream: \${UPSTREAM}/chat
    credential: chat
  - path: /graph
    upstream: \${UPSTREAM}/graph
    credential: graph
`

async function healthOf (url: string): Promise<{ status: string, credentials: Record<string, { status: string, refreshCount: number, refreshTokenRejected: boolean }> }> {
  return await (await fetch(`${url}/health/token`)).json() as never
}

t.test('file store: one file, an entry per credential; a restart restores each; a damaged entry loses only itself', async (t) => {
  const chatIdp = await identityProvider(t)
  const graphIdp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const dir = emptyWorkdir()
  const file = join(dir, 'tokengate.yaml')
  writeFileSync(file, CONFIG)
  const storePath = join(dir, 'data', 'tokens.json')
  const env = {
    TOKENGATE_CONFIG: file,
    TOKEN_STORE: 'file',
    TOKEN_STORE_PATH: storePath,
    UPSTREAM: upstream.url,
    ...twoCredentialEnv(chatIdp, graphIdp)
  }
  const first = await startGatewayProcess(t, env, dir)
  await waitFor(() => chatIdp.calls.length === 1 && graphIdp.calls.length === 1, 5000, 'both start-up refreshes')
  t.equal((await fetch(`${first.url}/graph/x`)).status, 200)
  first.child.kill('SIGTERM')
  t.same(await first.exited, { code: 0, signal: null })

  const saved = JSON.parse(readFileSync(storePath, 'utf8')) as { credentials: Record<string, { accessToken: string, refreshToken: string }> }
  t.same(Object.keys(saved.credentials).sort(), ['chat', 'graph'])
  t.equal(saved.credentials.chat.refreshToken, chatIdp.validRefreshToken, 'chat\'s rotated refresh token, saved')
  t.equal(saved.credentials.graph.refreshToken, graphIdp.validRefreshToken, 'graph\'s, in the same file')
  t.equal(saved.credentials.chat.accessToken, chatIdp.issued[0])

  // graph's entry is damaged while the gateway is down; chat's is not touched.
  writeFileSync(storePath, JSON.stringify({ credentials: { chat: saved.credentials.chat, graph: { accessToken: 5 } } }, null, 2))
  const second = await startGatewayProcess(t, env, dir)
  await second.waitForOutput(/The stored tokens of credential graph cannot be used/)
  const chat = await (await fetch(`${second.url}/chat/x`)).json() as { authorization: string }
  t.equal(chat.authorization, `Bearer ${chatIdp.issued[0]}`, 'chat restored from its entry')
  t.equal(chatIdp.calls.length, 1, 'without a refresh')
  // graph starts again from the file's tokens, whose refresh token was spent long ago.
  await waitFor(() => graphIdp.calls.length === 2, 5000, 'graph\'s refresh with the spent token')
  const health = await healthOf(second.url)
  t.equal(health.credentials.chat.status, 'ok')
  t.equal(health.credentials.graph.refreshTokenRejected, true, 'graph lost its tokens, and only graph')
  const after = JSON.parse(readFileSync(storePath, 'utf8')) as { credentials: Record<string, unknown> }
  t.same(after.credentials.chat, saved.credentials.chat, 'chat\'s entry is as it was')
  for (const secret of [chatIdp.validRefreshToken, graphIdp.validRefreshToken, ...chatIdp.issued, ...graphIdp.issued]) {
    t.notOk(first.output().includes(secret) || second.output().includes(secret), 'no token in the log')
  }
})

t.test('Redis: keys per credential under TOKEN_STORE_KEY; two replicas refresh each credential once', async (t) => {
  const chatIdp = await identityProvider(t, { delayMs: 300 })
  const graphIdp = await identityProvider(t, { delayMs: 300 })
  const upstream = await echoUpstream(t)
  const prefix = uniquePrefix(t)
  const dir = emptyWorkdir()
  const file = join(dir, 'tokengate.yaml')
  writeFileSync(file, CONFIG)
  const env = {
    TOKENGATE_CONFIG: file,
    TOKEN_STORE: 'redis',
    REDIS_URL: SHARED_REDIS_URL,
    TOKEN_STORE_KEY: prefix,
    UPSTREAM: upstream.url,
    ...twoCredentialEnv(chatIdp, graphIdp)
  }
  const [one, two] = await Promise.all([startGatewayProcess(t, env, dir), startGatewayProcess(t, env, emptyWorkdir())])
  const answers = await Promise.all([one, two].flatMap((gw) => ['/chat/x', '/graph/x'].map(async (path) => (await fetch(`${gw.url}${path}`)).status)))
  t.same(answers, [200, 200, 200, 200])
  t.equal(chatIdp.calls.length, 1, 'one refresh of chat for both replicas')
  t.equal(graphIdp.calls.length, 1, 'one refresh of graph for both replicas')
  const client = new Redis(SHARED_REDIS_URL)
  t.teardown(() => { client.disconnect() })
  t.match(JSON.parse((await client.get(`${prefix}:chat:tokens`))!), { accessToken: chatIdp.issued[0], refreshToken: chatIdp.validRefreshToken })
  t.match(JSON.parse((await client.get(`${prefix}:graph:tokens`))!), { accessToken: graphIdp.issued[0] })
  t.equal(await client.exists(`${prefix}:tokens`), 0, 'nothing under the single-credential key')
})
