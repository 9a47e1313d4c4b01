// Hop-by-hop headers stay on their own hop. A client's Expect: 100-continue (curl and .NET send it
// before large bodies), a stray Keep-Alive or Upgrade are consumed by the gateway, not forwarded:
// undici refuses to send them, which made such requests fail as 502 upstream_unreachable. The
// upstream's Connection and Keep-Alive are not passed back: they overrode the client's own.
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { startGateway } from '../helpers/app.js'
import { startLocalServer } from '../helpers/localServer.js'
import { echoUpstream, waitFor } from '../helpers/servers.js'

const TOKEN = 'opaque-token-for-hop-by-hop'

/** A request through node:http, which (unlike undici) sends whatever headers it is given. */
function send (url: string, headers: Record<string, string>, body: string | null): Promise<{ status: number, text: string, continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false
    const req = httpRequest(url, { method: body === null ? 'GET' : 'POST', headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), continued }))
    })
    req.on('error', reject)
    // With Expect: 100-continue the body waits for the server's go-ahead.
    req.on('continue', () => {
      continued = true
      req.end(body)
    })
    if (headers.expect === undefined) req.end(body ?? undefined)
  })
}

t.test('Expect, Keep-Alive and a stray Upgrade are consumed, the request is forwarded', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
  const body = 'x'.repeat(64 * 1024)

  const expect = await send(`${gw.url}/upload`, { expect: '100-continue', 'content-type': 'text/plain', 'content-length': String(body.length) }, body)
  t.equal(expect.continued, true, 'the client got its 100 Continue')
  t.equal(expect.status, 200, 'and the upload went through')
  const echoed = JSON.parse(expect.text) as { body: string, headers: Record<string, string>, authorization: string }
  t.equal(echoed.body, body, 'whole')
  t.equal(echoed.authorization, `Bearer ${TOKEN}`)
  t.notOk('expect' in echoed.headers, 'the expectation was met by the gateway, not passed on')

  const strays: Array<Record<string, string>> = [{ 'keep-alive': 'timeout=5, max=100' }, { upgrade: 'h2c' }, { upgrade: 'websocket' }]
  for (const headers of strays) {
    const res = await send(`${gw.url}/plain`, headers, null)
    t.equal(res.status, 200, `${JSON.stringify(headers)} on a plain request: forwarded`)
    const forwarded = (JSON.parse(res.text) as { headers: Record<string, string> }).headers
    t.notOk('keep-alive' in forwarded || 'upgrade' in forwarded, 'without the hop-by-hop header')
  }
  t.notMatch(gw.logText(), /Upstream unreachable/, 'nothing was blamed on the upstream')
})

t.test('the upstream\'s Connection and Keep-Alive are not passed back to the client', async (t) => {
  await t.test('a client asking to close gets its connection closed, although the upstream keeps its own alive', async (t) => {
    const upstream = await echoUpstream(t)
    const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: TOKEN })
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1')
    let answer = ''
    let closed = false
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
    socket.on('close', () => { closed = true })
    socket.write('GET /x HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n')
    t.teardown(() => { socket.destroy() })
    await waitFor(() => closed, 3000, 'the gateway to close the connection')
    const head = answer.split('\r\n\r\n')[0]
    t.match(head, /^HTTP\/1\.1 200 /)
    t.match(head, /\r\nconnection: close(\r\n|$)/i, 'the gateway says close')
    t.notMatch(head, /keep-alive/i, 'nothing of the upstream\'s keep-alive')
  })

  await t.test('a client keeping its connection alive keeps it, although the upstream closes its own', async (t) => {
    const upstream = await startLocalServer((_req, res) => { res.writeHead(200, { connection: 'close', 'content-type': 'text/plain' }).end('ok') })
    t.teardown(upstream.close)
    const gw = await startGateway(t, { UPSTREAM_URL: upstream.url.replace('/token', ''), AUTH_TOKEN: TOKEN })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    t.teardown(() => agent.destroy())
    const ports: number[] = []
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        httpRequest(`${gw.url}/x`, { agent }, (res) => {
          t.equal(res.headers.connection, 'keep-alive')
          ports.push(res.socket.localPort!)
          res.resume()
          res.on('end', resolve)
        }).on('error', reject).end()
      })
    }
    t.equal(new Set(ports).size, 1, 'three requests over one connection')
  })
})

t.test('headers the upstream\'s Connection names as hop-by-hop are not passed back; the others are', async (t) => {
  const upstream = await startLocalServer((_req, res) => {
    res.writeHead(200, { connection: 'keep-alive, X-Hop-Only', 'x-hop-only': 'internal', 'x-end-to-end': 'kept', 'content-type': 'text/plain' }).end('ok')
  })
  t.teardown(upstream.close)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url.replace('/token', ''), AUTH_TOKEN: TOKEN })
  const res = await fetch(`${gw.url}/x`)
  t.equal(res.status, 200)
  t.equal(await res.text(), 'ok')
  t.equal(res.headers.get('x-hop-only'), null, 'the header named in Connection stays on the upstream hop')
  t.equal(res.headers.get('x-end-to-end'), 'kept', 'an end-to-end header passes')
})
