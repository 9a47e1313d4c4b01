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
  fastify.addHook('onRequest', async (request) => {
    try {
      const service = request.gatewayRoute!.credential.service
      request.upstreamToken = await spans.within(request, () => service.getValidAccessToken())
    } catch (err) {
      // getValidAccessToken fails only with TokenUnavailableError: no token and no way to get one.
      request.log.warn({ reason: (err as TokenUnavailableError).message }, 'No usable access token; answering 503 without calling the upstream')
      throw err
    }
  })
}

export default fp(upstreamTokenPlugin, { name: 'tokengate-proxy-upstream-token', fastify: '5.x', dependencies: ['tokengate-proxy-request-spans'] })
