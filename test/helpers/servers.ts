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
