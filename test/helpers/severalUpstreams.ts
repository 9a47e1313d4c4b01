// What the tests of several upstreams share: the `credentials:` block of two credentials, chat
// and graph, each refreshing at an identity provider of its own, and the variables it reads.
import type { IdentityProvider } from '../../src/demo/identityProvider.js'

/** `credentials:` with chat and graph, read from CHAT_* and GRAPH_* variables (see twoCredentialEnv). */
export const TWO_CREDENTIALS = `
credentials:
  chat:
    tokenUrl: \${CHAT_TOKEN_URL}
    accessToken: \${CHAT_AUTH_TOKEN}
    refreshToken: \${CHAT_REFRESH_TOKEN}
  graph:
    tokenUrl: \${GRAPH_TOKEN_URL}
    accessToken: \${GRAPH_AUTH_TOKEN}
    refreshToken: \${GRAPH_REFRESH_TOKEN}
`

/** The variables of TWO_CREDENTIALS: both start on tokens expired a minute ago, which they must refresh. */
export function twoCredentialEnv (chat: IdentityProvider, graph: IdentityProvider): Record<string, string> {
  return {
    CHAT_TOKEN_URL: chat.refreshUrl,
    CHAT_AUTH_TOKEN: chat.mint(-60),
    CHAT_REFRESH_TOKEN: chat.validRefreshToken,
    GRAPH_TOKEN_URL: graph.refreshUrl,
    GRAPH_AUTH_TOKEN: graph.mint(-60),
    GRAPH_REFRESH_TOKEN: graph.validRefreshToken
  }
}
