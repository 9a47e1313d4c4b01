// What the proxy's forwarding (routes/proxy/forward.ts) does itself since it no longer goes
// through @fastify/reply-from: the path as the URL parser makes it, Host, repeated headers, an
// unusable status, a text body, an early answer; chunks passed on as they come, backpressure from
// a slow client, and a departure on either side passed on to the other.
import { mkdtempSync } from 'node:fs'
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { identityProvider, waitFor } from '../helpers/servers.js'
import { makeCertificate, startHttpsServer } from '../helpers/tls.js'

const TOKEN = 'opaque-token-for-forwarding'

interface Upstream {
  url: string
  host: string
  /** Requests received, with their sockets' fate. */
  seen: Array<{ method: string, url: string, headers: IncomingMessage['headers'], socketClosed: boolean }>
}

/** An upstream whose answer the test writes; every request is recorded as it arrives. */
async function upstreamWith (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const seen: Upstream['seen'] = []
  const server = createServer((req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, socketClosed: false }
    seen.push(entry)
    req.socket.once('close', () => { entry.socketClosed = true })
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url: `http://${host}`, host, seen }
}

/** Sends raw bytes and reads until the gateway has sent a whole head. */
function rawExchange (port: number, head: string, body: Buffer | null): Promise<{ head: string, socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1')
      const end = received.indexOf('\r\n\r\n')
      if (end >= 0) {
        socket.removeAllListeners('data')
        resolve({ head: received.slice(0, end), socket })
      }
    })
    socket.on('error', reject)
    socket.write(head)
    if (body !== null) socket.write(body)
  })
}

t.test('the path goes as the URL parser makes it, the query as the client sent it, Host names the upstream', async (t) => {
  const upstream = await upstreamWith(t, (_req, res) => { res.end('ok') })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const cases: Array<[string, string]> = [
    ['/v1/chat.completions?stream=true', '/v1/chat.completions?stream=true'],
    ['/files/./report.json?q=a%20b&r=./x', '/files/report.json?q=a%20b&r=./x'],
    ['/a%2Fb/%7Euser', '/a%2Fb/%7Euser'],
    ['/x/y/', '/x/y/']
  ]
  for (const [sent, expected] of cases) {
    const res = await request(`${gw.url}${sent}`)
    t.equal(res.statusCode, 200, sent)
    await res.body.dump()
    t.equal(upstream.seen.at(-1)?.url, expected, `${sent} → ${expected}`)
    t.equal(upstream.seen.at(-1)?.headers.host, upstream.host, 'Host is the upstream\'s')
  }
})

t.test('headers an upstream repeats pass as they came; a status no HTTP answer can have is a 502', async (t) => {
  const upstream = await upstreamWith(t, (req, res) => {
    if (req.url === '/weird') {
      res.writeHead(600).end('?')
      return
    }
    res.setHeader('set-cookie', ['a=1', 'b=2'])
    res.end('ok')
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const res = await request(`${gw.url}/cookies`)
  t.same(res.headers['set-cookie'], ['a=1', 'b=2'], 'both cookies, apart')
  await res.body.dump()

  const weird = await request(`${gw.url}/weird`)
  t.equal(weird.statusCode, 502)
  t.same(await weird.body.json(), { error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  t.match(gw.logText(), /Upstream unreachable/)
})

t.test('an informational answer before the real one (103 Early Hints) is not passed on; the real one is', async (t) => {
  const upstream = await upstreamWith(t, (_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
    res.writeHead(200, { 'content-type': 'text/plain', 'x-final': 'yes' }).end('final')
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const { head, socket } = await rawExchange(Number(new URL(gw.url).port), 'GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', null)
  t.teardown(() => socket.destroy())
  t.match(head, /^HTTP\/1\.1 200/, 'the first head the client gets is the real answer\'s')
  t.match(head, /\r\nx-final: yes/i)
  t.notMatch(head, /link:/i)
})

t.test('a text body Fastify has read goes whole, with its length and its media type', async (t) => {
  const bodies: Array<{ body: string, type: string | undefined, length: string | undefined }> = []
  const upstream = await upstreamWith(t, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      bodies.push({ body: Buffer.concat(chunks).toString('utf8'), type: req.headers['content-type'], length: req.headers['content-length'] })
      res.end('ok')
    })
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const text = 'héllo, wörld'
  const res = await request(`${gw.url}/notes`, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text })
  t.equal(res.statusCode, 200)
  await res.body.dump()
  const empty = await request(`${gw.url}/notes`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '' })
  t.equal(empty.statusCode, 200)
  await empty.body.dump()
  t.same(bodies, [
    { body: text, type: 'text/plain', length: String(Buffer.byteLength(text)) },
    { body: '', type: 'text/plain', length: '0' }
  ])
})

t.test('an upstream that answers before the client\'s body has ended: the client\'s connection closes after it', async (t) => {
  const upstream = await upstreamWith(t, (_req, res) => { res.end('early') })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const port = Number(new URL(gw.url).port)
  // Over the 1 MiB kept for a replay: the body streams, and only its first part is sent.
  const declared = 4 * 1024 * 1024
  const { head, socket } = await rawExchange(port,
    `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`, Buffer.alloc(64 * 1024))
  t.teardown(() => socket.destroy())
  t.match(head, /^HTTP\/1\.1 200/)
  t.match(head, /\r\nconnection: close(\r\n|$)/i, 'the connection cannot carry another request')
})

t.test('a stream\'s chunks reach the client one by one, as the upstream sends them', async (t) => {
  let next: (() => void) | null = null
  const upstream = await upstreamWith(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    let sent = 0
    const send = (): void => {
      sent++
      if (sent > 3) {
        res.end('data: [DONE]\n\n')
        return
      }
      res.write(`data: {"n":${sent}}\n\n`)
      next = send
    }
    send()
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const res = await request(`${gw.url}/v1/chat/completions`)
  t.equal(res.headers['content-type'], 'text/event-stream')
  let text = ''
  // The upstream sends its next chunk only once the client has had the previous one: a gateway
  // that held chunks back would never finish.
  for await (const chunk of res.body) {
    text += (chunk as Buffer).toString('utf8')
    if (next !== null) {
      const send: () => void = next
      next = null
      send()
    }
  }
  t.equal(text, 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\ndata: [DONE]\n\n')
})

t.test('a client that reads slowly slows the upstream down; nothing is lost', async (t) => {
  const CHUNK = 256 * 1024
  const TOTAL_CHUNKS = 256
  const state = { written: 0, blocked: false, ended: false }
  const upstream = await upstreamWith(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(CHUNK * TOTAL_CHUNKS) })
    const chunk = Buffer.alloc(CHUNK, 7)
    const write = (): void => {
      while (state.written < TOTAL_CHUNKS) {
        state.written++
        if (!res.write(chunk)) {
          state.blocked = true
          res.once('drain', () => {
            state.blocked = false
            write()
          })
          return
        }
      }
      res.end()
      state.ended = true
    }
    write()
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const response = await new Promise<IncomingMessage>((resolve, reject) => get(`${gw.url}/big`, resolve).on('error', reject))
  response.pause()
  // The client reads nothing: the upstream is held back once the buffers on the way are full.
  await waitFor(() => state.blocked, 10_000, 'the upstream to be held back')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.ok(state.blocked && !state.ended, `the upstream is still held back after ${state.written} of ${TOTAL_CHUNKS} chunks`)
  t.ok(state.written < TOTAL_CHUNKS, 'it could not write everything')
  let received = 0
  response.on('data', (chunk: Buffer) => { received += chunk.length })
  response.resume()
  await new Promise((resolve) => response.once('end', resolve))
  t.equal(received, CHUNK * TOTAL_CHUNKS, 'every byte arrived once the client read')
})

t.test('a client that goes away: the upstream\'s request is aborted, before its head as in its body', async (t) => {
  const upstream = await upstreamWith(t, (req, res) => {
    if (req.url === '/slow') return // answers nothing: the client gives up first
    if (req.url === '/after') {
      res.end('ok')
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: first\n\n')
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const port = Number(new URL(gw.url).port)

  const slow = connect(port, '127.0.0.1')
  slow.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
  await waitFor(() => upstream.seen.some((r) => r.url === '/slow'), 5000, 'the request to reach the upstream')
  slow.destroy()
  await waitFor(() => upstream.seen.find((r) => r.url === '/slow')!.socketClosed, 5000, 'the upstream request to be aborted')
  t.pass('the request waiting for its head was aborted')

  const { head, socket } = await rawExchange(port, 'GET /endless HTTP/1.1\r\nHost: x\r\n\r\n', null)
  t.match(head, /^HTTP\/1\.1 200/)
  socket.destroy()
  await waitFor(() => upstream.seen.find((r) => r.url === '/endless')!.socketClosed, 5000, 'the upstream stream to be aborted')
  t.pass('the stream was aborted')

  const after = await request(`${gw.url}/after`)
  t.equal(await after.body.text(), 'ok', 'the gateway carries on')
})

t.test('an upstream that breaks off in the middle of its body: the client\'s connection is cut, not ended', async (t) => {
  const upstream = await upstreamWith(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' })
    res.write(Buffer.alloc(100))
    setImmediate(() => res.socket?.destroy())
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const res = await request(`${gw.url}/cut`)
  t.equal(res.statusCode, 200)
  await t.rejects(res.body.arrayBuffer(), 'the body ends in an error')
})

/** A refresh endpoint in front of the identity provider that holds each refresh until released. */
interface HeldRefreshes {
  url: string
  held: Array<(answer: 'pass' | 'fail') => void>
  /** Once set, later refreshes are answered at once this way. */
  then: 'pass' | 'fail' | null
}

async function heldRefreshes (t: Test, target: string): Promise<HeldRefreshes> {
  const state: HeldRefreshes = { url: '', held: [], then: null }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const answer = (answer: 'pass' | 'fail'): void => {
        if (answer === 'fail') {
          // Refused for good: the gateway does not try again.
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}')
          return
        }
        request(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) }).then(async (passed) => {
          res.writeHead(passed.statusCode, { 'content-type': 'application/json' }).end(Buffer.from(await passed.body.arrayBuffer()))
        }, () => { res.destroy() })
      }
      if (state.then === null) state.held.push(answer)
      else answer(state.then)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return state
}

for (const outcome of ['pass', 'fail'] as const) {
  t.test(`a client that leaves while its 401 waits for the refresh (which then ${outcome === 'pass' ? 'succeeds' : 'fails'}): nothing is sent again or passed on`, async (t) => {
    const idp = await identityProvider(t)
    const initial = idp.mint(3600)
    const upstream = await upstreamWith(t, (req, res) => {
      const refused = req.headers.authorization === `Bearer ${initial}`
      res.writeHead(refused ? 401 : 200, { 'content-type': 'application/json' }).end(refused ? '{"error":"invalid_token"}' : '{}')
    })
    const refresh = await heldRefreshes(t, idp.refreshUrl)
    const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: initial, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: refresh.url })
    const port = Number(new URL(gw.url).port)

    const client = connect(port, '127.0.0.1')
    client.write('GET /items HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitFor(() => refresh.held.length === 1, 5000, 'the 401 to start a refresh')
    client.destroy()
    await waitFor(() => upstream.seen[0].socketClosed, 5000, 'the held 401 to be let go')
    refresh.then = outcome
    refresh.held[0](outcome)
    await waitFor(() => /no new token could be obtained|Token refreshed successfully/.test(gw.logText()), 5000, 'the refresh to end')

    const after = await request(`${gw.url}/after`)
    t.equal(after.statusCode, outcome === 'pass' ? 200 : 401, 'the next request is served')
    await after.body.dump()
    t.same(upstream.seen.map((r) => r.url), ['/items', '/after'], 'the request of the client that left was never sent again')
    t.notMatch(gw.logText(), /sending the request once more/, 'no replay was started')
  })
}

t.test('a client whose streaming body stalls gets 408; its request upstream is broken off, and nothing is blamed on the upstream', async (t) => {
  const upstream = await upstreamWith(t, (req, res) => {
    req.resume()
    req.on('end', () => { res.end('never') })
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN, CLIENT_TIMEOUT: '500' })
  const port = Number(new URL(gw.url).port)
  // Over the 1 MiB kept for a replay: the body streams to the upstream as it comes.
  const { head, socket } = await rawExchange(port,
    `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`, Buffer.alloc(64 * 1024))
  t.teardown(() => socket.destroy())
  t.match(head, /^HTTP\/1\.1 408/)
  await waitFor(() => upstream.seen[0]?.socketClosed === true, 5000, 'the upstream request to be broken off')
  t.notMatch(gw.logText(), /Upstream unreachable|Upstream did not answer/, 'the upstream is not blamed')
})

/**
 * An HTTPS upstream behind a relay that takes the gateway's connection but lets its TLS handshake
 * through only when `release` is called: until then the connection is still being made.
 */
async function heldHttpsUpstream (t: Test): Promise<{ url: string, caFile: string, held: Array<() => void>, release: () => void, requests: () => number }> {
  const cert = await makeCertificate(mkdtempSync(join(tmpdir(), 'tokengate-forward-')))
  const upstream = await startHttpsServer(t, cert, (_req, res) => { res.end('sent') })
  const upstreamPort = Number(new URL(upstream.url).port)
  let requests = 0
  upstream.server.on('request', () => { requests++ })
  const held: Array<() => void> = []
  let holding = true
  const relay = createNetServer((inbound) => {
    inbound.pause()
    const pass = (): void => {
      const outbound = connect(upstreamPort, '127.0.0.1')
      inbound.pipe(outbound).pipe(inbound)
      inbound.resume()
      inbound.on('error', () => {})
      outbound.on('error', () => {})
    }
    if (holding) held.push(pass)
    else pass()
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { relay.close() })
  const release = (): void => {
    holding = false
    for (const pass of held.splice(0)) pass()
  }
  return { url: `https://127.0.0.1:${(relay.address() as AddressInfo).port}`, caFile: cert.certFile, held, release, requests: () => requests }
}

t.test('a client that leaves while the upstream connection is still being made: the request is never sent', async (t) => {
  const upstream = await heldHttpsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN, UPSTREAM_CA_FILE: upstream.caFile })
  const port = Number(new URL(gw.url).port)

  const client = connect(port, '127.0.0.1')
  client.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n')
  await waitFor(() => upstream.held.length === 1, 5000, 'the gateway to connect upstream')
  client.destroy()
  const inUse = async (): Promise<string> => {
    const res = await request(`${gw.url}/metrics`)
    return /^tokengate_upstream_connections_in_use (\d+)/m.exec(await res.body.text())?.[1] ?? '?'
  }
  // The slot is given back when the gateway has seen the client leave.
  for (let i = 0; i < 100 && await inUse() !== '0'; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(await inUse(), '0', 'the gateway saw the client leave')
  upstream.release()
  const after = await request(`${gw.url}/after`)
  t.equal(await after.body.text(), 'sent', 'the next request goes through the same way')
  t.equal(upstream.requests(), 1, 'only the next request reached the upstream')
})

t.test('the route\'s timeout counts while the upstream connection is still being made: 504, and the request is never sent', async (t) => {
  const upstream = await heldHttpsUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN, UPSTREAM_CA_FILE: upstream.caFile, UPSTREAM_TIMEOUT: '400' })
  const started = performance.now()
  const res = await request(`${gw.url}/v1/models`)
  const waitedMs = performance.now() - started
  t.equal(res.statusCode, 504)
  t.same(await res.body.json(), { error: 'upstream_timeout', message: 'the upstream did not send its response headers in time' })
  t.ok(waitedMs >= 380, `answered after the timeout, not before (${Math.round(waitedMs)} ms)`)
  t.ok(waitedMs < 5000, `answered at the route's timeout, not at the connection's own of 10 s (${Math.round(waitedMs)} ms)`)
  t.equal(upstream.held.length, 1, 'the connection was still being made')
  upstream.release()
  const after = await request(`${gw.url}/after`)
  t.equal(await after.body.text(), 'sent', 'the next request goes through once the connection is made')
  t.equal(upstream.requests(), 1, 'the request that timed out was never sent')
  t.match(gw.logText(), /Upstream did not answer in time/)
})

t.test('the route\'s timeout counts from the end of the client\'s body: a slow upload is not held against the upstream', async (t) => {
  // Answers a fixed time after the body has ended.
  const answerAfterMs = 350
  const upstream = await upstreamWith(t, (req, res) => {
    req.resume()
    req.on('end', () => { setTimeout(() => res.end('stored'), answerAfterMs) })
  })
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN, UPSTREAM_TIMEOUT: '500' })
  const port = Number(new URL(gw.url).port)
  // Over the 1 MiB kept for a replay, so the body streams upstream as it comes: four pieces
  // 150 ms apart, then the answer 350 ms later, 800 ms in all against a timeout of 500.
  const piece = Buffer.alloc(512 * 1024, 'a')
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
  socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${4 * piece.length}\r\n\r\n`)
  for (let i = 0; i < 4; i++) {
    socket.write(piece)
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  await waitFor(() => received.includes('\r\n\r\n'), 5000, 'the answer')
  t.match(received, /^HTTP\/1\.1 200/, 'the upstream answered within the timeout of the body\'s end')
  await waitFor(() => received.endsWith('stored'), 5000, 'the body of the answer')
})
