// The upstream's side of a proxied WebSocket. @fastify/http-proxy accepts the client's upgrade
// before it opens the upstream connection, so when the upstream refuses the handshake all it can
// do is close the client's socket (1011, "unexpected response"), with no log line. Two things it
// cannot do are done here: a 401 renews the token (one refresh shared with concurrent 401s, as for
// HTTP), so the client's next attempt carries a new one instead of failing until the periodic
// job; and a refused or failed upstream connection is logged, naming a TLS trust failure.
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import type { TokenRefreshService } from '../src/services/tokenRefreshService.js'
import { isCertificateError } from '../src/utils/tlsErrors.js'

/** ws's `finishRequest` option: called with the upstream handshake request before it is sent. */
export function watchUpstreamHandshake (log: FastifyBaseLogger, service: Pick<TokenRefreshService, 'recoverFromUnauthorized'>):
(request: ClientRequest, upstream: WebSocket) => void {
  return (request, upstream) => {
    const token = String(request.getHeader('authorization')).slice('Bearer '.length)
    upstream.once('unexpected-response', (_request: ClientRequest, response: IncomingMessage) => {
      // With a listener, ws leaves the refused handshake's connection to it.
      request.destroy()
      if (response.statusCode === 401) {
        log.warn('Upstream refused a WebSocket upgrade with 401; closing it (1011) and renewing the token for the next attempt')
        // Never rejects: a failed refresh is recorded for health and metrics.
        service.recoverFromUnauthorized(token).then((renewed) => {
          if (renewed === null) log.warn('No new token could be obtained after the WebSocket 401; the next attempt carries the same token')
        })
      } else {
        log.warn({ statusCode: response.statusCode }, 'Upstream refused a WebSocket upgrade; closing it (1011)')
      }
    })
    upstream.once('error', (err: Error & { code?: string }) => {
      log.warn({ code: err.code, reason: err.message }, isCertificateError(err.code)
        ? 'Upstream TLS certificate not trusted; closing the WebSocket (1011) (a private CA can be trusted with UPSTREAM_CA_FILE)'
        : 'Upstream WebSocket connection failed; closing it (1011)')
    })
    request.end()
  }
}
