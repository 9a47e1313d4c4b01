// A token exchange (RFC 8693) at the test authorization server (test/helpers/oidcProvider.ts), and
// the "platform" whose tokens it trusts: a key that signs subject tokens as a Kubernetes cluster
// signs projected service-account tokens. The grant checks each subject token for real (signature
// against the platform's JWKS, issuer, audience, expiry), records what it received, and issues a
// client-credentials access token that the protected API accepts.
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose'
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider'
import { CLIENT_SECRET, type AuthorizationServerOptions } from './oidcProvider.js'

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
/** The issuer of the platform's tokens (a cluster's service-account issuer). */
export const PLATFORM_ISSUER = 'https://kubernetes.default.svc.cluster.local'
/** The audience a subject token must be issued for (a projected token's `audience`). */
export const SUBJECT_AUDIENCE = 'tokengate-sts'
/** A confidential client allowed the token exchange (HTTP Basic, secret CLIENT_SECRET). */
export const EXCHANGE_CLIENT_ID = 'tokengate-exchange'
/** A public client allowed the token exchange (token_endpoint_auth_method none). */
export const PUBLIC_EXCHANGE_CLIENT_ID = 'tokengate-exchange-public'

export interface Platform {
  /** A subject token: `sub` a service account, `aud` SUBJECT_AUDIENCE unless given; `lifetimeSeconds` may be negative (expired). */
  sign (claims?: { sub?: string, aud?: string, lifetimeSeconds?: number }): Promise<string>
  /** The public key the authorization server checks subject tokens with. */
  jwks: { keys: JWK[] }
}

/** What the authorization server received in one token exchange, and what it did. */
export interface ExchangeCall {
  clientId: string
  subjectToken: string
  subjectTokenType: string
  audience: string[]
  resources: string[]
  scope: string | null
  /** `sub` of the subject token when it was accepted; null when refused. */
  subject: string | null
}

export interface TokenExchange {
  exchanges: ExchangeCall[]
  /** Options for startAuthorizationServer that add the grant and its clients. */
  serverOptions: Pick<AuthorizationServerOptions, 'extraClients' | 'extend'>
}

export async function startPlatform (): Promise<Platform> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  return {
    jwks: { keys: [{ ...await exportJWK(publicKey), kid: 'platform-1', alg: 'ES256' }] },
    async sign (claims = {}) {
      const nowSeconds = Math.floor(Date.now() / 1000)
      return new SignJWT({ kubernetes: { namespace: 'apps', serviceaccount: 'gateway' } })
        .setProtectedHeader({ alg: 'ES256', kid: 'platform-1', typ: 'JWT' })
        .setIssuer(PLATFORM_ISSUER)
        .setSubject(claims.sub ?? 'system:serviceaccount:apps:gateway')
        .setAudience(claims.aud ?? SUBJECT_AUDIENCE)
        .setIssuedAt(nowSeconds)
        .setExpirationTime(nowSeconds + (claims.lifetimeSeconds ?? 3600))
        .sign(privateKey)
    }
  }
}

/** The grant and its two clients, trusting the tokens `platform` signs. */
export function tokenExchange (platform: Platform): TokenExchange {
  const exchanges: ExchangeCall[] = []
  const jwks = createLocalJWKSet(platform.jwks)
  const handler = async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    const params = ctx.oidc.params as Record<string, unknown>
    const list = (value: unknown): string[] => ([] as unknown[]).concat(value ?? []).map(String)
    const call: ExchangeCall = {
      clientId: ctx.oidc.client!.clientId,
      subjectToken: String(params.subject_token ?? ''),
      subjectTokenType: String(params.subject_token_type ?? ''),
      audience: list(params.audience),
      resources: list(params.resource),
      scope: typeof params.scope === 'string' ? params.scope : null,
      subject: null
    }
    exchanges.push(call)
    if (call.subjectToken === '') throw new errors.InvalidRequest('missing required parameter \'subject_token\'')
    if (call.subjectTokenType !== JWT_TOKEN_TYPE) throw new errors.InvalidRequest('unsupported subject_token_type')
    try {
      const { payload } = await jwtVerify(call.subjectToken, jwks, { issuer: PLATFORM_ISSUER, audience: SUBJECT_AUDIENCE, algorithms: ['ES256'] })
      call.subject = String(payload.sub)
    } catch {
      throw new errors.InvalidGrant('subject token is invalid or expired')
    }
    const token = new ctx.oidc.provider.ClientCredentials({ client: ctx.oidc.client!, scope: call.scope ?? '' })
    const value = await token.save()
    ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: token.expiration, scope: call.scope ?? undefined }
    await next()
  }
  const client = { grant_types: [TOKEN_EXCHANGE_GRANT], response_types: [], redirect_uris: [], scope: 'api:read' }
  return {
    exchanges,
    serverOptions: {
      extraClients: [
        { ...client, client_id: EXCHANGE_CLIENT_ID, client_secret: CLIENT_SECRET },
        { ...client, client_id: PUBLIC_EXCHANGE_CLIENT_ID, token_endpoint_auth_method: 'none' }
      ],
      extend: (provider: Provider) => {
        // audience and resource may each come several times (RFC 8693 §2.1).
        provider.registerGrantType(TOKEN_EXCHANGE_GRANT, handler,
          ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope'],
          ['audience', 'resource'])
      }
    }
  }
}
