// Several gateway processes sharing one real Redis: one refresh call per rotation however the
// requests are spread, a slow identity provider that outlives the lock's first TTL, and Redis
// going away and coming back.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGatewayProcess, type GatewayProcess } from '../helpers/process.js'
import { privateRedis, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'

async function seen (url: string, path = '/x'): Promise<{ status: number, authorization: string | null }> {
  const res = await request(`${url}${path}`)
  if (res.statusCode !== 200) {
    await res.body.dump()
    return { status: res.statusCode, authorization: null }
  }
  return { status: 200, authorization: (await res.body.json() as { authorization: string }).authorization }
}

type Tap = Test

async function threeReplicas (t: Tap, env: Record<string, string>): Promise<GatewayProcess[]> {
  return Promise.all([0, 1, 2].map(() => startGatewayProcess(t, env)))
}

for (const slow of [false, true]) {
  t.test(slow
    ? 'an identity provider slower than the lock\'s first TTL (5 s): still one refresh call'
    : 'three replicas, an expired token, 150 concurrent requests spread across them: one refresh call, all succeed', async (t) => {
    const idp = await identityProvider(t, { delayMs: slow ? 6_500 : 300 })
    const upstream = await echoUpstream(t)
    const gateways = await threeReplicas(t, {
      UPSTREAM_URL: upstream.url,
      AUTH_TOKEN: idp.mint(-30),
      REFRESH_TOKEN: idp.validRefreshToken,
      TOKEN_REFRESH_URL: idp.refreshUrl,
      TOKEN_REFRESH_TIMEOUT: '15000',
      TOKEN_STORE: 'redis',
      REDIS_URL: SHARED_REDIS_URL,
      TOKEN_STORE_KEY: uniquePrefix(t)
    })
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) => seen(gateways[i % 3].url, `/r/${i}`)))
    t.equal(idp.calls.length, 1, 'exactly one call to the identity provider')
    t.equal(results.filter((r) => r.status === 200).length, 150, 'all 150 requests succeeded')
    t.same([...new Set(results.map((r) => r.authorization))], [`Bearer ${idp.issued[0]}`], 'all carried the one refreshed token')
    t.equal(upstream.received.length, 150)
    // One replica refreshed; the others started from its record or took it (waiting on the
    // lock, under it, or announced).
    t.equal(gateways.filter((g) => /Token refreshed successfully/.test(g.output())).length, 1, 'one replica refreshed')
  })
}

t.test('a rotation by one replica is taken up by the others (each refresh token spent once)', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gateways = await threeReplicas(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(3600),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_STORE: 'redis',
    REDIS_URL: SHARED_REDIS_URL,
    TOKEN_STORE_KEY: uniquePrefix(t),
    GATEWAY_ADMIN_KEY: 'k'
  })
  for (const gw of gateways) {
    const res = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': 'k' } })
    t.equal(res.statusCode, 200)
    await res.body.dump()
  }
  t.equal(idp.calls.length, 3)
  t.same(idp.calls.map((c) => c.status), [200, 200, 200], 'every forced refresh presented the current refresh token')
  t.equal(idp.calls[1].refreshToken !== idp.calls[0].refreshToken && idp.calls[2].refreshToken !== idp.calls[1].refreshToken, true)
  // The newest version is announced over Redis; each replica takes it up within moments.
  for (const gw of gateways) {
    let latest = await seen(gw.url)
    for (let i = 0; i < 100 && latest.authorization !== `Bearer ${idp.issued[2]}`; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      latest = await seen(gw.url)
    }
    t.equal(latest.authorization, `Bearer ${idp.issued[2]}`, 'the replica serves the newest token')
  }
})

t.test('Redis stopped mid-run: cached tokens keep serving, health shows it; started again: resynchronised', async (t) => {
  const redis = await privateRedis(t)
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: token,
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_STORE: 'redis',
    REDIS_URL: redis.url,
    TOKEN_STORE_KEY: 'tokengate:resync',
    GATEWAY_ADMIN_KEY: 'k'
  })
  t.equal((await seen(gw.url)).authorization, `Bearer ${token}`)
  await redis.stop()
  for (let i = 0; i < 5; i++) t.equal((await seen(gw.url)).authorization, `Bearer ${token}`, 'served from the cache while Redis is down')
  await waitFor(() => /Redis connection error/.test(gw.output()), 5000, 'the connection error log')
  const forced = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': 'k' } })
  t.equal(forced.statusCode, 502, 'no refresh without the shared lock')
  const during = await forced.body.json() as Record<string, unknown>
  t.match(during.storeError, /Redis unavailable/)
  t.match(during.lastRefreshError, /^store_unavailable: /)
  t.equal(idp.calls.length, 0, 'the refresh token was not spent while Redis was away')

  await redis.start()
  await waitFor(() => /wrote the cached tokens back/.test(gw.output()), 10_000, 'the resync')
  const healthRes = await request(`${gw.url}/health/token`)
  t.equal((await healthRes.body.json() as Record<string, unknown>).storeError, null, 'health is clear again')
  const again = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': 'k' } })
  t.equal(again.statusCode, 200, 'refreshing works again')
  await again.body.dump()
  t.equal(idp.calls.length, 1)
  t.equal(idp.calls[0].status, 200)
})
