// The proxy scope: every route not served locally goes to the upstream with our bearer token.
// The onRequest hook and @fastify/http-proxy live in this one encapsulated scope, so health and
// admin routes never run the token hook.
import fastifyHttpProxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { Agent } from 'undici'
import type { TokenUnavailableError } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    upstreamToken: string
  }
}

// Credentials meant for the gateway itself; the upstream never sees them.
const GATEWAY_HEADERS = ['authorization', 'x-api-key', 'x-admin-key'] as const

export default async function proxyRoutes (fastify: FastifyInstance): Promise<void> {
  const config = fastify.gatewayConfig
  // Our own dispatcher: reply-from's default turns TLS verification off. bodyTimeout 0 lets a
  // started stream (server-sent events) run as long as the upstream keeps it open.
  const agent = new Agent({
    headersTimeout: config.upstreamTimeoutMs,
    bodyTimeout: 0,
    keepAliveTimeout: 60_000,
    connect: { rejectUnauthorized: true }
  })
  fastify.addHook('onClose', async () => { await agent.close() })

  fastify.decorateRequest('upstreamToken', '')
  fastify.addHook('onRequest', async (request, reply) => {
    try {
      request.upstreamToken = await fastify.getValidAccessToken()
    } catch (err) {
      // getValidAccessToken fails only with TokenUnavailableError: no token and no way to get one.
      const error = err as TokenUnavailableError
      request.log.warn({ reason: error.message }, 'No usable access token; answering 503 without calling the upstream')
      return reply.code(503).header('retry-after', String(error.retryAfterSeconds))
        .send({ error: 'token_unavailable', message: error.message })
    }
  })

  await fastify.register(fastifyHttpProxy, {
    upstream: config.upstream.origin,
    rewritePrefix: config.upstream.pathname.replace(/\/+$/, ''),
    undici: agent,
    // A transparent proxy: the upstream's 503 goes to the client as it came, never replayed.
    retryMethods: [],
    disableRequestLogging: true,
    replyOptions: {
      rewriteRequestHeaders: (request, headers) => withBearer(request.upstreamToken, headers),
      onError: (reply, { error }) => upstreamFailed(reply, error)
    }
  })
}

function withBearer<H extends Record<string, unknown>> (token: string, headers: H): H {
  for (const name of GATEWAY_HEADERS) delete headers[name]
  return Object.assign(headers, { authorization: `Bearer ${token}` })
}

function upstreamFailed (reply: FastifyReply<any, any>, error: Error & { statusCode?: number }): void {
  const timedOut = error.statusCode === 504
  // reply-from wraps the undici error (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, a TLS code) as the cause.
  reply.log.warn({ code: (error.cause as { code?: string } | undefined)?.code }, timedOut
    ? 'Upstream did not answer in time'
    : 'Upstream unreachable')
  if (timedOut) {
    reply.code(504).send({ error: 'upstream_timeout', message: 'the upstream did not send its response headers in time' })
  } else {
    reply.code(502).send({ error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  }
}
