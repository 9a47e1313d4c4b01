// The shutdown's bound: a stream that never ends is cut after SHUTDOWN_GRACE_MS (10 s), and the
// rest of the shutdown still runs to exit 0. Its own file: it takes the full ten seconds.
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

t.test('SIGTERM with a stream that never ends: cut after 10 s, then exit 0', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const res = await request(`${gw.url}/events?hold=1`)
  const body = res.body.text().then(() => 'ended', (err: Error) => `failed: ${err.message}`)

  const signalledAt = Date.now()
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
  const tookMs = Date.now() - signalledAt
  t.ok(tookMs >= 9_900, `the stream had its 10 s (${tookMs} ms)`)
  t.ok(tookMs < 20_000, `and no more than the bound asked (${tookMs} ms)`)
  t.match(await body, /^failed: /, 'the client sees its stream cut, not a clean end')
  t.match(gw.output(), /In-flight requests still open after 10 s: closing their connections/)
  t.match(gw.output(), /tokengate stopped/)
})
