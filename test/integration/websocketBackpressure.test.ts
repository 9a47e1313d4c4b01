// The built gateway as a child process (dist/, as `npm start` runs it) relaying WebSockets: a side
// that stops reading makes the gateway stop reading the other side, so 300 MiB sent at a stalled
// peer wait in the sender's own buffers, not in the gateway (its RSS is read from /proc); then
// WS_MAX_MESSAGE, upgrades that are not WebSockets, pipelining, and SIGTERM with a WebSocket open.
// The relay's code paths are covered in-process by test/integration/websocketRelay.test.ts.
import t from 'tap'
import type { WebSocket } from 'ws'
import { startGatewayProcess } from '../helpers/process.js'
import { rawConnection, rssMb } from '../helpers/rawClient.js'
import { closeOf, collect, flood, MiB, openClient, startWsUpstream, waitUntil, windows, zeroMask } from '../helpers/webSockets.js'

const TOKEN = 'opaque-token-for-websocket-floods'
const MESSAGES = 300
// What the gateway holds for one relay is bounded by the relay's high-water mark (1 MiB) plus the
// message that crossed it, per direction, and one message being received: a few MiB. What else
// left the sender sits in the kernel's socket buffers, which RSS does not count. The relay of
// @fastify/http-proxy this replaces grew by about 300 MB here, every message having left the sender.
const RSS_GROWTH_BOUND_MB = 64
// Messages that may leave the sender while nothing is read: the kernel's buffers on the three
// sockets between the stalled peer and the sender, the relay's mark and the sender's own window
// of 8 MiB, all of a few MiB on loopback. Without backpressure all 300 leave.
const STALLED_BOUND = 64

/** Sends a few messages through first, so the baseline includes what one relay always allocates. */
async function warmUp (from: WebSocket, to: WebSocket): Promise<void> {
  const received = collect(to)
  for (let i = 0; i < 4; i++) from.send(Buffer.alloc(MiB, i))
  await waitUntil(() => received.length === 4, 10_000, 'the warm-up messages')
  to.removeAllListeners('message')
}

t.test('a flood at a peer that stops reading stays in the sender, both ways; the gateway\'s memory stays flat', async (t) => {
  const { message, check } = windows(MiB, MESSAGES)

  // A gateway each, so that each baseline is a fresh process's.
  for (const direction of ['client → upstream', 'upstream → client'] as const) {
    await t.test(`${direction} that stopped reading`, async (t) => {
      const upstream = await startWsUpstream(t)
      const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
      const toUpstream = direction === 'client → upstream'
      const client = await openClient(t, gw.url, toUpstream ? { generateMask: zeroMask } : {})
      const socket = await upstream.connection(0)
      const [sender, reader] = toUpstream ? [client, socket] : [socket, client]
      const senderName = toUpstream ? 'client' : 'upstream'
      await warmUp(sender, reader)
      reader.pause()
      const before = rssMb(gw.child.pid!)
      const sending = flood(sender, MESSAGES, message)
      const stalledAt = await sending.stalled()
      const after = rssMb(gw.child.pid!)
      t.comment(`${direction}: ${stalledAt} of ${MESSAGES} × 1 MiB left the ${senderName}; it holds ${(sender.bufferedAmount / MiB).toFixed(1)} MiB; ` +
        `gateway RSS ${before.toFixed(1)} → ${after.toFixed(1)} MB (+${(after - before).toFixed(1)})`)
      t.ok(stalledAt < STALLED_BOUND, `the ${senderName} could hand over only ${stalledAt} messages`)
      t.ok(sender.bufferedAmount >= 4 * MiB, `the rest waits in the ${senderName}'s own buffer`)
      t.ok(after - before < RSS_GROWTH_BOUND_MB, `gateway RSS grew by ${(after - before).toFixed(1)} MB`)

      const received = collect(reader)
      reader.resume()
      await sending.done
      await waitUntil(() => received.length === MESSAGES, 60_000, `every message at the ${toUpstream ? 'upstream' : 'client'}`)
      t.equal(check(received), MESSAGES, 'every message arrived whole and in order')
    })
  }
})

t.test('WS_MAX_MESSAGE: one byte over closes both sides with 1009, either way; a message at the limit passes', async (t) => {
  const limit = 64 * 1024
  const upstream = await startWsUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN, WS_MAX_MESSAGE: String(limit) })

  const client = await openClient(t, gw.url)
  const socket = await upstream.connection(0)
  const upstreamGot = collect(socket)
  client.send(Buffer.alloc(limit - 1, 1))
  client.send(Buffer.alloc(limit, 2))
  await waitUntil(() => upstreamGot.length === 2, 5000, 'the messages within the limit')
  t.same(upstreamGot.map((m) => m.length), [limit - 1, limit])
  const closes = Promise.all([closeOf(client), closeOf(socket)])
  client.send(Buffer.alloc(limit + 1, 3))
  t.same((await closes).map((c) => c.code), [1009, 1009], 'client → upstream: the client and the upstream get 1009')
  t.equal(upstreamGot.length, 2, 'the large message was not relayed')

  const other = await openClient(t, gw.url, { maxPayload: 4 * limit })
  const otherSocket = await upstream.connection(1)
  const clientGot = collect(other)
  otherSocket.send(Buffer.alloc(limit, 4))
  await waitUntil(() => clientGot.length === 1, 5000, 'the message at the limit')
  const otherCloses = Promise.all([closeOf(otherSocket), closeOf(other)])
  otherSocket.send(Buffer.alloc(limit + 1, 5))
  t.same((await otherCloses).map((c) => c.code), [1009, 1009], 'upstream → client: both get 1009')
  t.equal(clientGot.length, 1)
  await gw.waitForOutput(/"from":"upstream".*WebSocket message larger than WS_MAX_MESSAGE/)
  t.match(gw.output(), /"from":"client".*WebSocket message larger than WS_MAX_MESSAGE; closing the connection \(1009\)/)
})

t.test('upgrades that are not WebSockets, and pipelined ones, are answered in order', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const answers = (text: string): string[] => text.match(/HTTP\/1\.1 \d{3}/g) ?? []
  const OFFER = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'

  await t.test('Upgrade: not-websocket is a plain request', async (t) => {
    const { socket, received } = await rawConnection(t, gw.url)
    socket.write('GET /not HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: not-websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    await waitUntil(() => /"url":"\/not"/.test(received()), 5000, 'the answer')
    t.same(answers(received()), ['HTTP/1.1 200'])
    const seen = upstream.requests.find((r) => r.url === '/not')!
    t.equal(seen.headers.upgrade, undefined, 'the upstream sees no upgrade')
    t.equal(upstream.handshakes.length, 0, 'and no WebSocket was opened')
  })

  await t.test('a plain request, then an h2c offer, then a plain request, in one packet', async (t) => {
    const { socket, received } = await rawConnection(t, gw.url)
    socket.write(`GET /a HTTP/1.1\r\nHost: gateway\r\n\r\nGET /b HTTP/1.1\r\nHost: gateway\r\n${OFFER}\r\nGET /c HTTP/1.1\r\nHost: gateway\r\n\r\n`)
    await waitUntil(() => answers(received()).length === 3, 5000, 'three answers')
    const order = ['/a', '/b', '/c'].map((path) => received().indexOf(`"url":"${path}"`))
    t.ok(order[0] > 0 && order[1] > order[0] && order[2] > order[1], 'every request answered, in order')
  })

  await t.test('an h2c offer, then a plain request, in one packet', async (t) => {
    const { socket, received } = await rawConnection(t, gw.url)
    socket.write(`GET /d HTTP/1.1\r\nHost: gateway\r\n${OFFER}\r\nGET /e HTTP/1.1\r\nHost: gateway\r\n\r\n`)
    await waitUntil(() => answers(received()).length === 2, 5000, 'two answers')
    t.ok(received().indexOf('"url":"/d"') < received().indexOf('"url":"/e"'), 'in order')
  })

  await t.test('a plain request, then a WebSocket upgrade, in one packet', async (t) => {
    const { socket, received } = await rawConnection(t, gw.url)
    socket.write('GET /f HTTP/1.1\r\nHost: gateway\r\n\r\nGET /live HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    await waitUntil(() => answers(received()).length === 2, 5000, 'two answers')
    t.same(answers(received()), ['HTTP/1.1 200', 'HTTP/1.1 101'])
    t.equal(gw.child.exitCode, null, 'the gateway is still running')
  })
})

t.test('SIGTERM with a WebSocket open: both sides get 1001 and the process exits 0 at once', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const client = await openClient(t, gw.url)
  const closes = Promise.all([closeOf(client), closeOf(await upstream.connection(0))])
  const signalledAt = Date.now()
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
  const tookMs = Date.now() - signalledAt
  t.ok(tookMs < 3000, `exited ${tookMs} ms after the signal`)
  t.same(await closes, [{ code: 1001, reason: 'gateway shutting down' }, { code: 1001, reason: 'gateway shutting down' }])
  t.match(gw.output(), /tokengate stopped/)
})
