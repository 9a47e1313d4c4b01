import fp from 'fastify-plugin';
async function upstreamTokenPlugin(fastify) {
    const spans = fastify.requestSpans;
    fastify.decorateRequest('upstreamToken', '');
    // A callback hook, not an async one: a valid token (nearly every request) passes without a promise.
    fastify.addHook('onRequest', (request, _reply, done) => {
        const service = request.gatewayRoute.credential.service;
        const token = service.validAccessTokenNow();
        if (token !== null) {
            request.upstreamToken = token;
            done();
            return;
        }
        spans.within(request, () => service.getValidAccessToken()).then((valid) => {
            request.upstreamToken = valid;
            done();
        }, (err) => {
            // getValidAccessToken fails only with TokenUnavailableError: no token and no way to get one.
            request.log.warn({ reason: err.message }, 'No usable access token; answering 503 without calling the upstream');
            done(err);
        });
    });
}
export default fp(upstreamTokenPlugin, { name: 'tokengate-proxy-upstream-token', fastify: '5.x', dependencies: ['tokengate-proxy-request-spans'] });
