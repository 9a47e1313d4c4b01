// The token hook of the proxy scope: the request takes a valid token of its route's credential
// (waiting, if it must, on that credential's refresh alone). No usable token and no way to get
// one: a TokenUnavailableError, answered 503 token_unavailable with Retry-After by the root error
// handler (plugins/errors.ts), without calling the upstream.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { TokenUnavailableError } from '../../src/errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    upstreamToken: string
  }
}

async function upstreamTokenPlugin (fastify: FastifyInstance): Promise<void> {
  const spans = fastify.requestSpans
  fastify.decorateRequest('upstreamToken', '')
  // A callback hook, not an async one: a valid token (nearly every request) passes without a promise.
  fastify.addHook('onRequest', (request, _reply, done) => {
    const service = request.gatewayRoute!.credential.service
    const token = service.validAccessTokenNow()
    if (token !== null) {
      request.upstreamToken = token
      done()
      return
    }
    spans.within(request, () => service.getValidAccessToken()).then((valid) => {
      request.upstreamToken = valid
      done()
    }, (err: TokenUnavailableError) => {
      // getValidAccessToken fails only with TokenUnavailableError: no token and no way to get one.
      request.log.warn({ reason: err.message }, 'No usable access token; answering 503 without calling the upstream')
      done(err)
    })
  })
}

export default fp(upstreamTokenPlugin, { name: 'tokengate-proxy-upstream-token', fastify: '5.x', dependencies: ['tokengate-proxy-request-spans'] })
