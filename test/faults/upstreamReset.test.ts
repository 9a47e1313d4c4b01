// An upstream that resets its connections, before its headers and in the middle of a body, and
// clients that go away mid-stream, against the gateway as a child process: the client sees an
// error or a cut body, never a complete-looking answer, and the gateway stays up and serving.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/servers.js'

const DECLARED_BYTES = 100_000

/** An upstream whose paths misbehave on purpose. */
async function resettingUpstream (t: Test): Promise<{ url: string, served: () => number }> {
  let served = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    served++
    const path = (req.url ?? '').split('?')[0]
    const cut = (): void => { req.socket.destroy() }
    if (path.endsWith('/before-headers')) return cut()
    if (path.endsWith('/mid-body')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(DECLARED_BYTES) })
      res.write(Buffer.alloc(4096, 'a'))
      setTimeout(cut, 10)
      return
    }
    if (path.endsWith('/mid-chunked')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"items":[1,2,3')
      setTimeout(cut, 10)
      return
    }
    if (path.endsWith('/mid-events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"n":1}\n\n')
      setTimeout(cut, 10)
      return
    }
    if (path.endsWith('/endless')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const timer = setInterval(() => res.write('data: tick\n\n'), 5)
      res.on('close', () => clearInterval(timer))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ authorization: req.headers.authorization ?? null }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served: () => served }
}

/** What the client got: the status and the body length, or the error that ended it. */
async function fetchOutcome (url: string): Promise<{ status: number | null, bytes: number, error: string | null }> {
  let status: number | null = null
  let bytes = 0
  try {
    const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 })
    status = res.statusCode
    for await (const chunk of res.body) bytes += (chunk as Buffer).length
    return { status, bytes, error: null }
  } catch (err) {
    return { status, bytes, error: (err as { code?: string }).code ?? (err as Error).message }
  }
}

t.test('an upstream that resets: the client gets an error, the gateway stays up', async (t) => {
  const upstream = await resettingUpstream(t)
  const token = 'opaque-token-for-reset-tests'
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })
  const healthy = async (): Promise<void> => {
    const live = await request(`${gw.url}/health/live`)
    t.equal(live.statusCode, 200, 'live')
    await live.body.dump()
    const ok = await request(`${gw.url}/ok`)
    t.same(await ok.body.json(), { authorization: `Bearer ${token}` }, 'and proxying')
  }

  await t.test('reset before the headers: 502 upstream_unreachable', async (t) => {
    const res = await request(`${gw.url}/before-headers`)
    t.equal(res.statusCode, 502)
    t.same(await res.body.json(), { error: 'upstream_unreachable', message: 'the upstream could not be reached' })
  })

  for (const path of ['/mid-body', '/mid-chunked', '/mid-events']) {
    await t.test(`reset in the middle of the body (${path}): the client's body ends in an error`, async (t) => {
      const outcome = await fetchOutcome(`${gw.url}${path}`)
      t.equal(outcome.status, 200, 'the headers had been sent')
      t.ok(outcome.error !== null, `the body ended in an error (${outcome.error}) after ${outcome.bytes} bytes`)
      t.ok(outcome.bytes < DECLARED_BYTES)
    })
  }

  await t.test('a client that goes away mid-stream', async (t) => {
    const res = await request(`${gw.url}/endless`)
    const first = await new Promise<Buffer>((resolve) => res.body.once('data', resolve))
    t.ok(first.length > 0, 'the stream had started')
    res.body.destroy()
  })

  await t.test('two hundred of all of these at once, then the gateway still answers', async (t) => {
    const paths = ['/before-headers', '/mid-body', '/mid-chunked', '/mid-events', '/ok']
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => fetchOutcome(`${gw.url}${paths[i % paths.length]}?i=${i}`)))
    const complete = outcomes.filter((o, i) => paths[i % paths.length] === '/ok' && o.status === 200 && o.error === null)
    t.equal(complete.length, 40, 'every request to a well-behaved path was answered in full')
    const cut = outcomes.filter((_o, i) => ['/mid-body', '/mid-chunked', '/mid-events'].includes(paths[i % paths.length]))
    t.ok(cut.every((o) => o.error !== null), 'every cut answer reached its client as an error')
    await healthy()
  })

  await waitFor(() => upstream.served() > 200, 5000, 'the upstream to have seen the requests')
  t.equal(gw.child.exitCode, null, 'the gateway is still running')
  t.notMatch(gw.output(), /"level":60|uncaught|unhandled/i, 'no fatal or uncaught error in its log')
})
