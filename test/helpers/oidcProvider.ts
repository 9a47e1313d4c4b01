// A real OAuth 2.0 authorization server for tests: oidc-provider on 127.0.0.1, port 0, with one
// confidential client allowed authorization_code, refresh_token (rotated on every use) and
// client_credentials. Refresh tokens come from its own authorization code flow; a protected API
// beside it accepts only the access tokens the server holds as live. Other helpers add grants and
// clients through `extend` and `extraClients` (test/helpers/tokenExchange.ts).
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider, { errors, type AdapterConstructor, type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider'
// @ts-expect-error -- the bundled in-memory adapter has no type declarations
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js'
import { request } from 'undici'

interface Teardown { teardown (fn: () => unknown): void }

export const CLIENT_ID = 'tokengate-gateway'
// Characters that HTTP Basic needs form-encoded (RFC 6749 §2.3.1), so a sloppy encoder fails.
export const CLIENT_SECRET = `s3cr:t+/=&%${randomBytes(12).toString('hex')}`
export const REDIRECT_URI = 'http://127.0.0.1/callback'
export const ACCOUNT_ID = 'user-4242'
/** A client that authenticates with client_secret_post only. */
export const POST_CLIENT_ID = 'tokengate-post'
/** A client that authenticates with private_key_jwt only, by the keys of AuthorizationServerOptions.jwtClientKeys. */
export const JWT_CLIENT_ID = 'tokengate-jwt'

export interface TokenEndpointCall {
  grantType: string
  /** The OAuth error code, or null for a success. */
  error: string | null
  /** How the client authenticated: 'basic', 'body' (client_id in the form) or 'none'. */
  clientAuth: 'basic' | 'body' | 'none'
  /** The client the server authenticated (or was asked for). */
  clientId: string | null
  /** The client_assertion of the form, when there was one (private_key_jwt, client_assertion_file). */
  assertion: string | null
  /** True when client_secret travelled in the form (client_secret_post). */
  secretInBody: boolean
  /** The resource parameters (RFC 8707), in order. */
  resources: string[]
  at: number
}

export interface AuthorizationServerOptions {
  /** Lifetime of access tokens from code and refresh grants, seconds. */
  accessTokenTtl?: number
  /** Lifetime of client-credentials tokens, seconds. */
  clientCredentialsTtl?: number
  /** Wait before the token endpoint answers. */
  tokenDelayMs?: number
  /**
   * Public keys (JWK, each with its kid) of the private_key_jwt client JWT_CLIENT_ID; it is
   * registered only when given. POST_CLIENT_ID (client_secret_post, secret CLIENT_SECRET) is always.
   */
  jwtClientKeys?: object[]
  /**
   * Enables resource indicators (RFC 8707): a resource under RESOURCE_BASE gets an opaque token
   * for it (its `aud`); any other is refused with invalid_target.
   */
  resourceIndicators?: boolean
  /** More clients, registered beside the ones above (a helper that adds a grant brings its own). */
  extraClients?: ClientMetadata[]
  /** Called with the provider before it serves a request: a helper registers a grant type here. */
  extend?: (provider: Provider) => void
}

export const RESOURCE_BASE = 'https://api.example.test/'

export interface AuthorizationServer {
  issuer: string
  tokenUrl: string
  provider: Provider
  /** Every call to the token endpoint, in order of their answers. */
  calls: TokenEndpointCall[]
  /** Runs the authorization code flow (with PKCE, offline_access) for ACCOUNT_ID; the first tokens. */
  authorize (): Promise<{ accessToken: string, refreshToken: string }>
  /** Spends a refresh token at the token endpoint, as another holder of it would; the answer's status. */
  refreshDirectly (refreshToken: string): Promise<number>
  /** Revokes a token through the revocation endpoint (RFC 7009), as an administrator would. */
  revoke (token: string): Promise<void>
  /** What the server knows of an access token: null when unknown, expired or revoked. */
  lookup (token: string): Promise<{ clientId: string, accountId: string | null, scope: string | null, aud?: string } | null>
  /** Refresh tokens the server has issued, in order, spent or not. */
  issuedRefreshTokens: string[]
  close (): Promise<void>
}

export async function startAuthorizationServer (t: Teardown, options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })

  const provider = new Provider(issuer, {
    // The provider's own in-memory storage; a subclass only so it does not warn that it is one.
    adapter: class TestStorage extends MemoryAdapter {} as unknown as AdapterConstructor,
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid offline_access api:read'
    }, {
      client_id: POST_CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post' as const,
      scope: 'api:read'
    }, ...(options.jwtClientKeys === undefined
      ? []
      : [{
          client_id: JWT_CLIENT_ID,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'private_key_jwt' as const,
          jwks: { keys: options.jwtClientKeys as never[] },
          scope: 'api:read'
        }]), ...(options.extraClients ?? [])],
    scopes: ['openid', 'offline_access', 'api:read'],
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: options.resourceIndicators === true,
        // Opaque tokens, so the protected API can look them up as it does the others.
        getResourceServerInfo: async (_ctx, resource) => {
          if (!resource.startsWith(RESOURCE_BASE)) throw new errors.InvalidTarget()
          return { scope: 'api:read', audience: resource, accessTokenFormat: 'opaque' }
        }
      },
      revocation: { enabled: true },
      devInteractions: { enabled: false }
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      ClientCredentials: options.clientCredentialsTtl ?? 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Grant: 24 * 3600,
      Interaction: 600,
      Session: 600
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    cookies: { keys: [randomBytes(24).toString('hex')] },
    jwks: { keys: [jwk as never] }
  })
  // oidc-provider logs its own errors through these events; the test records them instead.
  const calls: TokenEndpointCall[] = []
  const issuedRefreshTokens: string[] = []
  const clientAuthOf = (ctx: KoaContextWithOIDC): TokenEndpointCall['clientAuth'] => {
    if (/^Basic /i.test(ctx.get('authorization'))) return 'basic'
    return ctx.oidc.params?.client_id ? 'body' : 'none'
  }
  const detailsOf = (ctx: KoaContextWithOIDC): Pick<TokenEndpointCall, 'clientId' | 'assertion' | 'secretInBody' | 'resources'> => ({
    clientId: ctx.oidc.client?.clientId ?? (ctx.oidc.params?.client_id as string | undefined) ?? null,
    assertion: (ctx.oidc.params?.client_assertion as string | undefined) ?? null,
    secretInBody: typeof ctx.oidc.params?.client_secret === 'string',
    resources: ([] as unknown[]).concat(ctx.oidc.params?.resource ?? []).map(String)
  })
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    calls.push({ grantType: String(ctx.oidc.params?.grant_type), error: null, clientAuth: clientAuthOf(ctx), ...detailsOf(ctx), at: Date.now() })
    const body = ctx.body as { refresh_token?: string }
    if (body.refresh_token) issuedRefreshTokens.push(body.refresh_token)
  })
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string }) => {
    calls.push({ grantType: String(ctx.oidc.params?.grant_type), error: err.error ?? 'unknown', clientAuth: clientAuthOf(ctx), ...detailsOf(ctx), at: Date.now() })
  })
  provider.on('server_error', () => {})
  options.extend?.(provider)

  const callback = provider.callback()
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      finishInteraction(provider, req, res).catch((err: Error) => { res.statusCode = 500; res.end(err.message) })
      return
    }
    const delay = req.url === '/token' ? options.tokenDelayMs ?? 0 : 0
    if (delay > 0) setTimeout(() => callback(req, res), delay)
    else callback(req, res)
  })

  const close = async (): Promise<void> => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    provider,
    calls,
    issuedRefreshTokens,
    authorize: () => authorizationCodeFlow(issuer, basic),
    async refreshDirectly (refreshToken) {
      const res = await request(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString()
      })
      await res.body.dump()
      return res.statusCode
    },
    async revoke (token) {
      const res = await request(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: new URLSearchParams({ token }).toString()
      })
      await res.body.dump()
      if (res.statusCode !== 200) throw new Error(`revocation answered ${res.statusCode}`)
    },
    async lookup (token) {
      const found = await provider.AccessToken.find(token) ?? await provider.ClientCredentials.find(token)
      if (!found) return null
      const aud = (found as { aud?: string }).aud
      return { clientId: String(found.clientId), accountId: (found as { accountId?: string }).accountId ?? null, scope: found.scope ?? null, ...(aud === undefined ? {} : { aud }) }
    },
    close
  }
}

// The login and consent a user would give in a browser, answered at once for ACCOUNT_ID.
async function finishInteraction (provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res)
  const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: String(details.params.client_id) })
  grant.addOIDCScope(String(details.params.scope))
  const grantId = await grant.save()
  await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT_ID }, consent: { grantId } }, { mergeWithLastSubmission: false })
}

// A browser's side of the code flow: follow redirects carrying cookies until the redirect URI.
async function authorizationCodeFlow (issuer: string, basic: string): Promise<{ accessToken: string, refreshToken: string }> {
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const cookies = new Map<string, string>()
  let location = `${issuer}/auth?${new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid offline_access api:read',
    prompt: 'consent',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256'
  }).toString()}`
  for (let hop = 0; hop < 10 && !location.startsWith(REDIRECT_URI); hop++) {
    const res = await request(location, { headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } })
    await res.body.dump()
    const setCookies = res.headers['set-cookie']
    for (const line of Array.isArray(setCookies) ? setCookies : setCookies ? [setCookies] : []) {
      const [pair] = line.split(';')
      const at = pair.indexOf('=')
      cookies.set(pair.slice(0, at), pair.slice(at + 1))
    }
    if (res.statusCode < 300 || res.statusCode > 399) throw new Error(`authorization flow stopped with HTTP ${res.statusCode} at ${location}`)
    location = new URL(String(res.headers.location), location).href
  }
  const code = new URL(location).searchParams.get('code')
  if (!code) throw new Error(`no code in ${location}`)
  const res = await request(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString()
  })
  const body = await res.body.json() as { access_token?: string, refresh_token?: string }
  if (!body.access_token || !body.refresh_token) throw new Error(`code exchange answered HTTP ${res.statusCode} without tokens`)
  return { accessToken: body.access_token, refreshToken: body.refresh_token }
}

export interface ProtectedApi {
  url: string
  /** Every request with the status the API gave it. */
  received: Array<{ method: string, url: string, authorization: string | null, body: string, status: number }>
}

/**
 * A resource server that trusts the authorization server: 200 with an echo for a live access
 * token, 401 with WWW-Authenticate (RFC 6750 §3) for anything else.
 */
export async function startProtectedApi (t: Teardown, as: AuthorizationServer): Promise<ProtectedApi> {
  const received: ProtectedApi['received'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const authorization = req.headers.authorization ?? null
      const body = Buffer.concat(chunks).toString('utf8')
      const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1]
      const answer = async (): Promise<void> => {
        const found = token ? await as.lookup(token) : null
        const status = found ? 200 : 401
        received.push({ method: req.method ?? '', url: req.url ?? '', authorization, body, status })
        if (found === null) {
          res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
            .end(JSON.stringify({ error: 'invalid_token' }))
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ method: req.method, url: req.url, authorization, body, token: found }))
      }
      answer().catch(() => { res.writeHead(500).end() })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}
