// Servers that ask for a client certificate (mutual TLS, RFC 8705), behind the test's own CA
// (test/helpers/testCa.ts): oidc-provider with tls_client_auth for one client, and an upstream
// that refuses a connection without a certificate the CA signed.
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import Provider, { type AdapterConstructor, type KoaContextWithOIDC } from 'oidc-provider'
// @ts-expect-error -- the bundled in-memory adapter has no type declarations
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js'
import type { Certificate } from './tls.js'

interface Teardown { teardown (fn: () => unknown): void }

/** The client that authenticates by tls_client_auth; its certificate must have this subject. */
export const MTLS_CLIENT_ID = 'tokengate-mtls'
export const MTLS_CLIENT_SUBJECT = 'tokengate mtls client'

export interface MtlsTokenCall {
  /** The OAuth error code, or null for a success. */
  error: string | null
  /** The common name and serial number of the certificate the connection presented; null without one. */
  peer: string | null
  serial: string | null
  /** What the form held besides grant_type: client_id, and nothing secret. */
  params: string[]
  at: number
}

export interface MtlsAuthorizationServer {
  tokenUrl: string
  calls: MtlsTokenCall[]
  /** What the server knows of an access token: its client, or null when unknown. */
  lookup (token: string): Promise<string | null>
}

function peerName (socket: TLSSocket): string | null {
  const peer = socket.getPeerCertificate()
  return peer?.subject?.CN === undefined ? null : String(peer.subject.CN)
}

async function listen (t: Teardown, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/**
 * oidc-provider over HTTPS with `features.mTLS.tlsClientAuth`: the client MTLS_CLIENT_ID proves
 * itself by a certificate the CA signed with the subject CN=MTLS_CLIENT_SUBJECT. The server asks
 * for a certificate but lets the provider judge it, so a wrong one is answered invalid_client.
 */
export async function startMtlsAuthorizationServer (t: Teardown, ca: { certPem: string }, serverCert: Certificate): Promise<MtlsAuthorizationServer> {
  const server = createServer({ cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false })
  const issuer = await listen(t, server)
  // RSA: the clients' default id_token_signed_response_alg is RS256, which an EC key would leave unserved.
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })
  const provider = new Provider(issuer, {
    adapter: class TestStorage extends MemoryAdapter {} as unknown as AdapterConstructor,
    clients: [{
      client_id: MTLS_CLIENT_ID,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'tls_client_auth' as const,
      tls_client_auth_subject_dn: `CN=${MTLS_CLIENT_SUBJECT}`,
      scope: 'api:read'
    }],
    clientAuthMethods: ['tls_client_auth'],
    scopes: ['api:read'],
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        getCertificate: (ctx) => {
          const peer = (ctx.socket as TLSSocket).getPeerCertificate(true)
          return peer?.raw === undefined ? undefined as unknown as string : new X509Certificate(peer.raw).toString()
        },
        certificateAuthorized: (ctx) => (ctx.socket as TLSSocket).authorized,
        certificateSubjectMatches: (ctx, property, expected) => {
          const peer = (ctx.socket as TLSSocket).getPeerCertificate()
          return property === 'tls_client_auth_subject_dn' && `CN=${String(peer.subject.CN)}` === expected
        }
      }
    },
    ttl: { ClientCredentials: 3600 },
    cookies: { keys: [randomBytes(24).toString('hex')] },
    jwks: { keys: [jwk as never] }
  })
  const calls: MtlsTokenCall[] = []
  const record = (ctx: KoaContextWithOIDC, error: string | null): void => {
    const params = Object.entries(ctx.oidc.params ?? {}).filter(([name, value]) => value !== undefined && name !== 'grant_type').map(([name]) => name)
    const socket = ctx.socket as TLSSocket
    calls.push({ error, peer: peerName(socket), serial: socket.getPeerCertificate()?.serialNumber ?? null, params, at: Date.now() })
  }
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => { record(ctx, null) })
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string }) => { record(ctx, err.error ?? 'unknown') })
  provider.on('server_error', () => {})
  server.on('request', provider.callback())
  return {
    tokenUrl: `${issuer}/token`,
    calls,
    async lookup (token) {
      const found = await provider.ClientCredentials.find(token)
      return found === undefined ? null : String(found.clientId)
    }
  }
}

export interface MtlsUpstream {
  url: string
  server: Server
  /** The common name of the client certificate of each request, in order. */
  peers: string[]
  /** TLS handshakes refused (no or an unknown client certificate). */
  refused: number
  /** Connections open now that presented a certificate with this common name. */
  openConnections (commonName: string): number
}

/** An HTTPS upstream that accepts only connections with a client certificate the CA signed; it answers with that certificate's name. */
export async function startMtlsUpstream (t: Teardown, ca: { certPem: string }, serverCert: Certificate): Promise<MtlsUpstream> {
  const open = new Map<string, number>()
  const upstream: MtlsUpstream = { url: '', server: null as unknown as Server, peers: [], refused: 0, openConnections: (name) => open.get(name) ?? 0 }
  const server = createServer({ cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req: IncomingMessage, res) => {
    const peer = peerName(req.socket as TLSSocket) ?? ''
    upstream.peers.push(peer)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ peer, authorization: req.headers.authorization ?? null }))
  })
  server.on('tlsClientError', () => { upstream.refused++ })
  server.on('secureConnection', (socket: TLSSocket) => {
    const name = peerName(socket) ?? ''
    open.set(name, (open.get(name) ?? 0) + 1)
    socket.once('close', () => { open.set(name, open.get(name)! - 1) })
  })
  upstream.server = server
  upstream.url = await listen(t, server)
  return upstream
}
