// Slow and stalled clients cost bounded memory and time, against the built gateway: 200 clients
// that send 1 MiB − 1 byte of a 1 MiB body and stall grow it by far less than 200 MB (bodies kept
// for a 401 replay share REPLAY_BUFFER_TOTAL; the rest stream), others are served meanwhile, and
// CLIENT_TIMEOUT cuts the stalled ones. Then the client connection limits: a head that trickles,
// an idle keep-alive connection, the requests one connection may carry.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { metricValue, rawConnection, rssMb, type RawConnection } from '../helpers/rawClient.js'
import { waitFor } from '../helpers/servers.js'

const MIB = 1024 * 1024

/** Reads every body it gets; answers only once the body has ended. */
async function slowUpstream (t: Test): Promise<{ url: string, open: () => number }> {
  let open = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    open++
    req.resume()
    req.on('close', () => { open-- })
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
  })
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, open: () => open }
}

t.test('200 uploads stalled 1 byte short of 1 MiB: memory bounded by REPLAY_BUFFER_TOTAL, others served, all cut at CLIENT_TIMEOUT', async (t) => {
  const upstream = await slowUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-slow-client-token', CLIENT_TIMEOUT: '6000' })
  // Warm up the paths the uploads will take, so the measure is of the bodies, not of code loaded late.
  for (let i = 0; i < 20; i++) await (await request(`${gw.url}/warm`, { method: 'POST', body: 'x'.repeat(64 * 1024) })).body.dump()
  const before = rssMb(gw.child.pid!)

  const body = Buffer.alloc(MIB - 1, 'a')
  const clients: RawConnection[] = []
  for (let i = 0; i < 200; i++) {
    const client = await rawConnection(t, gw.url)
    client.socket.write(`POST /upload/${i} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/octet-stream\r\nContent-Length: ${MIB}\r\n\r\n`)
    client.socket.write(body)
    clients.push(client)
  }
  t.teardown(() => { for (const client of clients) client.socket.destroy() })
  // Bodies the budget could not hold stream to the upstream, which reads them as they come.
  await waitFor(() => upstream.open() >= 200 - 64, 10_000, 'the uploads beyond the budget streaming upstream')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const held = await metricValue(gw.url, 'tokengate_replay_buffer_bytes')
  const after = rssMb(gw.child.pid!)
  const growth = after - before
  t.ok(held <= 64 * MIB && held >= 60 * MIB, `${(held / MIB).toFixed(1)} MiB held for replays: the budget, REPLAY_BUFFER_TOTAL (64 MiB), is full`)
  // The bodies held are the budget; the rest is what 200 open uploads cost beside it (sockets,
  // requests in flight upstream, the allocator's high-water mark after 136 MiB streamed through):
  // about 30 MB measured with REPLAY_BUFFER_TOTAL=0.
  t.ok(growth < 64 + 40, `200 stalled uploads of ~1 MiB grew the gateway by ${growth.toFixed(1)} MB (from ${before.toFixed(1)} to ${after.toFixed(1)} MB): the 64 MiB budget and the uploads' overhead, far less than 200 MB`)

  const started = performance.now()
  const short = await request(`${gw.url}/short`)
  await short.body.dump()
  const ms = performance.now() - started
  t.equal(short.statusCode, 200)
  t.ok(ms < 500, `another client is served meanwhile in ${ms.toFixed(1)} ms`)

  await waitFor(() => clients.every((client) => client.closed()), 12_000, 'CLIENT_TIMEOUT cutting every stalled upload')
  t.ok(clients.every((client) => /^HTTP\/1\.1 408 /.test(client.received())), 'every stalled client got 408 before the cut')
  t.equal(await metricValue(gw.url, 'tokengate_replay_buffer_bytes'), 0, 'the budget is whole again')
  await waitFor(() => upstream.open() === 0, 5000, 'the streamed uploads aborted upstream too')
})

t.test('a body that stalls after its response has started is cut without a second answer', async (t) => {
  // The upstream answers at once, before the body ends, then the client stops sending.
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('early answer\n')
    req.resume()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, AUTH_TOKEN: 'opaque-slow-client-token', CLIENT_TIMEOUT: '800'
  })
  const client = await rawConnection(t, gw.url)
  client.socket.write(`POST /early HTTP/1.1\r\nHost: gateway\r\nContent-Length: ${2 * MIB}\r\n\r\nsome`)
  await waitFor(() => client.closed(), 5000, 'the cut')
  t.match(client.received(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*early answer/, 'the response that had started')
  t.notMatch(client.received(), /408/, 'and no 408 written into it')
  // The log line travels through the child's stdout: it may arrive just after the cut.
  await gw.waitForOutput(/The client sent nothing for CLIENT_TIMEOUT in the middle of its request body; cutting it/, 3000)
  t.pass('the cut is logged')
})

t.test('the client connection limits: a head that trickles, an idle keep-alive connection, requests per connection', async (t) => {
  const upstream = await slowUpstream(t)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: 'opaque-slow-client-token',
    CLIENT_TIMEOUT: '1000',
    CLIENT_KEEP_ALIVE_TIMEOUT: '700',
    CLIENT_MAX_REQUESTS_PER_CONNECTION: '3'
  })

  // A head trickled a byte at a time, each well within the timeout: the whole head must still arrive in it.
  const trickler = await rawConnection(t, gw.url)
  const head = 'GET /slow-head HTTP/1.1\r\nHost: gateway\r\nX-Padding: ' + 'p'.repeat(40) + '\r\n\r\n'
  const started = performance.now()
  for (const byte of head) {
    if (trickler.closed()) break
    trickler.socket.write(byte)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await waitFor(() => trickler.closed(), 3000, 'the cut of the trickling head')
  t.match(trickler.received(), /^HTTP\/1\.1 408 /, 'a head not complete within CLIENT_TIMEOUT gets 408')
  t.ok(performance.now() - started < 2500, 'cut within the timeout and its check period')

  // Keep-alive: three requests on one connection, the third answered with Connection: close.
  const keeper = await rawConnection(t, gw.url)
  for (let i = 1; i <= 3; i++) {
    keeper.socket.write(`GET /n/${i} HTTP/1.1\r\nHost: gateway\r\n\r\n`)
    await waitFor(() => (keeper.received().match(/HTTP\/1\.1 200/g) ?? []).length === i, 3000, `answer ${i}`)
  }
  await waitFor(() => keeper.closed(), 3000, 'the close after the third request')
  const answers = keeper.received().split(/(?=HTTP\/1\.1 )/)
  t.match(answers[2], /\r\nconnection: close\r\n/i, 'the third answer closes the connection')
  t.notMatch(answers[1], /\r\nconnection: close\r\n/i, 'the second did not')

  const idle = await rawConnection(t, gw.url)
  idle.socket.write('GET /once HTTP/1.1\r\nHost: gateway\r\n\r\n')
  await waitFor(() => /HTTP\/1\.1 200/.test(idle.received()), 3000, 'the answer')
  const answeredAt = performance.now()
  await waitFor(() => idle.closed(), 3000, 'the idle connection closing')
  const idleMs = performance.now() - answeredAt
  t.ok(idleMs >= 600 && idleMs < 2000, `an idle keep-alive connection closes after CLIENT_KEEP_ALIVE_TIMEOUT (${idleMs.toFixed(0)} ms)`)
})

t.test('CLIENT_LISTEN_BACKLOG: connections beyond it wait in the kernel while the gateway cannot accept, and are served once it can', async (t) => {
  const upstream = await slowUpstream(t)
  const ATTEMPTS = 10
  const madeWhileStopped: Record<string, number> = {}
  for (const [label, env] of [['backlog 2', { CLIENT_LISTEN_BACKLOG: '2' }], ['default', {}]] as const) {
    const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-backlog-token', ...env })
    const port = Number(new URL(gw.url).port)
    // Stopped, the gateway accepts nothing: what the kernel completes for it is its backlog.
    gw.child.kill('SIGSTOP')
    const sockets = Array.from({ length: ATTEMPTS }, () => connect(port, '127.0.0.1'))
    t.teardown(() => { for (const socket of sockets) socket.destroy() })
    let made = 0
    for (const socket of sockets) {
      socket.on('connect', () => { made++ })
      socket.on('error', () => {})
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    madeWhileStopped[label] = made
    gw.child.kill('SIGCONT')
    // The held-back connection attempts are retried by the client's kernel (after 1 s, 3 s, 7 s,
    // 15 s): even if each round of retries found room for only backlog + 1, all are in by then.
    await waitFor(() => made === ATTEMPTS, 35_000, `all ${ATTEMPTS} connections to be made (${label})`)
    const answers = await Promise.all(sockets.map((socket) => new Promise<string>((resolve) => {
      let text = ''
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1')
        if (text.includes('\r\n\r\n')) resolve(text.slice(0, 12))
      })
      socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n')
    })))
    t.same(new Set(answers), new Set(['HTTP/1.1 200']), `every connection served once the gateway runs (${label})`)
  }
  // Linux holds backlog + 1 completed connections.
  t.ok(madeWhileStopped['backlog 2'] >= 1 && madeWhileStopped['backlog 2'] <= 3, `with a backlog of 2, ${madeWhileStopped['backlog 2']} of ${ATTEMPTS} connections made while the gateway was stopped`)
  t.equal(madeWhileStopped.default, ATTEMPTS, `with the default backlog (4096), all ${ATTEMPTS} were made`)
})
