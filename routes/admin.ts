// Runtime token administration: POST /admin/token/refresh forces a refresh, PUT /admin/token
// replaces the tokens. Guarded by GATEWAY_ADMIN_KEY (x-admin-key); without a configured key the
// routes answer 404. They are the gateway's own and never proxied.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HEADER_SAFE_TOKEN } from '../src/grants/tokenAnswer.js'
import { createKeyMatcher } from '../src/utils/apiKeys.js'

interface ReplaceTokensBody {
  accessToken: string
  refreshToken: string | null
}

class BadAdminBody extends Error {
  readonly statusCode = 400
}

// Checked by hand rather than by a route schema: Fastify's validator coerces types (a number
// would become a token), and a token must arrive exactly as the operator sent it.
function replaceTokensBody (body: unknown, maxAccessTokenBytes: number): ReplaceTokensBody {
  const { accessToken, refreshToken, ...rest } = (body ?? {}) as Record<string, unknown>
  const valid = typeof accessToken === 'string' && HEADER_SAFE_TOKEN.test(accessToken) && Buffer.byteLength(accessToken) <= maxAccessTokenBytes &&
    (refreshToken === undefined || (typeof refreshToken === 'string' && refreshToken.trim() !== '')) &&
    Object.keys(rest).length === 0
  if (!valid) throw new BadAdminBody('bad body')
  return { accessToken: accessToken as string, refreshToken: (refreshToken as string | undefined) ?? null }
}

export default async function adminRoutes (fastify: FastifyInstance): Promise<void> {
  const { adminKey, accessTokenMaxBytes } = fastify.gatewayConfig
  const isAdminKey = createKeyMatcher(adminKey === null ? [] : [adminKey])

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (adminKey === null) {
      return reply.code(404).send({ error: 'not_found', message: 'admin routes are disabled (no GATEWAY_ADMIN_KEY)' })
    }
    if (!isAdminKey(request.headers['x-admin-key'])) {
      request.log.warn('Admin request with a missing or wrong x-admin-key')
      return reply.code(401).send({ error: 'unauthorized', message: 'x-admin-key is missing or wrong' })
    }
  })

  // Bad bodies get a short message that never echoes what was sent.
  fastify.setErrorHandler((error: { statusCode?: number }, request, reply) => {
    if (error.statusCode !== undefined && error.statusCode < 500) {
      return reply.code(400).send({
        error: 'bad_request',
        message: `body must be JSON {"accessToken": "…", "refreshToken"?: "…"} with non-empty strings, the access token of visible ASCII and at most ${accessTokenMaxBytes} bytes (ACCESS_TOKEN_MAX_SIZE)`
      })
    }
    request.log.error({ err: error }, 'Admin route failed')
    return reply.code(500).send({ error: 'internal_error', message: 'the admin action failed' })
  })

  fastify.post('/admin/token/refresh', async (request, reply) => {
    try {
      await fastify.tokenService.refreshAccessToken('admin')
    } catch {
      request.log.warn('Forced refresh failed')
      return reply.code(502).send(fastify.tokenHealth())
    }
    return fastify.tokenHealth()
  })

  fastify.put('/admin/token', async (request) => {
    const body = replaceTokensBody(request.body, accessTokenMaxBytes)
    await fastify.tokenService.replaceTokens(body.accessToken, body.refreshToken)
    return fastify.tokenHealth()
  })

  // The whole /admin/ namespace is the gateway's own: nothing under it reaches the upstream.
  fastify.all('/admin/*', async (_request, reply) => reply.code(404).send({ error: 'not_found', message: 'no such admin route' }))
}
