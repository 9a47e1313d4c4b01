// SIGHUP from outside: the built gateway re-reads TOKENGATE_CONFIG's file. Routes and credentials
// are added, changed and removed without a restart and without dropping a connection; an
// unchanged credential keeps its tokens and timers; a bad file is refused and the running
// configuration stays.
import { writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { emptyWorkdir, startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

const CHAT = `
  chat:
    tokenUrl: \${CHAT_TOKEN_URL}
    accessToken: \${CHAT_AUTH_TOKEN}
    refreshToken: \${CHAT_REFRESH_TOKEN}`
const GRAPH = `
  graph:
    tokenUrl: \${GRAPH_TOKEN_URL}
    accessToken: \${GRAPH_AUTH_TOKEN}
    refreshToken: \${GRAPH_REFRESH_TOKEN}`
const CHAT_ROUTE = `
  - path: /chat
    upstream: \${CHAT_UPSTREAM}/v1
    credential: chat`
const GRAPH_ROUTE = `
  - path: /graph
    upstream: \${GRAPH_UPSTREAM}/v1.0
    credential: graph`

/** Opens a server-sent-events stream through the gateway; resolves with its whole body when it ends. */
function openStream (url: string): { firstEvent: Promise<void>, body: Promise<string> } {
  let seen: () => void
  const firstEvent = new Promise<void>((resolve) => { seen = resolve })
  const body = new Promise<string>((resolve, reject) => {
    request(url, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk; seen() })
      res.on('end', () => resolve(text))
      res.on('error', reject)
    }).on('error', reject).end()
  })
  return { firstEvent, body }
}

t.test('SIGHUP applies an added route and credential, keeps the unchanged one, refuses a bad file', async (t) => {
  const chatIdp = await identityProvider(t)
  const graphIdp = await identityProvider(t)
  const chatUp = await echoUpstream(t)
  const graphUp = await echoUpstream(t)
  const dir = emptyWorkdir()
  const file = join(dir, 'tokengate.yaml')
  writeFileSync(file, `credentials:${CHAT}\nroutes:${CHAT_ROUTE}\n`)
  const gw = await startGatewayProcess(t, {
    TOKENGATE_CONFIG: file,
    CHAT_TOKEN_URL: chatIdp.refreshUrl,
    CHAT_AUTH_TOKEN: chatIdp.mint(-60),
    CHAT_REFRESH_TOKEN: chatIdp.validRefreshToken,
    CHAT_UPSTREAM: chatUp.url,
    GRAPH_TOKEN_URL: graphIdp.refreshUrl,
    GRAPH_AUTH_TOKEN: graphIdp.mint(-60),
    GRAPH_REFRESH_TOKEN: graphIdp.validRefreshToken,
    GRAPH_UPSTREAM: graphUp.url
  }, dir)
  const before = await (await fetch(`${gw.url}/chat/x`)).json() as { authorization: string }
  t.equal(before.authorization, `Bearer ${chatIdp.issued[0]}`)
  t.equal((await fetch(`${gw.url}/graph/me`)).status, 404, 'no /graph route yet')

  // A stream open across the reload must finish whole on the route it started on.
  const stream = openStream(`${gw.url}/chat/events?hold=1`)
  await stream.firstEvent

  writeFileSync(file, `credentials:${CHAT}${GRAPH}\nroutes:${CHAT_ROUTE}${GRAPH_ROUTE}\n`)
  gw.child.kill('SIGHUP')
  await gw.waitForOutput(/Configuration reloaded from .*: added graph; kept chat/)
  const graph = await (await fetch(`${gw.url}/graph/me`)).json() as { url: string, authorization: string }
  t.equal(graph.url, '/v1.0/me')
  t.equal(graph.authorization, `Bearer ${graphIdp.issued[0]}`, 'the new credential refreshed at its own provider')
  const chat = await (await fetch(`${gw.url}/chat/x`)).json() as { authorization: string }
  t.equal(chat.authorization, `Bearer ${chatIdp.issued[0]}`, 'the unchanged credential kept its token')
  t.equal(chatIdp.calls.length, 1, 'and did not refresh again')

  chatUp.finishStream()
  t.match(await stream.body, /data: \{"n":1,.*\n\ndata: \{"n":2\}\n\n$/s, 'the open stream was not dropped')

  // A bad file: refused line by line, and everything keeps serving as before.
  writeFileSync(file, `credentials:${CHAT}\nroutes:${CHAT_ROUTE}\n  - path: /graph\n    upstream: https://graph.example/v1\n    credential: grpah\n`)
  gw.child.kill('SIGHUP')
  await gw.waitForOutput(/Configuration reload refused; the running configuration stays/)
  t.match(gw.output(), /Configuration reload refused: routes\[1\]\.credential: unknown credential \\?"grpah\\?"/)
  t.equal((await fetch(`${gw.url}/graph/me`)).status, 200, '/graph still served')

  // Removing a route and its credential.
  writeFileSync(file, `credentials:${CHAT}\nroutes:${CHAT_ROUTE}\n`)
  gw.child.kill('SIGHUP')
  await gw.waitForOutput(/Configuration reloaded from .*: removed graph; kept chat/)
  t.equal((await fetch(`${gw.url}/graph/me`)).status, 404)
  const health = await (await fetch(`${gw.url}/health/token`)).json() as { credentials: Record<string, unknown> }
  t.same(Object.keys(health.credentials), ['chat'])
  t.equal(gw.child.exitCode, null, 'still the same process')
  for (const secret of [chatIdp.validRefreshToken, graphIdp.validRefreshToken, ...chatIdp.issued, ...graphIdp.issued]) {
    t.notOk(gw.output().includes(secret), 'no token in the log')
  }
})

t.test('a changed credential gets a fresh engine from the tokens its predecessor saved', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const dir = emptyWorkdir()
  const file = join(dir, 'tokengate.yaml')
  const write = (bufferMinutes: number): void => writeFileSync(file, `credentials:${CHAT}\n    expiryBuffer: ${bufferMinutes}\nroutes:${CHAT_ROUTE}\n`)
  write(5)
  const gw = await startGatewayProcess(t, {
    TOKENGATE_CONFIG: file,
    TOKEN_STORE: 'file',
    TOKEN_STORE_PATH: join(dir, 'data', 'tokens.json'),
    CHAT_TOKEN_URL: idp.refreshUrl,
    CHAT_AUTH_TOKEN: idp.mint(-60),
    CHAT_REFRESH_TOKEN: idp.validRefreshToken,
    CHAT_UPSTREAM: upstream.url
  }, dir)
  t.equal((await fetch(`${gw.url}/chat/x`)).status, 200)
  t.equal(idp.calls.length, 1)
  write(1)
  gw.child.kill('SIGHUP')
  await gw.waitForOutput(/Configuration reloaded from .*: changed chat/)
  const seen = await (await fetch(`${gw.url}/chat/x`)).json() as { authorization: string }
  t.equal(seen.authorization, `Bearer ${idp.issued[0]}`, 'the new engine started from the stored (rotated) tokens')
  t.equal(idp.calls.length, 1, 'no refresh was needed: the stored token is valid')
  const forced = await fetch(`${gw.url}/health/token/chat`)
  t.match(await forced.json(), { status: 'ok' })
})
