// A self-signed certificate for 127.0.0.1, made with the machine's openssl into a folder the test
// owns: an upstream with a certificate no public CA has signed.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Certificate {
  certFile: string
  keyFile: string
  certPem: string
  keyPem: string
}

export async function makeCertificate (dir: string): Promise<Certificate> {
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=tokengate test upstream',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'
  ])
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') }
}

/** An HTTPS server with that certificate on a free port of 127.0.0.1, closed on teardown. */
export async function startHttpsServer (t: { teardown (fn: () => unknown): void }, cert: Certificate,
  handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string, server: Server }> {
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}
