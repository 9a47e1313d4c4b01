// SIGTERM / SIGINT on the gateway as a child process: stop accepting, let the request in flight
// (an open event stream) finish, await the refresh in flight, exit 0; a second signal exits at once.
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess, type GatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

/** Opens GET /events?hold=1 through the gateway and resolves once the first event arrived. */
async function openStream (gw: GatewayProcess): Promise<{ rest: Promise<string> }> {
  const res = await request(`${gw.url}/events?hold=1`)
  const reader = res.body[Symbol.asyncIterator]()
  const first = await reader.next()
  if (!/"n":1/.test(Buffer.from(first.value as Buffer).toString('utf8'))) throw new Error('no first event')
  const rest = (async () => {
    let text = ''
    for (let next = await reader.next(); next.done !== true; next = await reader.next()) text += Buffer.from(next.value as Buffer).toString('utf8')
    return text
  })()
  return { rest }
}

function lineIndex (output: string, message: string): number {
  return output.split('\n').findIndex((line) => line.includes(message))
}

t.test('SIGTERM with an event stream open: the stream completes, new connections are refused, exit 0', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const stream = await openStream(gw)

  gw.child.kill('SIGTERM')
  await gw.waitForOutput(/Shutting down: finishing in-flight requests/)
  await t.rejects(request(`${gw.url}/health/live`), { code: 'ECONNREFUSED' }, 'a new connection is refused while draining')
  t.equal(gw.child.exitCode, null, 'still running while the stream is open')

  upstream.finishStream()
  t.match(await stream.rest, /"n":2/, 'the stream ran to its last event')
  t.same(await gw.exited, { code: 0, signal: null })
  const output = gw.output()
  t.match(output, /"signal":"SIGTERM"/)
  t.ok(lineIndex(output, 'tokengate stopped') > lineIndex(output, 'Shutting down'), 'stopped after draining')
  t.notMatch(output, /closing their connections/, 'nothing had to be cut')
})

t.test('SIGINT while a refresh is in flight: the refresh completes before the process exits 0', async (t) => {
  const idp = await identityProvider(t, { delayMs: 1000 })
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  await gw.waitForOutput(/Access token expired, refreshing/)
  gw.child.kill('SIGINT')
  t.same(await gw.exited, { code: 0, signal: null })
  t.equal(idp.issued.length, 1, 'the identity provider answered the refresh')
  const output = gw.output()
  const refreshed = lineIndex(output, 'Token refreshed successfully')
  t.ok(refreshed > lineIndex(output, 'Shutting down'), 'the refresh finished during shutdown')
  t.ok(lineIndex(output, 'tokengate stopped') > refreshed, 'and before the process stopped', { output })
})

t.test('a second signal exits at once, without waiting for the open stream', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const stream = await openStream(gw)
  stream.rest.catch(() => {})
  gw.child.kill('SIGTERM')
  await gw.waitForOutput(/Shutting down: finishing in-flight requests/)
  gw.child.kill('SIGTERM')
  const { code } = await gw.exited
  t.equal(code, 1, 'exit 1: not a graceful stop')
  t.match(gw.output(), /Second SIGTERM: exiting at once/)
  t.notMatch(gw.output(), /tokengate stopped/)
})
