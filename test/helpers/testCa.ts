// A certificate authority of the test's own, made with the machine's openssl into a folder the
// test owns, and the certificates it signs: a server's for 127.0.0.1 and clients' for mutual TLS.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Certificate } from './tls.js'

const run = promisify(execFile)

export interface TestCa {
  dir: string
  /** The CA's certificate: what NODE_EXTRA_CA_CERTS, UPSTREAM_CA_FILE or a server's `ca` trusts. */
  certFile: string
  certPem: string
  /** A server certificate for 127.0.0.1 and localhost. */
  server (name: string): Promise<Certificate>
  /** A client certificate (extendedKeyUsage clientAuth) with subject CN=`commonName`. */
  client (name: string, commonName: string): Promise<Certificate>
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export async function makeTestCa (prefix = 'tokengate-ca-'): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const certFile = join(dir, 'ca.pem')
  const keyFile = join(dir, 'ca-key.pem')
  await run('openssl', [
    'req', '-x509', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=tokengate test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'
  ])
  const issue = async (name: string, subject: string, extensions: string): Promise<Certificate> => {
    const leafKey = join(dir, `${name}-key.pem`)
    const leafCert = join(dir, `${name}.pem`)
    const request = join(dir, `${name}.csr`)
    const extFile = join(dir, `${name}.ext`)
    writeFileSync(extFile, extensions)
    await run('openssl', ['req', '-new', ...EC_KEY, '-keyout', leafKey, '-out', request, '-subj', subject])
    await run('openssl', [
      'x509', '-req', '-in', request, '-CA', certFile, '-CAkey', keyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '2', '-out', leafCert, '-extfile', extFile
    ])
    return { certFile: leafCert, keyFile: leafKey, certPem: readFileSync(leafCert, 'utf8'), keyPem: readFileSync(leafKey, 'utf8') }
  }
  return {
    dir,
    certFile,
    certPem: readFileSync(certFile, 'utf8'),
    server: (name) => issue(name, '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'),
    client: (name, commonName) => issue(name, `/CN=${commonName}`, 'extendedKeyUsage=clientAuth\n')
  }
}

/**
 * Puts `text` at `path` as a secret mount rotates it: written beside it, then renamed over it,
 * so a reader sees the old file or the new one, never half of it.
 */
export function replaceFile (path: string, text: string): void {
  const next = `${path}.next`
  writeFileSync(next, text)
  renameSync(next, path)
}
