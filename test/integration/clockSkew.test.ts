// A real identity provider whose clock is two hours behind the gateway's: every token it issues
// looks expired by the gateway's clock on arrival. The gateway counts each token's life from its
// arrival and says why, instead of calling the provider for every request.
import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { echoUpstream, identityProvider, refreshingEnv } from '../helpers/servers.js'

t.test('a provider two hours behind: one refresh serves every request, with a warning', async (t) => {
  const idp = await identityProvider(t, { now: () => Date.now() - 2 * 3600_000, tokenTtlSeconds: 3600 })
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, refreshingEnv(idp, upstream))
  for (let i = 0; i < 20; i++) {
    const res = await request(`${gw.url}/v1/call/${i}`)
    t.equal(res.statusCode, 200)
    await res.body.dump()
  }
  t.equal(idp.calls.length, 1, 'one call to the identity provider for 20 requests')
  t.ok(upstream.received.every((r) => r.headers.authorization === `Bearer ${idp.issued[0]}`), 'all with the refreshed token')
  const health = await (await request(`${gw.url}/health/token`)).body.json() as { status: string, expiresInSeconds: number }
  t.equal(health.status, 'ok')
  t.ok(health.expiresInSeconds > 3500 && health.expiresInSeconds <= 3600, `an hour left by the gateway's clock (${health.expiresInSeconds} s)`)
  const warning = gw.logs.map((line) => JSON.parse(line) as { level: number, msg: string, clockAheadSeconds?: number })
    .find((line) => /clocks of this machine and the identity provider differ/.test(line.msg))
  t.match(warning, { level: 40 })
  t.ok(Math.abs(warning!.clockAheadSeconds! - 7200) <= 2, `the difference is reported (${warning!.clockAheadSeconds} s)`)
})
