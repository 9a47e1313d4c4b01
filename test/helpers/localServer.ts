// A plain node:http server on port 0 for tests that need one exact answer (a header, a size, a stall).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ReceivedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface LocalServer {
  url: string
  received: ReceivedRequest[]
  close: () => Promise<void>
}

export type Handler = (req: ReceivedRequest, res: ServerResponse) => void

export async function startLocalServer (handler: Handler): Promise<LocalServer> {
  const received: ReceivedRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(request)
      handler(request, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/token`,
    received,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** A URL on which nothing listens (a port that was just freed). */
export async function unusedUrl (): Promise<string> {
  const server = await startLocalServer(() => {})
  await server.close()
  return server.url
}
