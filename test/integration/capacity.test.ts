// Long streams never starve short requests, against the built gateway: a thousand open
// server-sent-event streams (a chat app with a thousand users typing) all receive their events
// while short requests answer at once; clients that announce a large body and stall do not hold
// the gateway; and past UPSTREAM_MAX_CONNECTIONS a request waits its timeout, then gets 503
// upstream_busy with Retry-After, never an endless wait.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { spawn } from 'node:child_process'
import { CHILD_ENV, SERVER_ENTRY, startGatewayProcess } from '../helpers/process.js'
import { metricValue, rssMb } from '../helpers/rawClient.js'
import { waitFor } from '../helpers/servers.js'

interface SseUpstream { url: string, open: () => number }

/** /stream: an event now and every `gapMs` until the client goes; anything else: a short JSON answer. */
async function sseUpstream (t: Test, gapMs = 250): Promise<SseUpstream> {
  const open = new Set<ServerResponse>()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    if (!req.url!.startsWith('/stream')) {
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"short":true}'))
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    let n = 0
    const send = (): void => { res.write(`data: {"n":${++n}}\n\n`) }
    send()
    const timer = setInterval(send, gapMs)
    open.add(res)
    res.on('close', () => { clearInterval(timer); open.delete(res) })
  })
  server.maxConnections = 20_000
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, open: () => open.size }
}

interface ClientStream { events: number, close: () => void }

/** Opens one stream through the gateway (a connection of its own) and counts the events it receives. */
function openStream (gatewayUrl: string): Promise<ClientStream> {
  return new Promise((resolve, reject) => {
    const stream: ClientStream = { events: 0, close: () => {} }
    const req = httpRequest(`${gatewayUrl}/stream`, { agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`stream answered ${res.statusCode}`))
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        stream.events += chunk.split('\n\n').length - 1
        if (stream.events > 0) resolve(stream)
      })
      res.on('error', () => {})
    })
    req.on('error', reject)
    stream.close = () => { req.destroy() }
    req.end()
  })
}

async function openStreams (gatewayUrl: string, count: number, batch = 100): Promise<ClientStream[]> {
  const streams: ClientStream[] = []
  for (let i = 0; i < count; i += batch) {
    streams.push(...await Promise.all(Array.from({ length: Math.min(batch, count - i) }, () => openStream(gatewayUrl))))
  }
  return streams
}

async function timedGet (url: string): Promise<{ ms: number, status: number, retryAfter: string | undefined, body: string }> {
  const started = performance.now()
  const res = await request(url)
  const body = await res.body.text()
  return { ms: performance.now() - started, status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined, body }
}

t.test('1,000 concurrent server-sent-event streams all receive events; short requests meanwhile answer in well under a second', async (t) => {
  const upstream = await sseUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-capacity-token' })
  // Warmed up with a hundred streams first, so the measure is of streams, not of code loaded late.
  const warm = await openStreams(gw.url, 100)
  for (const stream of warm) stream.close()
  await waitFor(() => upstream.open() === 0, 5000, 'the warm-up streams to end')
  const rssBefore = rssMb(gw.child.pid!)
  const streams = await openStreams(gw.url, 1000)
  t.teardown(() => { for (const stream of streams) stream.close() })
  t.equal(upstream.open(), 1000, 'a thousand streams open at the upstream')
  const perStreamKb = (rssMb(gw.child.pid!) - rssBefore) * 1024 / 1000
  t.ok(perStreamKb < 100, `memory per open stream: ${perStreamKb.toFixed(1)} KB (the machine's memory is the limit, not a pool)`)

  const short: number[] = []
  for (let i = 0; i < 20; i++) {
    const res = await timedGet(`${gw.url}/short`)
    t.equal(res.status, 200)
    short.push(res.ms)
  }
  const slowest = Math.max(...short)
  t.ok(slowest < 500, `20 short requests beside 1,000 streams: slowest ${slowest.toFixed(1)} ms, median ${short.sort((a, b) => a - b)[10].toFixed(1)} ms`)

  t.equal(await metricValue(gw.url, 'tokengate_upstream_connections_in_use'), 1000, 'each stream holds one upstream connection')
  t.equal(await metricValue(gw.url, 'tokengate_upstream_requests_waiting'), 0)

  const before = streams.map((stream) => stream.events)
  await new Promise((resolve) => setTimeout(resolve, 800))
  const silent = streams.filter((stream, i) => stream.events <= before[i]).length
  t.equal(silent, 0, 'every one of the 1,000 streams kept receiving events')
})

t.test('past UPSTREAM_MAX_CONNECTIONS, a request waits its UPSTREAM_TIMEOUT, then 503 upstream_busy with Retry-After', async (t) => {
  const upstream = await sseUpstream(t)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-capacity-token', UPSTREAM_MAX_CONNECTIONS: '128', UPSTREAM_TIMEOUT: '1000'
  })
  const streams = await openStreams(gw.url, 128)
  t.teardown(() => { for (const stream of streams) stream.close() })
  // Two more streams, as the 130 chat users of the bug report: they wait for a connection.
  const waiting = [openStream(gw.url), openStream(gw.url)].map((p) => p.catch((err: Error) => err))

  const busy = await timedGet(`${gw.url}/short`)
  t.equal(busy.status, 503)
  t.same(JSON.parse(busy.body), { error: 'upstream_busy', message: 'every upstream connection is in use; try again shortly' })
  t.equal(busy.retryAfter, '1')
  t.ok(busy.ms >= 900 && busy.ms < 3000, `answered after the 1 s timeout (${busy.ms.toFixed(0)} ms), not never`)
  t.match(String(await waiting[0]), /stream answered 503/, 'the 129th stream too')

  // A stream ends: the next request in line takes its connection at once.
  streams.pop()!.close()
  const served = await timedGet(`${gw.url}/short`)
  t.equal(served.status, 200, 'a freed connection serves the next request')
  await gw.waitForOutput(/No upstream connection free within the route's timeout/, 3000)
  t.pass('the refusal is logged')
  await waiting[1]
})

t.test('130 clients that announce a 2 MB body and send none: others are served, and the stalled ones are cut at CLIENT_TIMEOUT', async (t) => {
  const upstream = await sseUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-capacity-token', CLIENT_TIMEOUT: '1500' })
  const { port } = new URL(gw.url)
  const stalled: Array<{ socket: Socket, received: string, closedAt: number | null }> = []
  const openedAt = performance.now()
  for (let i = 0; i < 130; i++) {
    const socket = connect(Number(port), '127.0.0.1')
    const entry = { socket, received: '', closedAt: null as number | null }
    socket.on('data', (chunk: Buffer) => { entry.received += chunk.toString('latin1') })
    socket.on('close', () => { entry.closedAt = performance.now() })
    socket.on('error', () => {})
    socket.write('POST /upload HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/octet-stream\r\nContent-Length: 2000000\r\n\r\npartial')
    stalled.push(entry)
  }
  t.teardown(() => { for (const entry of stalled) entry.socket.destroy() })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const short = await timedGet(`${gw.url}/short`)
  t.equal(short.status, 200)
  t.ok(short.ms < 500, `a short request beside 130 stalled uploads: ${short.ms.toFixed(1)} ms`)

  await new Promise((resolve) => setTimeout(resolve, 2500))
  const cut = stalled.filter((entry) => entry.closedAt !== null)
  t.equal(cut.length, 130, 'every stalled client was cut')
  t.ok(cut.every((entry) => /^HTTP\/1\.1 408 /.test(entry.received)), 'each with 408 (no response had started)')
  t.ok(cut.every((entry) => entry.closedAt! - openedAt >= 1400), 'not before CLIENT_TIMEOUT')
  t.match(JSON.parse(cut[0].received.split('\r\n\r\n')[1]), { error: 'client_timeout' })
})

t.test('a gateway out of file descriptors answers 503 upstream_busy, stays up, and serves again once streams end', async (t) => {
  const upstream = await sseUpstream(t)
  // The built gateway under a limit of 80 descriptors: about 30 streams (a client and an upstream socket each) use them up.
  const child = spawn('sh', ['-c', 'ulimit -n 80 && exec "$0" "$1"', process.execPath, SERVER_ENTRY], {
    env: { PATH: process.env.PATH ?? '', ...CHILD_ENV, HOST: '127.0.0.1', PORT: '0', TOKEN_STORE: 'memory', UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-capacity-token' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  t.teardown(() => { child.kill('SIGKILL') })
  await waitFor(() => /Server listening at/.test(output), 10_000, 'the gateway to listen')
  const url = `http://127.0.0.1:${/Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1]}`

  const opened: ClientStream[] = []
  const refused: string[] = []
  for (let i = 0; i < 50; i++) {
    try {
      opened.push(await openStream(url))
    } catch (err) {
      refused.push((err as Error).message)
    }
  }
  t.ok(opened.length >= 10, `${opened.length} streams held`)
  t.ok(refused.length > 0 && refused.every((message) => message === 'stream answered 503'), `the ${refused.length} beyond the descriptors got 503`)
  t.match(output, /"code":"EMFILE","msg":"No file descriptor left for an upstream connection; answering 503"/)
  t.equal(child.exitCode, null, 'the gateway is still up')
  for (const stream of opened) stream.close()
  await waitFor(() => upstream.open() === 0, 5000, 'the streams to end')
  const again = await timedGet(`${url}/short`)
  t.equal(again.status, 200, 'served again once descriptors are free')
})
