// What the gateway fronts: its credentials (one token engine each) and its routes (a path prefix,
// an upstream and the credential that signs its requests). Built from TOKENGATE_CONFIG's file, or,
// without one, from the environment: one credential `default` and one route `/` to UPSTREAM_URL.
import type { RefreshStyle } from '../grants/refreshGrant.js'
import type { ClientCertificateFiles } from '../utils/clientCertificate.js'
import type { GatewayConfig, OAuthClientConfig, TokenGrantKind } from './gatewayConfig.js'

/** The credential of a gateway configured by the environment alone. */
export const DEFAULT_CREDENTIAL = 'default'

/** A credential's name: lower-case letters, digits and '-', 1 to 40 characters. */
export const CREDENTIAL_NAME = /^[a-z0-9-]{1,40}$/

/** The fields of a credential whose value may come from a file (their `*File` twins). */
export type SecretField = 'accessToken' | 'refreshToken' | 'clientSecret'

export interface CredentialConfig {
  name: string
  tokenGrant: TokenGrantKind
  /** `client_credentials` or `token_exchange` for that grant, else the refresh style (json | oauth2). */
  refreshStyle: RefreshStyle
  /** The identity provider's token (or refresh) URL. */
  refreshUrl: string
  accessToken: string | null
  refreshToken: string | null
  oauthClient: OAuthClientConfig | null
  expiryBufferMs: number
  refreshIntervalMs: number
  /** Absolute paths of the files secret fields were read from (their `*File` twins). */
  files: Partial<Record<SecretField, string>>
}

export interface RouteConfig {
  /** The path prefix, matched on '/' boundaries: '/chat', or '/' for everything. */
  path: string
  /** The upstream; its path replaces the prefix (`/chat/x` → `<upstream path>/x`). */
  upstream: URL
  credential: string
  /** ms until the upstream's response headers (UPSTREAM_TIMEOUT unless the route sets its own). */
  timeoutMs: number
  /** Presented to the upstream in the TLS handshake (mutual TLS); absent: none. */
  clientCertificate?: ClientCertificateFiles
}

export interface GatewayDefinition {
  /** Absolute path of the TOKENGATE_CONFIG file; null when configured by the environment. */
  file: string | null
  credentials: CredentialConfig[]
  routes: RouteConfig[]
}

/** The gateway configured by the environment alone: one credential `default`, one route `/` to UPSTREAM_URL. */
export function definitionFromEnvironment (config: GatewayConfig): GatewayDefinition {
  return {
    file: null,
    credentials: [{
      name: DEFAULT_CREDENTIAL,
      tokenGrant: config.tokenGrant,
      refreshStyle: config.refreshStyle,
      refreshUrl: config.refreshUrl,
      accessToken: config.authToken,
      refreshToken: config.refreshToken,
      oauthClient: config.oauthClient,
      expiryBufferMs: config.expiryBufferMs,
      refreshIntervalMs: config.refreshIntervalMs,
      files: {}
    }],
    routes: [{
      path: '/',
      upstream: config.upstream,
      credential: DEFAULT_CREDENTIAL,
      timeoutMs: config.upstreamTimeoutMs,
      ...(config.upstreamClientCertificate === null ? {} : { clientCertificate: config.upstreamClientCertificate })
    }]
  }
}
