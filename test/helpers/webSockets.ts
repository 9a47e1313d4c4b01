// Real WebSocket peers for the relay's tests: an upstream that records what it gets, clients, and a
// sender that keeps a bounded amount in flight so a stalled receiver shows up as a stalled count.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer, type ClientOptions, type ServerOptions } from 'ws'

interface Teardown { teardown (fn: () => unknown): void }

export const MiB = 1024 * 1024

export interface Closed { code: number, reason: string }

export interface WsUpstream {
  url: string
  /** Server-side sockets, in the order the gateway connected them. */
  sockets: WebSocket[]
  handshakes: IncomingHttpHeaders[]
  /** The URL (path and query) of each handshake, in the same order. */
  handshakeUrls: string[]
  /** Plain HTTP requests, answered with their method, URL and headers as JSON. */
  requests: Array<{ url: string, headers: IncomingHttpHeaders }>
  /** Resolves with the index-th connection (0 first) once the gateway has made it. */
  connection (index: number): Promise<WebSocket>
}

/** An upstream that takes WebSockets (ws) and answers plain requests too. */
export async function startWsUpstream (t: Teardown, options: Omit<ServerOptions, 'server' | 'port' | 'host'> = {}): Promise<WsUpstream> {
  const requests: WsUpstream['requests'] = []
  const server = createServer((req, res) => {
    requests.push({ url: req.url!, headers: req.headers })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }))
  })
  const wss = new WebSocketServer({ ...options, server })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const sockets: WebSocket[] = []
  const handshakes: IncomingHttpHeaders[] = []
  const handshakeUrls: string[] = []
  wss.on('connection', (socket, request) => {
    handshakes.push(request.headers)
    handshakeUrls.push(request.url!)
    sockets.push(socket)
    socket.on('error', () => {})
  })
  t.teardown(async () => {
    for (const socket of wss.clients) socket.terminate()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    handshakes,
    handshakeUrls,
    requests,
    connection: async (index) => {
      await waitUntil(() => sockets[index] !== undefined, 10_000, `upstream connection ${index}`)
      return sockets[index]
    }
  }
}

/** A client of the gateway, open. */
export async function openClient (t: Teardown, url: string, options: ClientOptions & { protocols?: string[] } = {}): Promise<WebSocket> {
  const { protocols, ...rest } = options
  const socket = new WebSocket(url.replace(/^http/, 'ws'), protocols ?? [], rest)
  t.teardown(() => { socket.terminate() })
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  return socket
}

export function closeOf (socket: WebSocket): Promise<Closed> {
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
}

/** Collects every message a socket receives, as Buffers. */
export function collect (socket: WebSocket): Buffer[] {
  const messages: Buffer[] = []
  socket.on('message', (data) => { messages.push(data as Buffer) })
  return messages
}

export async function waitUntil (check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export interface Flood {
  /** Messages handed to send(). */
  sent (): number
  /** Messages whose send callback reported them written to the socket. */
  written (): number
  /** Resolves once `written()` has not moved for `quietMs`. */
  stalled (quietMs?: number): Promise<number>
  done: Promise<void>
}

/**
 * Sends `count` messages, message i being `message(i)`, keeping at most `windowBytes` buffered in
 * the sender: when the receiving side stops reading, the sender's buffer fills and the count of
 * written messages stops (Node calls back only once a batch of writes is in the kernel).
 */
export function flood (socket: WebSocket, count: number, message: (i: number) => Buffer, windowBytes = 8 * MiB): Flood {
  let sent = 0
  let written = 0
  let finish: () => void
  let fail: (err: Error) => void
  const done = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject })
  const pump = (): void => {
    while (sent < count && socket.bufferedAmount < windowBytes) {
      socket.send(message(sent++), { binary: true }, (err) => {
        if (err) {
          fail(err)
          return
        }
        written++
        if (written === count) finish()
        else pump()
      })
    }
  }
  pump()
  return {
    sent: () => sent,
    written: () => written,
    stalled: async (quietMs = 500) => {
      let last = -1
      while (written !== last) {
        last = written
        await new Promise((resolve) => setTimeout(resolve, quietMs))
      }
      return written
    },
    done
  }
}

/**
 * Distinct messages of `size` bytes without a copy each: windows into one random buffer, message i
 * starting at byte i. Clients pass `generateMask: zeroMask` so ws sends them without masking a copy.
 */
export function windows (size: number, count: number): { message: (i: number) => Buffer, check: (received: Buffer[]) => number } {
  const base = Buffer.alloc(size + count)
  for (let i = 0; i < base.length; i += 4) base.writeUInt32LE((Math.random() * 0x1_0000_0000) >>> 0, Math.min(i, base.length - 4))
  const message = (i: number): Buffer => base.subarray(i, i + size)
  // How many of the received messages, from the first, are whole and in order.
  const check = (received: Buffer[]): number => {
    let good = 0
    while (good < received.length && received[good].equals(message(good))) good++
    return good
  }
  return { message, check }
}

/** An all-zero mask leaves the payload as it is, so ws frames it without copying it. */
export function zeroMask (mask: Buffer): void {
  mask.fill(0)
}
