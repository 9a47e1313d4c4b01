// What tests need to speak to a gateway below the HTTP client: a raw TCP connection that collects
// what comes back (several requests can share it, a test sees exactly what was written), the
// resident memory of a gateway child, and one value of /metrics.
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { request } from 'undici'

interface Teardown { teardown (fn: () => unknown): void }

export interface RawConnection {
  socket: Socket
  /** Everything received so far, as latin1 text. */
  received: () => string
  closed: () => boolean
}

/** Connects to the gateway at `url`; the socket is destroyed when the test ends. */
export async function rawConnection (t: Teardown, url: string): Promise<RawConnection> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let text = ''
  let closed = false
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1') })
  socket.on('close', () => { closed = true })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  return { socket, received: () => text, closed: () => closed }
}

/** The resident memory of a process, in MB (Linux). */
export function rssMb (pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
}

/** The value of one unlabelled series of the gateway's /metrics. */
export async function metricValue (url: string, name: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text()
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1])
}
