// Real local servers for tests: the demo identity provider and echo upstream, closed on teardown.
import { startEchoUpstream, type EchoUpstream, type EchoUpstreamOptions } from '../../src/demo/echoUpstream.js'
import { startIdentityProvider, type IdentityProvider, type IdentityProviderOptions } from '../../src/demo/identityProvider.js'

interface Teardown { teardown (fn: () => unknown): void }

export async function identityProvider (t: Teardown, options: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  const idp = await startIdentityProvider(options)
  t.teardown(() => idp.close())
  return idp
}

export async function echoUpstream (t: Teardown, options: EchoUpstreamOptions = {}): Promise<EchoUpstream> {
  const upstream = await startEchoUpstream(options)
  t.teardown(() => upstream.close())
  return upstream
}

/** Polls until `check` returns true, failing after `timeoutMs`. */
export async function waitFor (check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

export interface RefreshingEnv extends Record<string, string> {
  UPSTREAM_URL: string
  AUTH_TOKEN: string
  REFRESH_TOKEN: string
  TOKEN_REFRESH_URL: string
}

/** A gateway that starts on a token expired a minute ago, which it must refresh at `idp`. */
export function refreshingEnv (idp: IdentityProvider, upstream: { url: string }): RefreshingEnv {
  return { UPSTREAM_URL: upstream.url, AUTH_TOKEN: idp.mint(-60), REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl }
}

export interface FileStoreEnv extends RefreshingEnv {
  TOKEN_STORE: string
  TOKEN_STORE_PATH: string
}

/** The same, keeping its tokens in the file at `path`. */
export function fileStoreEnv (idp: IdentityProvider, upstream: EchoUpstream, path: string): FileStoreEnv {
  return { ...refreshingEnv(idp, upstream), TOKEN_STORE: 'file', TOKEN_STORE_PATH: path }
}
