// Mutual TLS to the upstream: a route with a client certificate (UPSTREAM_CLIENT_CERT_FILE and
// UPSTREAM_CLIENT_KEY_FILE, or a route's clientCertFile and clientKeyFile) presents it to an
// upstream that accepts nothing else, for requests and WebSocket upgrades; a route without one is
// refused (502). A pair replaced on disk reaches new connections within a second; a broken one is
// logged, naming the variable, and the previous pair stays in use. The upstream trusts the test's
// CA, and the gateway trusts the upstream through UPSTREAM_CA_FILE.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { stringify } from 'yaml'
import { CERTIFICATE_CHECK_INTERVAL_MS } from '../../routes/proxy/upstream-dispatchers.js'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { startMtlsUpstream } from '../helpers/mtlsServer.js'
import { identityProvider, waitFor } from '../helpers/servers.js'
import { makeTestCa, replaceFile } from '../helpers/testCa.js'

const ca = await makeTestCa('tokengate-upstream-mtls-')
const serverCert = await ca.server('upstream')
const first = await ca.client('gateway-a', 'gateway-a')
const second = await ca.client('gateway-b', 'gateway-b')

/** Copies of a client pair in a folder of the test's own, free to be replaced. */
function ownCopy (pair: { certFile: string, keyFile: string }): { certFile: string, keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-client-cert-'))
  const copy = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }
  copyFileSync(pair.certFile, copy.certFile)
  copyFileSync(pair.keyFile, copy.keyFile)
  return copy
}

// Past the interval in which the route looks at its files at most once.
const nextCheck = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, CERTIFICATE_CHECK_INTERVAL_MS + 100)) }

async function get (url: string): Promise<{ status: number, peer?: string }> {
  const res = await request(url)
  const body = await res.body.json() as { peer?: string }
  return { status: res.statusCode, peer: body.peer }
}

function certificateEnv (upstream: string, token: string, files: { certFile: string, keyFile: string }): Record<string, string> {
  return {
    UPSTREAM_URL: upstream,
    AUTH_TOKEN: token,
    UPSTREAM_CA_FILE: ca.certFile,
    UPSTREAM_CLIENT_CERT_FILE: files.certFile,
    UPSTREAM_CLIENT_KEY_FILE: files.keyFile
  }
}

function logLines (gw: TestGateway): Array<{ level: number, msg: string, reason?: string }> {
  return gw.logs.map((line) => JSON.parse(line))
}

t.test('a route with a client certificate is let in and seen by its subject; one without is refused', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await startMtlsUpstream(t, ca, serverCert)
  const token = idp.mint(3600)
  const files = ownCopy(first)
  const gw = await startGateway(t, certificateEnv(upstream.url, token, files))
  t.same(await get(`${gw.url}/v1/a`), { status: 200, peer: 'gateway-a' })
  t.same(await get(`${gw.url}/v1/b`), { status: 200, peer: 'gateway-a' })
  t.same(upstream.peers, ['gateway-a', 'gateway-a'])

  const without = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, UPSTREAM_CA_FILE: ca.certFile })
  const refused = await request(`${without.url}/v1/a`)
  t.equal(refused.statusCode, 502)
  t.same(await refused.body.json(), { error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  t.equal(upstream.peers.length, 2, 'no request without a certificate reached the upstream')

  await t.test('a pair replaced on disk is presented on new connections; a broken one keeps the previous pair, logged once', async (t) => {
    replaceFile(files.certFile, second.certPem)
    replaceFile(files.keyFile, second.keyPem)
    await nextCheck()
    t.same(await get(`${gw.url}/v1/c`), { status: 200, peer: 'gateway-b' })

    writeFileSync(files.keyFile, 'not-a-key-but-secret-looking')
    await nextCheck()
    t.same(await get(`${gw.url}/v1/d`), { status: 200, peer: 'gateway-b' }, 'the last good pair stays')
    await nextCheck()
    t.same(await get(`${gw.url}/v1/e`), { status: 200, peer: 'gateway-b' })
    const problems = logLines(gw).filter((line) => /client certificate unusable/.test(line.msg))
    t.equal(problems.length, 1, 'the same problem is logged once')
    t.match(problems[0], { level: 50, msg: /keeps presenting the previous one/, reason: `UPSTREAM_CLIENT_KEY_FILE (${files.keyFile}) is not a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted)` })

    replaceFile(files.certFile, first.certPem)
    replaceFile(files.keyFile, second.keyPem)
    await nextCheck()
    t.same(await get(`${gw.url}/v1/f`), { status: 200, peer: 'gateway-b' }, 'a key that is not the certificate\'s is refused too')
    t.match(logLines(gw).filter((line) => /client certificate unusable/.test(line.msg)).at(-1), { reason: `UPSTREAM_CLIENT_KEY_FILE (${files.keyFile}) does not hold the private key of the certificate in UPSTREAM_CLIENT_CERT_FILE` })

    replaceFile(files.keyFile, first.keyPem)
    await nextCheck()
    t.same(await get(`${gw.url}/v1/g`), { status: 200, peer: 'gateway-a' }, 'fixed: the new pair is used')
    t.notMatch(gw.logText(), /BEGIN|secret-looking/, 'no key or certificate in the log')
  })
})

t.test('files broken before the route\'s first request: it goes without a certificate (502, WebSocket 1011), the log says why', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await startMtlsUpstream(t, ca, serverCert)
  const files = ownCopy(first)
  const gw = await startGateway(t, certificateEnv(upstream.url, idp.mint(3600), files))
  writeFileSync(files.certFile, '')
  const res = await request(`${gw.url}/v1/a`)
  t.equal(res.statusCode, 502)
  await res.body.dump()
  t.match(logLines(gw).find((line) => /client certificate unusable/.test(line.msg)), {
    level: 50, msg: /go without one until it is fixed/, reason: `UPSTREAM_CLIENT_CERT_FILE (${files.certFile}) cannot be read (EMPTY)`
  })
  const socket = new WebSocket(`${gw.url.replace('http', 'ws')}/live`)
  const closed = await new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)))
  t.equal(closed, 1011, 'a WebSocket upgrade goes without a certificate too, and the upstream refuses it')
  t.equal(upstream.peers.length, 0)
  t.ok(upstream.refused >= 2, 'both handshakes were refused by the upstream')
})

t.test('a WebSocket upgrade presents the route\'s certificate to the upstream', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await startMtlsUpstream(t, ca, serverCert)
  const wss = new WebSocketServer({ server: upstream.server })
  const handshakes: string[] = []
  wss.on('connection', (socket, req) => {
    handshakes.push(String((req.socket as TLSSocket).getPeerCertificate().subject.CN))
    socket.send('hello over mutual tls')
  })
  t.teardown(() => { for (const client of wss.clients) client.terminate() })
  const files = ownCopy(first)
  const gw = await startGateway(t, certificateEnv(upstream.url, idp.mint(3600), files))
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/live`)
  t.teardown(() => client.terminate())
  const message = await new Promise<string>((resolve, reject) => {
    client.once('message', (data) => resolve(data.toString()))
    client.once('error', reject)
  })
  t.equal(message, 'hello over mutual tls')
  t.same(handshakes, ['gateway-a'])
  client.close()
})

t.test('routes of a file, each with its own certificate; a reload that drops one closes its pool', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await startMtlsUpstream(t, ca, serverCert)
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-mtls-routes-'))
  const file = join(dir, 'gateway.yaml')
  const routes = (withB: boolean): unknown[] => [
    { path: '/a', upstream: upstream.url, credential: 'api', clientCertFile: first.certFile, clientKeyFile: first.keyFile },
    { path: '/b', upstream: upstream.url, credential: 'api', ...(withB ? { clientCertFile: second.certFile, clientKeyFile: second.keyFile } : {}) }
  ]
  const write = (withB: boolean): void => {
    writeFileSync(file, stringify({ credentials: { api: { tokenUrl: idp.refreshUrl, accessToken: idp.mint(3600) } }, routes: routes(withB) }))
  }
  write(true)
  const gw = await startGateway(t, { TOKENGATE_CONFIG: file, UPSTREAM_CA_FILE: ca.certFile })
  t.same(await get(`${gw.url}/a/x`), { status: 200, peer: 'gateway-a' })
  t.same(await get(`${gw.url}/b/x`), { status: 200, peer: 'gateway-b' }, 'same upstream, another certificate')

  t.equal(upstream.openConnections('gateway-b'), 1, 'a keep-alive connection presenting the second certificate')
  write(false)
  t.match(await gw.app.reloadConfiguration(), { applied: true })
  await waitFor(() => upstream.openConnections('gateway-b') === 0, 5000, 'the dropped pool to close its connection')
  t.equal(upstream.openConnections('gateway-a'), 1, 'the kept pool keeps its connection')
  t.same(await get(`${gw.url}/a/x`), { status: 200, peer: 'gateway-a' }, 'the route kept keeps its pool')
  const refused = await request(`${gw.url}/b/x`)
  t.equal(refused.statusCode, 502, 'the route without a certificate now is refused')
  await refused.body.dump()
  t.same(upstream.peers, ['gateway-a', 'gateway-b', 'gateway-a'])

  // A pair that is not one is refused by the reload, naming the place; the running routes stay.
  writeFileSync(file, stringify({
    credentials: { api: { tokenUrl: idp.refreshUrl, accessToken: idp.mint(3600) } },
    routes: [{ path: '/a', upstream: upstream.url, credential: 'api', clientCertFile: first.certFile, clientKeyFile: second.keyFile }]
  }))
  t.match(await gw.app.reloadConfiguration(), { applied: false })
  t.match(gw.logText(), `routes[0].clientKeyFile: ${second.keyFile} does not hold the private key of the certificate in routes[0].clientCertFile`)
  t.same(await get(`${gw.url}/a/x`), { status: 200, peer: 'gateway-a' })
})
