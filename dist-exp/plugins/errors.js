import fp from 'fastify-plugin';
import { httpErrorOf } from '../src/errors.js';
async function errorsPlugin(fastify) {
    fastify.setErrorHandler((error, _request, reply) => {
        const answer = httpErrorOf(error);
        // Sent from an error handler, an error goes to the handler before it: here, Fastify's default.
        if (answer === null)
            return reply.send(error);
        return reply.code(answer.statusCode).headers(answer.headers).send(answer.body);
    });
}
export default fp(errorsPlugin, { name: 'tokengate-errors', fastify: '5.x' });
