// Upgrades other than WebSocket are ignored, as HTTP lets a server do (RFC 9110 §7.8): the request
// is served as the HTTP/1.1 request it also is. Java's HttpClient (HTTP/2 by default) and
// `curl --http2` offer `Upgrade: h2c` on their first request to an http:// URL; while the WebSocket
// proxy listens for upgrades, Node hands every such request to that listener, which refused it with
// a 400. The request's head is written back in front of the bytes that followed it, without the
// upgrade offer, and the connection is given back to the HTTP server to parse: body, keep-alive
// and pipelined requests behave as on any other connection.
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'

type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void

// The headers that make the offer; Connection keeps its other tokens.
const OFFER_HEADERS = new Set(['upgrade', 'http2-settings'])

export function serveNonWebSocketUpgradesAsHttp (server: Server): void {
  const webSocketListeners = server.listeners('upgrade') as UpgradeListener[]
  server.removeAllListeners('upgrade')
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (isWebSocketUpgrade(request)) {
      for (const listener of webSocketListeners) listener.call(server, request, socket, head)
      return
    }
    socket.unshift(Buffer.concat([Buffer.from(requestHeadWithoutOffer(request), 'latin1'), head]))
    server.emit('connection', socket)
  })
}

function isWebSocketUpgrade (request: IncomingMessage): boolean {
  // Node emits 'upgrade' only for a request that has an Upgrade header.
  return /\bwebsocket\b/i.test(String(request.headers.upgrade))
}

/** The request line and headers as the client sent them, less the upgrade offer. */
export function requestHeadWithoutOffer (request: IncomingMessage): string {
  let head = `${request.method} ${request.url} HTTP/${request.httpVersion}\r\n`
  const raw = request.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const lower = name.toLowerCase()
    if (OFFER_HEADERS.has(lower)) continue
    let value = raw[i + 1]
    if (lower === 'connection') {
      value = value.split(',').map((token) => token.trim()).filter((token) => !OFFER_HEADERS.has(token.toLowerCase())).join(', ')
      if (value === '') continue
    }
    head += `${name}: ${value}\r\n`
  }
  return `${head}\r\n`
}
