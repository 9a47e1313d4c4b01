// tls_client_auth (RFC 8705 §2.1) end to end, against oidc-provider over HTTPS asking for a client
// certificate: the gateway's token requests present the certificate of OAUTH_CLIENT_CERT_FILE and
// OAUTH_CLIENT_KEY_FILE and carry client_id alone; the token is issued and the request proxied;
// a certificate with another subject is refused (invalid_client), backed off and shown in health;
// a pair replaced on disk is used by the next refresh; nothing of a key or certificate reaches a
// log line or health. The identity provider's CA is trusted through Node's NODE_EXTRA_CA_CERTS
// only, which Node reads at start-up: those checks run the built gateway as a child process. The
// in-process part shows the system's trust stays in force (without the variable the server is
// not trusted) and that a broken file fails the refresh naming its variable.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { MTLS_CLIENT_ID, MTLS_CLIENT_SUBJECT, startMtlsAuthorizationServer, type MtlsAuthorizationServer } from '../helpers/mtlsServer.js'
import { spawnGateway, startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, waitFor } from '../helpers/servers.js'
import { makeTestCa, replaceFile } from '../helpers/testCa.js'
import type { Certificate } from '../helpers/tls.js'

const ADMIN_KEY = 'admin-key-for-tests'
const ca = await makeTestCa('tokengate-tls-client-auth-')
const serverCert = await ca.server('idp')
const registered = await ca.client('registered', MTLS_CLIENT_SUBJECT)
const renewed = await ca.client('renewed', MTLS_CLIENT_SUBJECT)
const stranger = await ca.client('stranger', 'someone else')

const serialOf = (cert: Certificate): string => new X509Certificate(cert.certPem).serialNumber

function ownCopy (pair: Certificate): { certFile: string, keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-client-cert-'))
  const copy = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }
  copyFileSync(pair.certFile, copy.certFile)
  copyFileSync(pair.keyFile, copy.keyFile)
  return copy
}

function mtlsEnv (as: MtlsAuthorizationServer, upstream: string, files: { certFile: string, keyFile: string }): Record<string, string> {
  return {
    UPSTREAM_URL: upstream,
    TOKEN_GRANT: 'client_credentials',
    TOKEN_REFRESH_URL: as.tokenUrl,
    OAUTH_CLIENT_ID: MTLS_CLIENT_ID,
    OAUTH_CLIENT_AUTH: 'tls_client_auth',
    OAUTH_CLIENT_CERT_FILE: files.certFile,
    OAUTH_CLIENT_KEY_FILE: files.keyFile,
    OAUTH_SCOPE: 'api:read',
    GATEWAY_ADMIN_KEY: ADMIN_KEY
  }
}

function assertNothingSecret (t: Test, text: string): void {
  for (const pem of [registered, renewed, stranger].flatMap((cert) => [cert.certPem, cert.keyPem])) {
    t.notOk(text.includes(pem.split('\n')[1]), 'no key or certificate material')
  }
  t.notMatch(text, /BEGIN|PRIVATE KEY/)
}

async function forceRefresh (url: string): Promise<Record<string, unknown>> {
  const res = await request(`${url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
  return await res.body.json() as Record<string, unknown>
}

t.test('in-process: the system\'s trust stays (no NODE_EXTRA_CA_CERTS, no trust); a broken file fails the refresh naming its variable', async (t) => {
  const as = await startMtlsAuthorizationServer(t, ca, serverCert)
  const upstream = await echoUpstream(t)
  const files = ownCopy(registered)
  const gw = await startGateway(t, mtlsEnv(as, upstream.url, files))
  await waitFor(() => /Token refresh failed/.test(gw.logText()), 10_000, 'the failed start-up refresh')
  const health = await (await request(`${gw.url}/health/token`)).body.json() as Record<string, unknown>
  t.match(health.lastRefreshError, /^network: identity provider unreachable \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)/,
    'the client certificate does not replace the trust: the test CA is not trusted without NODE_EXTRA_CA_CERTS')
  t.equal(as.calls.length, 0)

  writeFileSync(files.keyFile, 'not-a-key-but-secret-looking')
  t.match(await forceRefresh(gw.url), { lastRefreshError: `secret_file_malformed: OAUTH_CLIENT_KEY_FILE (${files.keyFile}) is not a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted)` })
  replaceFile(files.keyFile, stranger.keyPem)
  t.match(await forceRefresh(gw.url), { lastRefreshError: `secret_file_malformed: OAUTH_CLIENT_KEY_FILE (${files.keyFile}) does not hold the private key of the certificate in OAUTH_CLIENT_CERT_FILE` })
  replaceFile(files.certFile, stranger.certPem)
  t.match(await forceRefresh(gw.url), { lastRefreshError: /^network: identity provider unreachable/ }, 'a good pair again: the request is sent')
  assertNothingSecret(t, gw.logText() + JSON.stringify(await (await request(`${gw.url}/health/token`)).body.json()))
})

t.test('child process with NODE_EXTRA_CA_CERTS: the token is issued for the certificate, the request proxied, a renewed pair used next', async (t) => {
  const as = await startMtlsAuthorizationServer(t, ca, serverCert)
  const upstream = await echoUpstream(t)
  const files = ownCopy(registered)
  const gw = await startGatewayProcess(t, { ...mtlsEnv(as, upstream.url, files), NODE_EXTRA_CA_CERTS: ca.certFile })
  await waitFor(() => as.calls.length === 1, 10_000, 'the start-up token request')
  t.match(as.calls[0], { error: null, peer: MTLS_CLIENT_SUBJECT, serial: serialOf(registered) })
  t.same(as.calls[0].params.sort(), ['client_id', 'scope'], 'client_id and no secret or assertion in the form')

  const res = await request(`${gw.url}/data`)
  t.equal(res.statusCode, 200)
  await res.body.dump()
  const token = /^Bearer (.+)$/.exec(String(upstream.received.at(-1)?.headers.authorization))?.[1] ?? ''
  t.equal(await as.lookup(token), MTLS_CLIENT_ID, 'the upstream got a token the server issued to the client')

  // The certificate renewed (a new key, the same subject), written as a secret mount rotates it.
  replaceFile(files.certFile, renewed.certPem)
  replaceFile(files.keyFile, renewed.keyPem)
  t.match(await forceRefresh(gw.url), { lastRefreshError: null, consecutiveFailures: 0 })
  t.match(as.calls.at(-1), { error: null, peer: MTLS_CLIENT_SUBJECT, serial: serialOf(renewed) }, 'the renewed pair was presented')
  assertNothingSecret(t, gw.output() + JSON.stringify(await (await request(`${gw.url}/health/token`)).body.json()))
})

t.test('child process: a certificate with another subject is refused (invalid_client), backed off, shown in health', async (t) => {
  const as = await startMtlsAuthorizationServer(t, ca, serverCert)
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, { ...mtlsEnv(as, upstream.url, ownCopy(stranger)), NODE_EXTRA_CA_CERTS: ca.certFile })
  await waitFor(() => as.calls.length >= 2, 15_000, 'the start-up attempt and its retry')
  t.same(as.calls.slice(0, 2).map((call) => [call.error, call.peer]), [['invalid_client', 'someone else'], ['invalid_client', 'someone else']])
  t.ok(as.calls[1].at - as.calls[0].at >= 250, 'tried again after a backoff, not at once')
  const health = await (await request(`${gw.url}/health/token`)).body.json() as Record<string, unknown>
  t.match(health, { refreshStyle: 'client_credentials', lastRefreshError: /^invalid_client: identity provider answered HTTP 401/ })
  t.ok((health.consecutiveFailures as number) >= 1)
  const refused = await request(`${gw.url}/data`)
  t.equal(refused.statusCode, 503, 'no token, no request upstream')
  await refused.body.dump()
  t.equal(upstream.received.length, 0)
  assertNothingSecret(t, gw.output() + JSON.stringify(health))
})

t.test('child process: a malformed key stops the start (exit 1), naming the variable', async (t) => {
  const files = ownCopy(registered)
  writeFileSync(files.keyFile, 'not-a-key-but-secret-looking')
  const child = spawnGateway({ ...mtlsEnv({ tokenUrl: 'https://127.0.0.1:9/token' } as MtlsAuthorizationServer, 'https://api.example.com', files), TOKEN_STORE: 'memory' })
  const exit = await child.exited
  t.equal(exit.code, 1)
  t.match(child.output(), `OAUTH_CLIENT_KEY_FILE ${files.keyFile} is not a PEM private key`)
  t.notMatch(child.output(), /secret-looking/)
})
