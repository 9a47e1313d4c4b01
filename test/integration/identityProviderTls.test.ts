// An identity provider behind a private CA: its certificate is verified like the upstream's, and
// Node's own NODE_EXTRA_CA_CERTS makes the gateway trust it (UPSTREAM_CA_FILE is for the upstream
// only). The gateway runs as `npm start` runs it, a child process with the variable in its
// environment, since Node reads it once, at start-up.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'
import { makeCertificate, startHttpsServer, type Certificate } from '../helpers/tls.js'

/** The demo identity provider behind HTTPS with a self-signed certificate. */
async function httpsFront (t: Test, cert: Certificate, target: string): Promise<{ url: string, calls: () => number }> {
  let calls = 0
  const { url } = await startHttpsServer(t, cert, (req, res) => {
    calls++
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      request(`${target}${req.url}`, { method: req.method as 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body: Buffer.concat(chunks) })
        .then(async (answer) => { res.writeHead(answer.statusCode, { 'content-type': 'application/json' }).end(await answer.body.text()) },
          () => { res.writeHead(502).end() })
    })
  })
  return { url, calls: () => calls }
}

t.test('a self-signed identity provider is refused; NODE_EXTRA_CA_CERTS trusts it', async (t) => {
  const cert = await makeCertificate(mkdtempSync(join(tmpdir(), 'tokengate-idp-tls-')))
  const idp = await identityProvider(t)
  const front = await httpsFront(t, cert, new URL(idp.refreshUrl).origin)
  const upstream = await echoUpstream(t)
  const env = {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: idp.mint(-60),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: `${front.url}${new URL(idp.refreshUrl).pathname}`
  }

  await t.test('without the CA: the refresh fails before any byte reaches the provider, requests get 503', async (t) => {
    const gw = await startGatewayProcess(t, env)
    await waitFor(() => /Token refresh failed/.test(gw.output()), 15_000, 'the failed start-up refresh')
    const health = await (await request(`${gw.url}/health/token`)).body.json() as { lastRefreshError: string }
    t.match(health.lastRefreshError, /^network: /)
    const res = await request(`${gw.url}/v1/x`)
    t.equal(res.statusCode, 503)
    await res.body.dump()
    t.equal(front.calls(), 0, 'no request was sent over an unverified connection')
    t.equal(idp.calls.length, 0)
  })

  await t.test('with NODE_EXTRA_CA_CERTS: the start-up refresh succeeds and requests carry the new token', async (t) => {
    const gw = await startGatewayProcess(t, { ...env, NODE_EXTRA_CA_CERTS: cert.certFile })
    await waitFor(() => idp.issued.length === 1, 10_000, 'the start-up refresh')
    const res = await request(`${gw.url}/v1/x`)
    t.equal(res.statusCode, 200)
    await res.body.dump()
    t.equal(front.calls(), 1)
    t.equal(upstream.received.at(-1)?.headers.authorization, `Bearer ${idp.issued[0]}`)
  })
})
