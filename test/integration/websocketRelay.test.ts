// The gateway's own WebSocket relay, in-process, between real ws peers: what is held before the
// upstream is open, backpressure both ways, pings, close codes, WS_MAX_MESSAGE, shutdown. The same
// behaviours against the built gateway as a child process, with its memory measured:
// test/integration/websocketBackpressure.test.ts.
import { createServer, type AddressInfo } from 'node:net'
import t from 'tap'
import { WS_CLOSE_TIMEOUT_MS } from '../../routes/proxy/websocket.js'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { rawConnection } from '../helpers/rawClient.js'
import { closeOf, collect, flood, MiB, openClient, startWsUpstream, waitUntil, windows, zeroMask } from '../helpers/webSockets.js'

const TOKEN = 'opaque-token-for-websockets'
const HANDSHAKE = 'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

/** Warnings about WebSockets (not the start-up one about refresh being off). */
function warnings (gw: TestGateway): Array<{ msg: string, from?: string, maxMessageBytes?: number, reason?: string }> {
  return gw.logs.map((line) => JSON.parse(line) as { level: number, msg: string })
    .filter((entry) => entry.level === 40 && /WebSocket/.test(entry.msg))
}

t.test('what the client sends before the upstream is open is held, then delivered whole and in order', async (t) => {
  // The upstream takes its time to accept: the client, already accepted by the gateway, sends 3 MiB
  // (over the high-water mark, so the gateway stops reading it) and a last text message.
  const upstream = await startWsUpstream(t, { verifyClient: (_info, accept) => { setTimeout(() => accept(true), 300) } })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url, { generateMask: zeroMask })
  const { message, check } = windows(MiB, 3)
  for (let i = 0; i < 3; i++) client.send(message(i))
  client.send('last')
  t.equal(upstream.sockets.length, 0, 'sent before the upstream accepted')
  const socket = await upstream.connection(0)
  const received = collect(socket)
  await waitUntil(() => received.length === 4, 5000, 'four messages')
  t.equal(check(received.slice(0, 3)), 3, 'the binary messages whole and in order')
  t.equal(received[3].toString(), 'last', 'then the text message')
})

t.test('backpressure both ways: a side that stops reading stops the other side\'s sender', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  // Well beyond what the kernel's socket buffers on the way can take in (a few MiB each on loopback).
  const count = 64
  const { message, check } = windows(MiB, count)

  await t.test('client → upstream', async (t) => {
    const client = await openClient(t, gw.url, { generateMask: zeroMask })
    const socket = await upstream.connection(0)
    socket.pause()
    const received = collect(socket)
    const sending = flood(client, count, message, 4 * MiB)
    const stalledAt = await sending.stalled(300)
    t.ok(stalledAt < count, `the client's sends stalled at ${stalledAt} of ${count} while the upstream read nothing`)
    t.ok(client.bufferedAmount > 0, 'what is left waits in the client')
    socket.resume()
    await sending.done
    await waitUntil(() => received.length === count, 10_000, 'every message upstream')
    t.equal(check(received), count, 'whole and in order')
  })

  await t.test('upstream → client', async (t) => {
    const client = await openClient(t, gw.url)
    const socket = await upstream.connection(1)
    client.pause()
    const received = collect(client)
    const sending = flood(socket, count, message, 4 * MiB)
    const stalledAt = await sending.stalled(300)
    t.ok(stalledAt < count, `the upstream's sends stalled at ${stalledAt} of ${count} while the client read nothing`)
    client.resume()
    await sending.done
    await waitUntil(() => received.length === count, 10_000, 'every message at the client')
    t.equal(check(received), count, 'whole and in order')
  })
})

t.test('pings and pongs are relayed, answered by the far end rather than by the gateway', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url)
  const socket = await upstream.connection(0)
  const seen: string[] = []
  client.on('ping', (data) => seen.push(`client ping ${data.toString()}`))
  client.on('pong', (data) => seen.push(`client pong ${data.toString()}`))
  socket.on('ping', (data) => seen.push(`upstream ping ${data.toString()}`))
  socket.on('pong', (data) => seen.push(`upstream pong ${data.toString()}`))

  client.ping('from-client')
  await waitUntil(() => seen.length === 2, 3000, 'the ping and its pong')
  socket.ping('from-upstream')
  await waitUntil(() => seen.length === 4, 3000, 'the ping and its pong')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(seen, [
    'upstream ping from-client', 'client pong from-client',
    'client ping from-upstream', 'upstream pong from-upstream'
  ], 'one pong for each ping, from the peer that was pinged')
})

t.test('close codes and reasons pass both ways; 1005 and 1006 become 4005 and 4006', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })

  const first = await openClient(t, gw.url)
  const closedUpstream = closeOf(await upstream.connection(0))
  first.close(4321, 'client says bye')
  t.same(await closedUpstream, { code: 4321, reason: 'client says bye' }, 'client → upstream')

  const second = await openClient(t, gw.url)
  const closedClient = closeOf(second);
  (await upstream.connection(1)).close(1000, 'upstream is done')
  t.same(await closedClient, { code: 1000, reason: 'upstream is done' }, 'upstream → client')

  const third = await openClient(t, gw.url)
  const noCode = closeOf(await upstream.connection(2))
  third.close()
  t.same(await noCode, { code: 4005, reason: '' }, 'a close frame without a code')

  const fourth = await openClient(t, gw.url)
  const cut = closeOf(await upstream.connection(3))
  fourth.terminate()
  t.same(await cut, { code: 4006, reason: '' }, 'a connection that ended without a close frame')
})

t.test('a message over WS_MAX_MESSAGE closes both sides with 1009, either way; one at the limit passes', async (t) => {
  const limit = 64 * 1024
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN, WS_MAX_MESSAGE: String(limit) })

  const client = await openClient(t, gw.url)
  const socket = await upstream.connection(0)
  const received = collect(socket)
  client.send(Buffer.alloc(limit, 1))
  await waitUntil(() => received.length === 1, 3000, 'the message at the limit')
  t.equal(received[0].length, limit, 'a message of WS_MAX_MESSAGE bytes passes')
  const clientClosed = closeOf(client)
  const upstreamClosed = closeOf(socket)
  client.send(Buffer.alloc(limit + 1, 2))
  t.equal((await clientClosed).code, 1009, 'the client that sent it gets 1009')
  t.same(await upstreamClosed, { code: 1009, reason: 'message too big' }, 'the upstream too')
  t.equal(received.length, 1, 'the large message never reached the upstream')

  const other = await openClient(t, gw.url, { maxPayload: 4 * limit })
  const otherSocket = await upstream.connection(1)
  const delivered = collect(other)
  otherSocket.send(Buffer.alloc(limit, 3))
  await waitUntil(() => delivered.length === 1, 3000, 'the message at the limit')
  const otherClosed = closeOf(other)
  const otherSocketClosed = closeOf(otherSocket)
  otherSocket.send(Buffer.alloc(limit + 1, 4))
  t.equal((await otherSocketClosed).code, 1009, 'the upstream that sent it gets 1009')
  t.same(await otherClosed, { code: 1009, reason: 'message too big' }, 'the client too')
  t.equal(delivered.length, 1, 'the large message never reached the client')

  t.match(warnings(gw), [
    { from: 'client', maxMessageBytes: limit, msg: 'WebSocket message larger than WS_MAX_MESSAGE; closing the connection (1009)' },
    { from: 'upstream', maxMessageBytes: limit }
  ])
})

t.test('a side that breaks the protocol is closed by the gateway; the other side gets 1011', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })

  const client = await openClient(t, gw.url)
  const socket = await upstream.connection(0)
  const clientClosed = closeOf(client)
  const upstreamClosed = closeOf(socket)
  // A text message that is not UTF-8.
  client.send(Buffer.from([0xff, 0xfe]), { binary: false })
  t.equal((await clientClosed).code, 1007, 'the client: invalid payload')
  t.same(await upstreamClosed, { code: 1011, reason: 'client connection failed' })

  const other = await openClient(t, gw.url)
  const otherSocket = await upstream.connection(1)
  const otherClosed = closeOf(other)
  const otherSocketClosed = closeOf(otherSocket)
  otherSocket.send(Buffer.from([0xff, 0xfe]), { binary: false })
  t.equal((await otherSocketClosed).code, 1007, 'the upstream: invalid payload')
  t.same(await otherClosed, { code: 1011, reason: 'upstream connection failed' })
  t.notOk(warnings(gw).some((w) => /connection failed/.test(w.msg)), 'not logged as a failed upstream connection')
})

t.test('the client\'s subprotocol is offered to the upstream', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url, { protocols: ['chat.v2', 'chat.v1'] })
  t.equal(client.protocol, 'chat.v2', 'the gateway accepted the first one')
  await upstream.connection(0)
  t.equal(upstream.handshakes[0]['sec-websocket-protocol'], 'chat.v2', 'and offered only that one upstream')
  t.equal(upstream.sockets[0].protocol, 'chat.v2')
})

t.test('a client that leaves while the upstream is connecting: the attempt is dropped without a log line', async (t) => {
  let handshakes = 0
  const upstream = await startWsUpstream(t, { verifyClient: (_info, accept) => { handshakes++; setTimeout(() => accept(true), 300) } })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url)
  await waitUntil(() => handshakes === 1, 3000, 'the upstream handshake')
  client.terminate()
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(upstream.sockets.length, 0, 'the upstream connection was abandoned before it opened')
  t.same(warnings(gw), [], 'nothing to report')
})

t.test('the upstream\'s handshake must complete within UPSTREAM_TIMEOUT', async (t) => {
  // Takes connections and never answers.
  const silent = createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { silent.close() })
  const gw = await startGateway(t, { UPSTREAM_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, AUTH_TOKEN: TOKEN, UPSTREAM_TIMEOUT: '300' })
  const client = await openClient(t, gw.url)
  const started = Date.now()
  const closed = await Promise.race([closeOf(client), new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000))])
  t.equal(closed?.code, 1011, 'closed once the handshake timed out')
  t.ok(Date.now() - started < 3000, `after ${Date.now() - started} ms`)
  t.match(warnings(gw), [{ msg: /Upstream WebSocket connection failed/, reason: /handshake has timed out/ }])
})

t.test('an Upgrade header that lists websocket among other protocols opens a WebSocket', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { socket, received } = await rawConnection(t, gw.url)
  socket.write(`GET /listed HTTP/1.1\r\nHost: gateway\r\nUpgrade: h2c, WebSocket\r\n${HANDSHAKE}\r\n`)
  await waitUntil(() => /\r\n\r\n/.test(received()), 3000, 'the handshake answer')
  t.match(received(), /^HTTP\/1\.1 101 Switching Protocols\r\n/)
  await upstream.connection(0)
  t.equal(upstream.handshakes[0].upgrade, 'websocket', 'the upstream is offered the one protocol')
})

t.test('an upgrade whose path leaves the upstream\'s host or prefix is refused with 400 before any relay', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: `${upstream.url}/v2`, AUTH_TOKEN: TOKEN })
  const bare = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const answers: string[] = []
  for (const [target, url] of [['/..%2f..%2fx', gw.url], ['/%2e%2e/x', gw.url], ['/x/../../y', gw.url], ['//evil.example/x', bare.url], ['/\\evil.example/x', bare.url]]) {
    const { socket, received } = await rawConnection(t, url)
    socket.write(`GET ${target} HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n${HANDSHAKE}\r\n`)
    await waitUntil(() => socket.destroyed || socket.readableEnded, 3000, `the answer to ${target}`)
    answers.push(`${target} ${received().split('\r\n')[0]}`)
  }
  t.same(answers, [
    '/..%2f..%2fx HTTP/1.1 400 Bad Request', '/%2e%2e/x HTTP/1.1 400 Bad Request', '/x/../../y HTTP/1.1 400 Bad Request',
    '//evil.example/x HTTP/1.1 400 Bad Request', '/\\evil.example/x HTTP/1.1 400 Bad Request'
  ])
  t.equal(upstream.handshakes.length, 0, 'the upstream was never asked')

  t.same(upstream.requests, [], 'nor sent as a plain request')
  await openClient(t, `${gw.url}/inside`)
  await upstream.connection(0)
  t.equal(upstream.handshakes.length, 1, 'a path inside the prefix is relayed')
})

t.test('shutdown closes every WebSocket with 1001, both sides, and app.close() completes', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url)
  const clientClosed = closeOf(client)
  const upstreamClosed = closeOf(await upstream.connection(0))
  const started = Date.now()
  await gw.app.close()
  t.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`)
  t.same(await clientClosed, { code: 1001, reason: 'gateway shutting down' })
  t.same(await upstreamClosed, { code: 1001, reason: 'gateway shutting down' })
})

t.test('at shutdown a client that never answers the close frame is cut after WS_CLOSE_TIMEOUT_MS', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url)
  await upstream.connection(0)
  // Reads nothing, so it never sees the close frame.
  client.pause()
  const clientClosed = closeOf(client)
  const started = Date.now()
  await gw.app.close()
  const tookMs = Date.now() - started
  t.ok(tookMs >= WS_CLOSE_TIMEOUT_MS - 100 && tookMs < WS_CLOSE_TIMEOUT_MS + 3000, `cut after ${tookMs} ms`)
  client.resume()
  t.equal((await clientClosed).code, 1001, 'reading again, the client finds the close frame it was sent')
})
