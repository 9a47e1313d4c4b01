// GET /metrics as Prometheus scrapes it: the token's gauges, refreshes by trigger and outcome,
// proxied requests by status class, and the default process metrics.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { echoUpstream, identityProvider, nowSeconds, waitFor } from '../helpers/servers.js'
import { unusedUrl } from '../helpers/localServer.js'

async function scrape (gw: TestGateway): Promise<string> {
  const res = await request(`${gw.url}/metrics`)
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  return res.body.text()
}

/** The value of one sample, e.g. `tokengate_token_refreshes_total{credential="default",trigger="request",outcome="success"}`. */
function sample (text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  if (line === undefined) throw new Error(`no sample ${series} in:\n${text}`)
  const value = line.slice(series.length + 1)
  return value === '+Inf' ? Infinity : Number(value)
}

t.test('/metrics is the Prometheus text format, open, never proxied, with the process metrics', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const res = await request(`${gw.url}/metrics`, { headers: { authorization: 'Bearer whatever' } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(res.headers['cache-control'], 'no-store')
  const text = await res.body.text()
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
    t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `default metric ${name}`)
  }
  const types: Record<string, string> = {
    tokengate_token_expires_in_seconds: 'gauge',
    tokengate_token_refresh_overdue_seconds: 'gauge',
    tokengate_upstream_connections_in_use: 'gauge',
    tokengate_upstream_requests_waiting: 'gauge',
    tokengate_replay_buffer_bytes: 'gauge',
    tokengate_token_refresh_consecutive_failures: 'gauge',
    tokengate_token_refresh_token_rejected: 'gauge',
    tokengate_token_refreshes_total: 'counter',
    tokengate_token_refresh_duration_seconds: 'histogram',
    tokengate_token_store_errors_total: 'counter',
    tokengate_proxy_requests_total: 'counter',
    tokengate_upstream_response_seconds: 'histogram'
  }
  for (const [name, type] of Object.entries(types)) t.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} is a ${type}`)
  t.equal(sample(text, 'tokengate_token_refreshes_total{credential="default",trigger="upstream-401",outcome="failure"}'), 0, 'every series starts at 0')
  t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="2xx"}'), 0)
  t.equal(sample(text, 'tokengate_token_store_errors_total{credential="default",operation="save"}'), 0)
  const expiresIn = sample(text, 'tokengate_token_expires_in_seconds{credential="default"}')
  t.ok(expiresIn > 3590 && expiresIn <= 3600, `seconds until expiry (${expiresIn})`)
  t.equal(sample(text, 'tokengate_token_refresh_overdue_seconds{credential="default"}'), 0, 'not due: nothing overdue')
  t.equal(upstream.received.length, 0, 'the upstream never saw /metrics')
  t.notOk(text.includes(idp.email) || text.includes(idp.subject), 'no identity in the metrics')
})

t.test('refreshes move the counters by trigger and outcome; the gauges follow the token', async (t) => {
  const idp = await identityProvider(t, { tokenTtlSeconds: 600 })
  const upstream = await echoUpstream(t)
  // Inside the buffer at start-up, and the provider refuses the first refresh: a startup failure.
  idp.failNext('http_503')
  idp.failNext('invalid_grant')
  const initial = idp.mint(120, { iat: nowSeconds() - 3600 })
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: initial, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  await waitFor(() => idp.calls.length === 2, 5000, 'the start-up refresh and its retry')
  await waitFor(() => /refused the refresh token/.test(gw.logText()), 5000, 'the failure to be recorded')
  let text = await scrape(gw)
  t.equal(sample(text, 'tokengate_token_refreshes_total{credential="default",trigger="startup",outcome="failure"}'), 1, 'one failed refresh, its retry inside it')
  t.equal(sample(text, 'tokengate_token_refreshes_total{credential="default",trigger="startup",outcome="success"}'), 0)
  t.equal(sample(text, 'tokengate_token_refresh_duration_seconds_count{credential="default",outcome="failure"}'), 1)
  t.ok(sample(text, 'tokengate_token_refresh_duration_seconds_sum{credential="default",outcome="failure"}') > 0, 'the failure took its backoff')
  t.equal(sample(text, 'tokengate_token_refresh_consecutive_failures{credential="default"}'), 1)
  t.equal(sample(text, 'tokengate_token_refresh_token_rejected{credential="default"}'), 1)
  const expiring = sample(text, 'tokengate_token_expires_in_seconds{credential="default"}')
  t.ok(expiring > 100 && expiring <= 120, `the old token still counts down (${expiring})`)
  // Due 5 minutes before its exp, 2 minutes away: overdue by about 3 minutes, and growing.
  const overdue = sample(text, 'tokengate_token_refresh_overdue_seconds{credential="default"}')
  t.ok(overdue >= 180 && overdue < 200, `past its refresh time and not renewed (${overdue} s)`)

  // New tokens from an operator, then a forced refresh: an admin success.
  await gw.app.tokenService.replaceTokens(idp.mint(60, { iat: nowSeconds() - 3600 }), idp.validRefreshToken)
  await gw.app.tokenService.refreshAccessToken('admin')
  const res = await request(`${gw.url}/x`)
  t.equal((await res.body.json() as { authorization: string }).authorization, `Bearer ${idp.issued[0]}`)
  text = await scrape(gw)
  t.equal(sample(text, 'tokengate_token_refreshes_total{credential="default",trigger="admin",outcome="success"}'), 1)
  t.equal(sample(text, 'tokengate_token_refresh_duration_seconds_count{credential="default",outcome="success"}'), 1)
  t.equal(sample(text, 'tokengate_token_refresh_consecutive_failures{credential="default"}'), 0, 'reset by the success')
  t.equal(sample(text, 'tokengate_token_refresh_token_rejected{credential="default"}'), 0)
  const fresh = sample(text, 'tokengate_token_expires_in_seconds{credential="default"}')
  t.ok(fresh > 590 && fresh <= 600, `the new token's life (${fresh})`)
  t.equal(sample(text, 'tokengate_token_refresh_overdue_seconds{credential="default"}'), 0, 'renewed: nothing overdue')
})

t.test('an expired token refreshed by a request counts as trigger="request"', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl
  })
  // Before listening the start-up refresh may already have run; a request then finds a fresh token.
  await waitFor(() => idp.calls.length === 1, 5000, 'the refresh')
  const text = await scrape(gw)
  const startup = sample(text, 'tokengate_token_refreshes_total{credential="default",trigger="startup",outcome="success"}')
  const byRequest = sample(text, 'tokengate_token_refreshes_total{credential="default",trigger="request",outcome="success"}')
  t.equal(startup + byRequest, 1, 'one refresh, counted once')
})

t.test('proxied requests by status class; upstream latency only when the upstream answered', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  for (const path of ['/a', '/b', '/status/404', '/status/503', '/status/302']) {
    const res = await request(`${gw.url}${path}`)
    await res.body.dump()
  }
  await (await request(`${gw.url}/health/live`)).body.dump()
  const text = await scrape(gw)
  t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="2xx"}'), 2)
  t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="3xx"}'), 1)
  t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="4xx"}'), 1)
  t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="5xx"}'), 1)
  t.equal(sample(text, 'tokengate_upstream_response_seconds_count{route="/",status_class="2xx"}'), 2)
  t.equal(sample(text, 'tokengate_upstream_response_seconds_count{route="/",status_class="5xx"}'), 1)
  t.equal(sample(text, 'tokengate_upstream_response_seconds_bucket{le="30",route="/",status_class="2xx"}'), 2)
  t.ok(sample(text, 'tokengate_upstream_response_seconds_sum{route="/",status_class="2xx"}') > 0)
})

t.test('the gateway\'s own 502 and 503 count as 5xx, without an upstream latency', async (t) => {
  const idp = await identityProvider(t)
  await t.test('upstream unreachable', async (t) => {
    const gw = await startGateway(t, { UPSTREAM_URL: (await unusedUrl()).replace(/\/token$/, ''), AUTH_TOKEN: idp.mint(3600) })
    t.equal((await request(`${gw.url}/x`)).statusCode, 502)
    const text = await scrape(gw)
    t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="5xx"}'), 1)
    t.equal(sample(text, 'tokengate_upstream_response_seconds_count{route="/",status_class="5xx"}'), 0)
  })
  await t.test('no usable token: 0 seconds left', async (t) => {
    const upstream = await echoUpstream(t)
    const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60) })
    t.equal((await request(`${gw.url}/x`)).statusCode, 503)
    const text = await scrape(gw)
    t.equal(sample(text, 'tokengate_proxy_requests_total{route="/",status_class="5xx"}'), 1)
    t.equal(sample(text, 'tokengate_upstream_response_seconds_count{route="/",status_class="5xx"}'), 0)
    t.equal(sample(text, 'tokengate_token_expires_in_seconds{credential="default"}'), 0)
  })
  await t.test('an opaque token of unknown expiry: +Inf seconds left', async (t) => {
    const upstream = await echoUpstream(t)
    const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-token-value' })
    const text = await scrape(gw)
    t.match(text, /^tokengate_token_expires_in_seconds\{credential="default"\} \+Inf$/m)
    t.notOk(text.includes('opaque-token-value'))
  })
})

t.test('store errors: a save that fails is counted for its credential', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-metrics-'))
  const path = join(dir, 'tokens.json')
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600), TOKEN_STORE: 'file', TOKEN_STORE_PATH: path, GATEWAY_ADMIN_KEY: 'admin-key-metrics'
  })
  t.equal(sample(await scrape(gw), 'tokengate_token_store_errors_total{credential="default",operation="save"}'), 0, 'the series exists from the start')
  // A folder where the file should be: the atomic write's rename fails.
  rmSync(path)
  mkdirSync(path)
  const res = await request(`${gw.url}/admin/token`, { method: 'PUT', headers: { 'x-admin-key': 'admin-key-metrics', 'content-type': 'application/json' }, body: JSON.stringify({ accessToken: idp.mint(3600) }) })
  t.equal(res.statusCode, 200, 'the new tokens are served from memory')
  const text = await scrape(gw)
  t.equal(sample(text, 'tokengate_token_store_errors_total{credential="default",operation="save"}'), 1)
  t.equal(sample(text, 'tokengate_token_store_errors_total{credential="default",operation="shared"}'), 0)
})

t.test('two gateways in one process keep their own counters', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const one = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  const two = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(3600) })
  await (await request(`${one.url}/x`)).body.dump()
  t.equal(sample(await scrape(one), 'tokengate_proxy_requests_total{route="/",status_class="2xx"}'), 1)
  t.equal(sample(await scrape(two), 'tokengate_proxy_requests_total{route="/",status_class="2xx"}'), 0)
})
