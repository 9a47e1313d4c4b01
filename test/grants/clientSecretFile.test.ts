// A client secret read from a file (clientSecretFile) is read for every token request and read
// again when the file changes: a rotated secret is used from the next request on, without a
// restart. An unreadable or empty file fails the refresh naming the field, never the content.
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RefreshError } from '../../src/errors.js'
import { createGrant } from '../../src/grants/createGrant.js'
import { SecretFile } from '../../src/utils/secretFile.js'
import { startLocalServer } from '../helpers/localServer.js'

const basicSecret = (authorization: string | undefined): string =>
  decodeURIComponent(Buffer.from(String(authorization).replace(/^Basic /, ''), 'base64').toString('utf8').split(':')[1])

t.test('client_credentials with clientSecretFile: each request sends the file\'s secret of the moment', async (t) => {
  const server = await startLocalServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `at_${Date.now()}`, expires_in: 3600 }))
  })
  t.teardown(() => server.close())
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-secret-'))
  const file = join(dir, 'graph')
  writeFileSync(file, '  first-secret\n')
  const grant = createGrant({
    style: 'client_credentials',
    url: `${server.url}/token`,
    oauthClient: { clientId: 'gateway', clientSecret: 'first-secret', scope: null },
    clientSecretFile: { path: file, field: 'credentials.graph.clientSecretFile' }
  })
  await grant.exchange(null)
  t.equal(basicSecret(server.received[0].headers.authorization), 'first-secret', 'trimmed')
  writeFileSync(file, 'second-secret-longer')
  await grant.exchange(null)
  t.equal(basicSecret(server.received[1].headers.authorization), 'second-secret-longer', 'the rotated secret, without a restart')

  // Kubernetes rotates by swapping a symlink to a new file.
  const linked = join(dir, 'linked')
  writeFileSync(join(dir, 'v1'), 'v1-secret')
  writeFileSync(join(dir, 'v2'), 'v2-secret')
  symlinkSync(join(dir, 'v1'), linked)
  const viaLink = createGrant({
    style: 'client_credentials',
    url: `${server.url}/token`,
    oauthClient: { clientId: 'gateway', clientSecret: 'v1-secret', scope: 'a b' },
    clientSecretFile: { path: linked, field: 'credentials.k8s.clientSecretFile' }
  })
  await viaLink.exchange(null)
  symlinkSync(join(dir, 'v2'), `${linked}.new`)
  renameSync(`${linked}.new`, linked)
  await viaLink.exchange(null)
  t.same(server.received.slice(2).map((r) => basicSecret(r.headers.authorization)), ['v1-secret', 'v2-secret'])

  rmSync(file)
  const failure = await grant.exchange(null).then(() => null, (err: unknown) => err)
  t.ok(failure instanceof RefreshError)
  t.equal((failure as RefreshError).reason, 'secret_file_unreadable')
  t.equal((failure as RefreshError).detail, `credentials.graph.clientSecretFile (${file}) cannot be read (ENOENT)`)
  t.equal(server.received.length, 4, 'no request without a secret')
})

t.test('SecretFile: an unchanged file is not read again; an empty one is an error without its content', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-secret-'))
  const file = join(dir, 's')
  writeFileSync(file, 'abc')
  const secret = new SecretFile(file, 'credentials.x.clientSecretFile')
  t.equal(secret.read(), 'abc')
  t.equal(secret.read(), 'abc')
  writeFileSync(file, ' \n')
  const empty = (() => { try { secret.read() } catch (err) { return err as RefreshError } return null })()
  t.equal(empty?.detail, `credentials.x.clientSecretFile (${file}) cannot be read (EMPTY)`)
  writeFileSync(file, 'def')
  t.equal(secret.read(), 'def')
})
