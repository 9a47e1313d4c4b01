// Picks the way of obtaining tokens from the configuration: the seed's JSON refresh, the OAuth 2.0
// refresh (RFC 6749 §6) or the client credentials grant (§4.4).
import type { OAuthClientConfig } from '../config/gatewayConfig.js'
import type { Clock } from '../utils/clock.js'
import { SecretFile } from '../utils/secretFile.js'
import { createClientCredentialsGrant } from './clientCredentialsGrant.js'
import { createJsonRefreshGrant } from './jsonRefreshGrant.js'
import { createOAuth2RefreshGrant } from './oauth2RefreshGrant.js'
import type { RefreshGrant, RefreshStyle } from './refreshGrant.js'

export interface GrantSettings {
  style: RefreshStyle
  url: string
  /** Required for oauth2 and client_credentials (the configuration guarantees it). */
  oauthClient: OAuthClientConfig | null
  timeoutMs?: number
  now?: Clock
  /**
   * The file the client secret comes from, and the field that named it (for errors): the secret
   * is then read from it for every token request, again whenever the file changed.
   */
  clientSecretFile?: { path: string, field: string }
}

export function createGrant (settings: GrantSettings): RefreshGrant {
  const { style, url, timeoutMs, now } = settings
  if (style === 'json') return createJsonRefreshGrant({ url, timeoutMs, now })
  const { clientId, clientSecret, scope } = settings.oauthClient!
  const secretFile = settings.clientSecretFile === undefined ? null : new SecretFile(settings.clientSecretFile.path, settings.clientSecretFile.field)
  const client = secretFile === null ? { clientId, clientSecret } : { clientId, get clientSecret () { return secretFile.read() } }
  const options = { url, client, scope, timeoutMs, now }
  return style === 'oauth2' ? createOAuth2RefreshGrant(options) : createClientCredentialsGrant(options)
}
