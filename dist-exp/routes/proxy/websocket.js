// WebSocket upgrades of the proxy scope, relayed by the gateway itself (routes/proxy/websocket-relay.ts)
// so that messages pass with backpressure and within WS_MAX_MESSAGE. An upgrade is routed like any
// request: it passes the scope's onRequest hooks (the API key, then the token) and
// @fastify/http-proxy's check of its destination before the relay takes the socket over.
//
// The client's handshake is accepted before the upstream is called, so when the upstream refuses
// its handshake all the relay can do is close the client's socket (1011). Two more things are done
// here: a 401 renews the token (one refresh shared with concurrent 401s, as for HTTP), so the
// client's next attempt carries a new one instead of failing until the periodic job; and a refused
// or failed upstream connection is logged, naming a TLS trust failure.
import { ServerResponse } from 'node:http';
import fp from 'fastify-plugin';
import { WebSocket, WebSocketServer } from 'ws';
import { isCertificateError } from '../../src/utils/tlsErrors.js';
import { routeUpgrades } from './upgrade.js';
import { WebSocketRelay } from './websocket-relay.js';
/**
 * At shutdown every WebSocket is closed with 1001; a peer that has not finished the closing
 * handshake this long after has its socket cut, so it cannot hold the shutdown.
 */
export const WS_CLOSE_TIMEOUT_MS = 5_000;
/** Routes the server's upgrades through the proxy scope's hooks and decorates it with the relay. */
async function webSocketProxyPlugin(fastify, options) {
    fastify.decorate('webSocketProxy', setupWebSocketProxy(fastify, options));
}
export default fp(webSocketProxyPlugin, { name: 'tokengate-proxy-websocket', fastify: '5.x' });
function setupWebSocketProxy(fastify, options) {
    const upgrades = new WeakMap();
    // Pings are relayed, so each is answered by the far end, not by the gateway on its behalf.
    const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: options.maxMessageBytes, autoPong: false });
    const relays = new Set();
    routeUpgrades(fastify.server, (rawRequest, socket, head) => {
        upgrades.set(rawRequest, { socket, head });
        // Routed as @fastify/http-proxy does it: a response on the socket, for the hooks to answer with.
        const rawResponse = new ServerResponse(rawRequest);
        rawResponse.assignSocket(socket);
        // Answered by a hook or a local route (401, 503, 404, …): that answer ends the connection.
        rawResponse.on('finish', () => { socket.destroy(); });
        fastify.routing(rawRequest, rawResponse);
    });
    let cut;
    // Before the server stops: it waits for every connection, and an open WebSocket never ends on its own.
    fastify.addHook('preClose', async () => {
        // From now on an upgrade still on its way through the hooks is refused (503).
        wss.close();
        for (const relay of relays)
            relay.close(1001, 'gateway shutting down');
        cut = setTimeout(() => { for (const relay of relays)
            relay.terminate(); }, WS_CLOSE_TIMEOUT_MS);
    });
    fastify.addHook('onClose', async () => {
        await Promise.all([...relays].map((relay) => relay.ended));
        clearTimeout(cut);
    });
    const connectUpstream = (request, dest, protocol) => {
        const route = request.gatewayRoute;
        const url = new URL(dest, route.upstreamOrigin.replace(/^http/, 'ws'));
        url.search = new URL(request.url, 'ws://gateway.invalid').search;
        // Built from scratch: of the client's handshake headers only the cookie is carried over, never
        // its authorization, x-api-key or x-admin-key.
        const headers = { authorization: `Bearer ${request.upstreamToken}` };
        if (request.headers.cookie !== undefined)
            headers.cookie = request.headers.cookie;
        return new WebSocket(url, protocol === '' ? [] : [protocol], {
            headers,
            ca: options.ca,
            ...options.clientCertificateOf(route),
            maxPayload: options.maxMessageBytes,
            handshakeTimeout: route.timeoutMs,
            autoPong: false,
            finishRequest: watchUpstreamHandshake(request.log, route.credential.service)
        });
    };
    return {
        isUpgrade: (request) => upgrades.has(request.raw),
        relay: (request, reply, dest) => {
            const { socket, head } = upgrades.get(request.raw);
            reply.hijack();
            // ws takes nothing but `Upgrade: websocket`; a list that offers it among others has chosen it.
            request.raw.headers.upgrade = 'websocket';
            wss.handleUpgrade(request.raw, socket, head, (client) => {
                // The client's first subprotocol was accepted; the upstream is offered that one.
                const upstream = connectUpstream(request, dest, client.protocol);
                const relay = new WebSocketRelay(client, upstream, { log: request.log, maxMessageBytes: options.maxMessageBytes });
                relays.add(relay);
                relay.ended.then(() => { relays.delete(relay); });
            });
        }
    };
}
/** ws's `finishRequest` option: called with the upstream handshake request before it is sent. */
export function watchUpstreamHandshake(log, service) {
    return (request, upstream) => {
        const token = String(request.getHeader('authorization')).slice('Bearer '.length);
        upstream.once('unexpected-response', (_request, response) => {
            // With a listener, ws leaves the refused handshake's connection to it.
            request.destroy();
            if (response.statusCode === 401) {
                log.warn('Upstream refused a WebSocket upgrade with 401; closing it (1011) and renewing the token for the next attempt');
                // Never rejects: a failed refresh is recorded for health and metrics.
                service.recoverFromUnauthorized(token).then((renewed) => {
                    if (renewed === null)
                        log.warn('No new token could be obtained after the WebSocket 401; the next attempt carries the same token');
                });
            }
            else {
                log.warn({ statusCode: response.statusCode }, 'Upstream refused a WebSocket upgrade; closing it (1011)');
            }
        });
        const failed = (err) => {
            log.warn({ code: err.code, reason: err.message }, isCertificateError(err.code)
                ? 'Upstream TLS certificate not trusted; closing the WebSocket (1011) (a private CA can be trusted with UPSTREAM_CA_FILE)'
                : 'Upstream WebSocket connection failed; closing it (1011)');
        };
        upstream.once('error', failed);
        // Once open, an error is no longer about the connection (the relay reports a message too big).
        upstream.once('open', () => { upstream.off('error', failed); });
        request.end();
    };
}
