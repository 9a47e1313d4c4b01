// The proxy scope: every route not served locally goes to the upstream with our bearer token.
// The onRequest hook and @fastify/http-proxy live in this one encapsulated scope, so health and
// admin routes never run the token hook.
import fastifyHttpProxy from '@fastify/http-proxy'
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { Agent } from 'undici'
import { TokenUnavailableError } from '../src/errors.js'

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
    // A bounded pool (reply-from's own default size): a burst, such as the requests a refresh
    // held and releases at once, queues on warm connections instead of opening one new
    // connection per request.
    connections: 128,
    bodyTimeout: 0,
    keepAliveTimeout: 60_000,
    connect: { rejectUnauthorized: true }
  })
  fastify.addHook('onClose', async () => { await agent.close() })

  fastify.decorateRequest('upstreamToken', '')
  fastify.addHook('onRequest', async (request) => {
    request.upstreamToken = await fastify.getValidAccessToken()
  })

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof TokenUnavailableError) {
      request.log.warn({ reason: error.message }, 'No usable access token; answering 503 without calling the upstream')
      return reply.code(503).header('retry-after', String(error.retryAfterSeconds))
        .send({ error: 'token_unavailable', message: error.message })
    }
    return reply.send(error)
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
  const cause = error.cause as { code?: string } | undefined
  const timedOut = error.statusCode === 504
  reply.log.warn({ code: cause?.code ?? (error as { code?: string }).code }, timedOut
    ? 'Upstream did not answer in time'
    : 'Upstream unreachable')
  if (timedOut) {
    reply.code(504).send({ error: 'upstream_timeout', message: 'the upstream did not send its response headers in time' })
  } else {
    reply.code(502).send({ error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  }
}
