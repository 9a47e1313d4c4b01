// Upstream TLS is always verified: an upstream with a self-signed certificate is refused with 502
// and a log line that says why; UPSTREAM_CA_FILE makes the gateway trust that certificate, for
// requests and WebSocket upgrades alike.
import { mkdtempSync } from 'node:fs'
import type { Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { startGateway } from '../helpers/app.js'
import { identityProvider } from '../helpers/servers.js'
import { makeCertificate, startHttpsServer, type Certificate } from '../helpers/tls.js'

async function httpsUpstream (t: Test, cert: Certificate): Promise<{ url: string, server: Server, seen: string[] }> {
  const seen: string[] = []
  const { url, server } = await startHttpsServer(t, cert, (req, res) => {
    seen.push(req.headers.authorization ?? '')
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ secure: true, url: req.url }))
  })
  return { url, server, seen }
}

t.test('a self-signed upstream is refused with 502 and a clear log line; UPSTREAM_CA_FILE trusts it', async (t) => {
  const cert = await makeCertificate(mkdtempSync(join(tmpdir(), 'tokengate-tls-')))
  const idp = await identityProvider(t)
  const upstream = await httpsUpstream(t, cert)
  const token = idp.mint(3600)

  const strict = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })
  const refused = await request(`${strict.url}/secure`)
  t.equal(refused.statusCode, 502)
  t.same(await refused.body.json(), { error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  t.equal(upstream.seen.length, 0, 'no request reached the upstream')
  const line = strict.logs.map((text) => JSON.parse(text) as { level: number, msg: string, code?: string })
    .find((entry) => /certificate/.test(entry.msg))
  t.match(line, { level: 40, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.match(line?.msg, /Upstream TLS certificate not trusted.*UPSTREAM_CA_FILE/)

  const trusting = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, UPSTREAM_CA_FILE: cert.certFile })
  const accepted = await request(`${trusting.url}/secure?x=1`)
  t.equal(accepted.statusCode, 200)
  t.same(await accepted.body.json(), { secure: true, url: '/secure?x=1' })
  t.same(upstream.seen, [`Bearer ${token}`])
})

t.test('wss upstreams: verified the same way, trusted through UPSTREAM_CA_FILE', async (t) => {
  const cert = await makeCertificate(mkdtempSync(join(tmpdir(), 'tokengate-tls-')))
  const idp = await identityProvider(t)
  const upstream = await httpsUpstream(t, cert)
  const wss = new WebSocketServer({ server: upstream.server })
  const handshakes: string[] = []
  wss.on('connection', (socket, req) => { handshakes.push(req.headers.authorization ?? ''); socket.send('over tls') })
  t.teardown(() => { for (const client of wss.clients) client.terminate() })
  const token = idp.mint(3600)

  const strict = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })
  const refused = new WebSocket(`${strict.url.replace('http', 'ws')}/live`)
  const closed = await new Promise<number>((resolve) => refused.once('close', (code) => resolve(code)))
  t.equal(closed, 1011, 'the link is torn down as an upstream failure')
  t.equal(handshakes.length, 0)
  const line = strict.logs.map((text) => JSON.parse(text) as { level: number, msg: string, code?: string })
    .find((entry) => /certificate/.test(entry.msg))
  t.match(line, { level: 40, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.match(line?.msg, /Upstream TLS certificate not trusted.*WebSocket.*UPSTREAM_CA_FILE/)

  const trusting = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, UPSTREAM_CA_FILE: cert.certFile })
  const client = new WebSocket(`${trusting.url.replace('http', 'ws')}/live`)
  t.teardown(() => client.terminate())
  const message = await new Promise<string>((resolve, reject) => {
    client.once('message', (data) => resolve(data.toString()))
    client.once('error', reject)
  })
  t.equal(message, 'over tls')
  t.same(handshakes, [`Bearer ${token}`])
  client.close()
})
