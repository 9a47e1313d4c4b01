// Several upstreams from outside: the built gateway started with TOKENGATE_CONFIG (as `npm start`
// does), two identity providers and two upstreams of their own, spoken to over HTTP. Routing by
// the longest prefix, one credential per route, health, admin and metrics per credential, and one
// credential's dead identity provider never slowing the other's routes.
import { writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { emptyWorkdir, startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'
import { TWO_CREDENTIALS } from '../helpers/severalUpstreams.js'

const ADMIN_KEY = 'admin-key-several-upstreams'

/** A server that accepts connections and never answers: an identity provider black-holed. */
async function blackHole (t: { teardown (fn: () => unknown): void }): Promise<string> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/token`
}

function configFile (dir: string, yaml: string): string {
  const path = join(dir, 'tokengate.yaml')
  writeFileSync(path, yaml)
  return path
}

const TWO_ROUTES = `${TWO_CREDENTIALS}
routes:
  - path: /chat
    upstream: \${CHAT_UPSTREAM}/v1
    credential: chat
  - path: /chat/admin-api
    upstream: \${GRAPH_UPSTREAM}/internal
    credential: graph
  - path: /graph
    upstream: \${GRAPH_UPSTREAM}/v1.0
    credential: graph
    timeout: 5000
`

t.test('routes by the longest prefix, each with its own credential; health, admin and metrics per credential', async (t) => {
  const chatIdp = await identityProvider(t)
  const graphIdp = await identityProvider(t)
  const chatUp = await echoUpstream(t, { eventGapMs: 50 })
  const graphUp = await echoUpstream(t)
  const dir = emptyWorkdir()
  const chatToken = chatIdp.mint(3600)
  const graphToken = graphIdp.mint(-60)
  const gw = await startGatewayProcess(t, {
    TOKENGATE_CONFIG: configFile(dir, TWO_ROUTES),
    CHAT_TOKEN_URL: chatIdp.refreshUrl,
    CHAT_AUTH_TOKEN: chatToken,
    CHAT_REFRESH_TOKEN: chatIdp.validRefreshToken,
    CHAT_UPSTREAM: chatUp.url,
    GRAPH_TOKEN_URL: graphIdp.refreshUrl,
    GRAPH_AUTH_TOKEN: graphToken,
    GRAPH_REFRESH_TOKEN: graphIdp.validRefreshToken,
    GRAPH_UPSTREAM: graphUp.url,
    GATEWAY_ADMIN_KEY: ADMIN_KEY
  }, dir)

  const chat = await fetch(`${gw.url}/chat/completions?stream=false`, { method: 'POST', body: '{"q":1}', headers: { 'content-type': 'application/json' } })
  t.equal(chat.status, 200)
  const chatSeen = await chat.json() as { url: string, authorization: string, body: string }
  t.equal(chatSeen.url, '/v1/completions?stream=false', 'the prefix is replaced by the upstream\'s path, the query kept')
  t.equal(chatSeen.authorization, `Bearer ${chatToken}`, 'the chat credential\'s token')
  t.equal(chatSeen.body, '{"q":1}')

  // graph started on an expired token: its first request waits for graph's refresh, at graph's provider.
  const graph = await fetch(`${gw.url}/graph/me`)
  t.equal(graph.status, 200)
  const graphSeen = await graph.json() as { url: string, authorization: string }
  t.equal(graphSeen.url, '/v1.0/me')
  t.equal(graphSeen.authorization, `Bearer ${graphIdp.issued[0]}`, 'the graph credential\'s refreshed token')
  t.equal(chatIdp.calls.length, 0, 'chat\'s provider was never asked: its token is valid')

  const longer = await (await fetch(`${gw.url}/chat/admin-api/x`)).json() as { url: string, authorization: string }
  t.equal(longer.url, '/internal/x', 'the longer prefix wins over /chat')
  t.equal(longer.authorization, `Bearer ${graphIdp.issued[0]}`)

  for (const path of ['/other', '/chatty', '/']) {
    const res = await fetch(`${gw.url}${path}`)
    t.equal(res.status, 404, `${path}: no route`)
    t.same(await res.json(), { error: 'no_route', message: 'no route of this gateway matches the path' })
  }
  t.equal(chatUp.received.length + graphUp.received.length, 3, 'nothing without a route reached an upstream')

  // Server-sent events pass event by event on a route.
  const events = await fetch(`${gw.url}/chat/events`)
  const text = await events.text()
  t.match(text, /data: \{"n":1,"authorization":"Bearer [^"]+"\}\n\ndata: \{"n":2\}/)

  const health = await fetch(`${gw.url}/health/token`)
  t.equal(health.status, 200)
  const body = await health.json() as { status: string, credentials: Record<string, Record<string, unknown>> }
  t.equal(body.status, 'ok')
  t.same(Object.keys(body.credentials), ['chat', 'graph'])
  t.same(body.credentials.chat.routes, ['/chat'])
  t.same(body.credentials.graph.routes, ['/chat/admin-api', '/graph'])
  t.equal(body.credentials.graph.refreshCount, 1)
  t.equal(body.credentials.chat.refreshCount, 0)
  const healthText = JSON.stringify(body)
  for (const secret of [chatToken, graphToken, chatIdp.validRefreshToken, graphIdp.validRefreshToken, ...graphIdp.issued]) {
    t.notOk(healthText.includes(secret), 'no token in health')
  }
  const one = await fetch(`${gw.url}/health/token/graph`)
  t.equal(one.status, 200)
  t.match(await one.json(), { status: 'ok', refreshCount: 1, store: 'memory' })
  t.equal((await fetch(`${gw.url}/health/token/nope`)).status, 404)

  const admin = (query: string): Promise<Response> => fetch(`${gw.url}/admin/token/refresh${query}`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  const required = await admin('')
  t.equal(required.status, 400)
  t.match(await required.json(), { error: 'credential_required' })
  t.equal((await admin('?credential=nope')).status, 404)
  const forced = await admin('?credential=chat')
  t.equal(forced.status, 200)
  t.match(await forced.json(), { refreshCount: 1 })
  t.equal(chatIdp.calls.length, 1, 'the named credential was refreshed at its own provider')
  t.equal(graphIdp.calls.length, 1, 'the other was left alone')

  const metrics = await (await fetch(`${gw.url}/metrics`)).text()
  t.match(metrics, /^tokengate_token_refreshes_total\{credential="graph",trigger="startup",outcome="success"\} 1$/m)
  t.match(metrics, /^tokengate_token_refreshes_total\{credential="chat",trigger="admin",outcome="success"\} 1$/m)
  t.match(metrics, /^tokengate_token_expires_in_seconds\{credential="chat"\} \d+$/m)
  t.match(metrics, /^tokengate_proxy_requests_total\{route="\/chat",status_class="2xx"\} 2$/m)
  t.match(metrics, /^tokengate_proxy_requests_total\{route="\/graph",status_class="2xx"\} 1$/m)
  t.notOk(/route="\/other"/.test(metrics), 'a path without a route has no series')
})

t.test('one credential\'s identity provider black-holed: the other credential\'s routes stay fast', async (t) => {
  const graphIdp = await identityProvider(t)
  const chatUp = await echoUpstream(t)
  const graphUp = await echoUpstream(t)
  const dir = emptyWorkdir()
  const gw = await startGatewayProcess(t, {
    TOKENGATE_CONFIG: configFile(dir, TWO_ROUTES),
    CHAT_TOKEN_URL: await blackHole(t),
    CHAT_AUTH_TOKEN: graphIdp.mint(-60),
    CHAT_REFRESH_TOKEN: 'rt_chat_never_answered',
    CHAT_UPSTREAM: chatUp.url,
    GRAPH_TOKEN_URL: graphIdp.refreshUrl,
    GRAPH_AUTH_TOKEN: graphIdp.mint(3600),
    GRAPH_REFRESH_TOKEN: graphIdp.validRefreshToken,
    GRAPH_UPSTREAM: graphUp.url,
    TOKEN_REFRESH_TIMEOUT: '3000'
  }, dir)
  // chat's requests wait on its refresh, which hangs until its timeout.
  const stuck = Array.from({ length: 20 }, async () => fetch(`${gw.url}/chat/x`).then((res) => res.status))
  const slowest: number[] = []
  for (let i = 0; i < 20; i++) {
    const started = performance.now()
    const res = await fetch(`${gw.url}/graph/me`)
    slowest.push(performance.now() - started)
    t.equal(res.status, 200)
    await res.arrayBuffer()
  }
  const worst = Math.max(...slowest)
  t.ok(worst < 1000, `graph's requests took at most ${worst.toFixed(1)} ms while chat's provider hung`)
  const statuses = await Promise.all(stuck)
  t.ok(statuses.every((status) => status === 503), 'chat\'s requests got 503 token_unavailable once its refresh failed')
  t.equal(chatUp.received.length, 0, 'chat\'s upstream never saw an expired token')
  const health = await fetch(`${gw.url}/health/token`)
  t.equal(health.status, 503, 'the worst credential decides')
  const body = await health.json() as { status: string, credentials: Record<string, { status: string, lastRefreshError: string | null }> }
  t.equal(body.status, 'expired')
  t.equal(body.credentials.graph.status, 'ok')
  t.match(body.credentials.chat.lastRefreshError, /timeout/)
})
