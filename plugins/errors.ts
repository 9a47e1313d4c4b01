// Where errors become HTTP answers, for every route and hook that does not answer them itself: a
// typed error of ours by the code it carries (src/errors.ts httpErrorOf); anything else goes on
// to Fastify's own handler.
import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { httpErrorOf } from '../src/errors.js'

async function errorsPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler((error: FastifyError, _request, reply) => {
    const answer = httpErrorOf(error)
    // Sent from an error handler, an error goes to the handler before it: here, Fastify's default.
    if (answer === null) return reply.send(error)
    return reply.code(answer.statusCode).headers(answer.headers).send(answer.body)
  })
}

export default fp(errorsPlugin, { name: 'tokengate-errors', fastify: '5.x' })
