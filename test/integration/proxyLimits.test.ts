// The proxy's bounds in-process, where their every branch is seen: a request past
// UPSTREAM_MAX_CONNECTIONS waits for a slot (and gives up its place when its client leaves), a
// client that leaves while its request waits for a token takes no slot, a body that stalls is cut
// (408 before a response, a closed connection after), a chunked body reserves the replay budget
// chunk by chunk, and a spelling of /admin/ that reached the proxy stays local.
import t from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { metricValue, rawConnection } from '../helpers/rawClient.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'

/** The gauge once it reads `expected`, or its last reading after a second. */
async function settledGauge (gw: TestGateway, name: string, expected: number): Promise<number> {
  let value = await metricValue(gw.url, name)
  for (let i = 0; i < 50 && value !== expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    value = await metricValue(gw.url, name)
  }
  return value
}

t.test('one connection: the second request waits, is served when the first ends, or leaves the line when its client goes', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-limits-token', UPSTREAM_MAX_CONNECTIONS: '1', UPSTREAM_TIMEOUT: '5000' })
  const stream = await request(`${gw.url}/events?hold=1`)
  t.equal(stream.statusCode, 200)

  // A waiter whose client leaves gives up its place.
  const leaving = await rawConnection(t, gw.url)
  leaving.socket.write('GET /leaving HTTP/1.1\r\nHost: gw\r\n\r\n')
  await waitFor(() => gw.logs.some((line) => line.includes('"url":"/leaving"')), 2000, 'the request to arrive')
  t.equal(await metricValue(gw.url, 'tokengate_upstream_requests_waiting'), 1)
  leaving.socket.destroy()
  t.equal(await settledGauge(gw, 'tokengate_upstream_requests_waiting', 0), 0, 'it left the line')

  const waiting = request(`${gw.url}/second`)
  await waitFor(() => gw.logs.some((line) => line.includes('"url":"/second"')), 2000, 'the second request to arrive')
  upstream.finishStream()
  await stream.body.text()
  const second = await waiting
  t.equal(second.statusCode, 200, 'served as soon as the stream ended')
  await second.body.dump()
  t.same(upstream.received.map((r) => r.url), ['/events?hold=1', '/second'], 'the one that left never reached the upstream')
  t.equal(await settledGauge(gw, 'tokengate_upstream_connections_in_use', 0), 0, 'every slot given back')
})

t.test('past the one connection and its timeout: 503 upstream_busy with Retry-After', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-limits-token', UPSTREAM_MAX_CONNECTIONS: '1', UPSTREAM_TIMEOUT: '300' })
  const stream = await request(`${gw.url}/events?hold=1`)
  const busy = await request(`${gw.url}/busy`)
  t.equal(busy.statusCode, 503)
  t.equal(busy.headers['retry-after'], '1')
  t.same(await busy.body.json(), { error: 'upstream_busy', message: 'every upstream connection is in use; try again shortly' })
  upstream.finishStream()
  await stream.body.text()
  t.same(upstream.received.map((r) => r.url), ['/events?hold=1'])
})

t.test('a request whose client left while it waited for a token takes no slot', async (t) => {
  const idp = await identityProvider(t, { delayMs: 400 })
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl, UPSTREAM_MAX_CONNECTIONS: '1'
  })
  const client = await rawConnection(t, gw.url)
  client.socket.write('GET /gone HTTP/1.1\r\nHost: gw\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 100))
  client.socket.destroy()
  await waitFor(() => idp.issued.length === 1, 3000, 'the refresh')
  const next = await request(`${gw.url}/next`)
  t.equal(next.statusCode, 200, 'the one connection is free for the next request')
  await next.body.dump()
  t.same(upstream.received.map((r) => r.url), ['/next'])
})

t.test('a stalled body: 408 before any response; a closed connection once one has started', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-limits-token', CLIENT_TIMEOUT: '300' })
  const stalled = await rawConnection(t, gw.url)
  stalled.socket.write('POST /small HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nonly part')
  await waitFor(() => stalled.closed(), 3000, 'the cut')
  t.match(stalled.received(), /^HTTP\/1\.1 408 Request Timeout\r\n/)
  t.match(stalled.received(), /\r\nconnection: close\r\n/i)
  t.match(JSON.parse(stalled.received().split('\r\n\r\n')[1]), { error: 'client_timeout' })
  t.equal(upstream.received.length, 0, 'a body kept for a replay never reached the upstream')

  // Admin routes read their body too: the same bound.
  const admin = await rawConnection(t, gw.url)
  admin.socket.write('PUT /admin/token HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"acc')
  await waitFor(() => admin.closed(), 3000, 'the cut of the admin body')
  t.match(admin.received(), /^HTTP\/1\.1 (408|404) /)

  // A body that keeps coming, however slowly, is not cut.
  const slow = await rawConnection(t, gw.url)
  slow.socket.write('POST /slow HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\n')
  for (const byte of '0123456789') {
    await new Promise((resolve) => setTimeout(resolve, 150))
    slow.socket.write(byte)
  }
  await waitFor(() => /HTTP\/1\.1 200/.test(slow.received()), 3000, 'the answer to a slow but steady body')
  t.equal(upstream.received.at(-1)?.body, '0123456789')
  t.notOk(slow.closed(), 'the connection stays open for the next request')
  slow.socket.destroy()
})

t.test('a chunked body reserves the replay budget as it arrives; past the budget it streams', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-limits-token', REPLAY_BUFFER_TOTAL: '30' })
  const client = await rawConnection(t, gw.url)
  client.socket.write('POST /chunked HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n')
  for (const chunk of ['0123456789', 'abcdefghij', 'ABCDEFGHIJ', 'klmnopqrst']) {
    client.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
    await new Promise((resolve) => setTimeout(resolve, 30))
  }
  client.socket.write('0\r\n\r\n')
  await waitFor(() => /HTTP\/1\.1 200/.test(client.received()), 3000, 'the answer')
  t.equal(upstream.received.at(-1)?.body, '0123456789abcdefghijABCDEFGHIJklmnopqrst', 'every byte, in order')
  client.socket.destroy()
  t.equal(await settledGauge(gw, 'tokengate_replay_buffer_bytes', 0), 0, 'the reservation is given back')
})

t.test('a spelling of /admin/ that reaches the proxy stays local', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-limits-token' })
  const res = await request(`${gw.url}/ADMIN/token`, { method: 'POST' })
  t.equal(res.statusCode, 404)
  t.same(await res.body.json(), { error: 'not_found', message: 'no such admin route' })
  t.equal(upstream.received.length, 0)
})
