// Upstream 401 recovery through the gateway's port: one forced refresh shared by concurrent 401s,
// each request replayed once with the same body when it had none or at most 1 MiB; larger bodies
// stream through and their 401 reaches the client as it came.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from '../helpers/app.js'
import { identityProvider, waitFor } from '../helpers/servers.js'
import type { IdentityProvider } from '../../src/demo/identityProvider.js'

interface Seen { method: string, url: string, authorization: string | undefined, headers: IncomingHttpHeaders, body: Buffer, status: number }

interface StrictUpstream {
  url: string
  received: Seen[]
  /** Tokens the upstream refuses with 401 (revoked before their expiry). */
  revoked: Set<string>
  /** Refuse every token. */
  refuseAll: boolean
  /** Bytes of request bodies received so far, counted as they arrive. */
  firstBytes: number
  /** Hold 401 answers until this many requests have been refused, then answer them all. */
  holdRefusals: number
}

// An API that refuses revoked tokens the way RFC 6750 §3 says, and echoes everything else.
async function strictUpstream (t: Test): Promise<StrictUpstream> {
  const state: StrictUpstream = { url: '', received: [], revoked: new Set(), refuseAll: false, firstBytes: 0, holdRefusals: 0 }
  const held: Array<() => void> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => { state.firstBytes += chunk.length; chunks.push(chunk) })
    req.on('end', () => {
      const authorization = req.headers.authorization
      const token = authorization?.replace(/^Bearer /, '') ?? ''
      const status = state.refuseAll || state.revoked.has(token) ? 401 : 200
      const body = Buffer.concat(chunks)
      state.received.push({ method: req.method ?? '', url: req.url ?? '', authorization, headers: req.headers, body, status })
      if (status === 401) {
        const attempt = state.received.length
        held.push(() => {
          const refusal = JSON.stringify({ error: 'invalid_token', attempt })
          res.writeHead(401, {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(refusal)),
            'www-authenticate': 'Bearer error="invalid_token"',
            'x-refused': 'yes'
          }).end(refusal)
        })
        if (held.length >= state.holdRefusals) for (const answer of held.splice(0)) answer()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ authorization, bodyLength: body.length, body: body.length <= 65_536 ? body.toString('utf8') : null }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return state
}

async function setup (t: Test, options: { refreshToken?: boolean } = {}): Promise<{ idp: IdentityProvider, upstream: StrictUpstream, gw: TestGateway, initial: string }> {
  const idp = await identityProvider(t)
  const upstream = await strictUpstream(t)
  const initial = idp.mint(3600)
  upstream.revoked.add(initial)
  const gw = await startGateway(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: initial,
    ...(options.refreshToken === false ? {} : { REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl })
  })
  return { idp, upstream, gw, initial }
}

t.test('GET: refreshed once and replayed; the client sees only the second answer', async (t) => {
  const { idp, upstream, gw, initial } = await setup(t)
  const res = await request(`${gw.url}/items?page=2`, { headers: { 'x-trace': 't-1' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined, 'no header of the 401 lingers')
  t.equal(res.headers['x-refused'], undefined)
  t.equal(res.headers['content-length'], undefined, 'nor the 401\'s Content-Length (the 200 is chunked)')
  const body = await res.body.json() as { authorization: string }
  t.equal(body.authorization, `Bearer ${idp.issued[0]}`)
  t.same(upstream.received.map((r) => [r.method, r.url, r.authorization, r.status, r.headers['x-trace']]), [
    ['GET', '/items?page=2', `Bearer ${initial}`, 401, 't-1'],
    ['GET', '/items?page=2', `Bearer ${idp.issued[0]}`, 200, 't-1']
  ])
  t.equal(idp.calls.length, 1)
  t.match(gw.logText(), /Upstream answered 401; sending the request once more with a new token/)
  t.match(gw.logText(), /"trigger":"upstream-401"/)
})

t.test('POST with JSON: replayed with the same body and headers', async (t) => {
  const { idp, upstream, gw } = await setup(t)
  const payload = JSON.stringify({ order: 17, items: ['a', 'b'], note: 'é ü ✓' })
  const res = await request(`${gw.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: payload })
  t.equal(res.statusCode, 200)
  t.equal((await res.body.json() as { body: string }).body, payload)
  t.equal(upstream.received.length, 2)
  const [first, second] = upstream.received
  t.equal(first.body.toString('utf8'), payload)
  t.same(second.body, first.body, 'byte for byte the same body')
  t.equal(second.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(second.headers['content-length'], String(Buffer.byteLength(payload)))
  t.equal(idp.calls.length, 1)
})

t.test('a chunked body under 1 MiB is replayed too', async (t) => {
  const { upstream, gw } = await setup(t)
  const parts = ['first part, ', 'second part, ', 'last part']
  const res = await request(`${gw.url}/upload`, { method: 'PUT', body: Readable.from(parts.map((p) => Buffer.from(p))) })
  t.equal(res.statusCode, 200)
  await res.body.dump()
  t.same(upstream.received.map((r) => [r.status, r.body.toString('utf8')]), [[401, parts.join('')], [200, parts.join('')]])
})

t.test('50 concurrent requests all hitting 401: one refresh, every one replayed and answered', async (t) => {
  const { idp, upstream, gw } = await setup(t)
  // All 50 go out with the revoked token: their 401s are answered together.
  upstream.holdRefusals = 50
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const res = await request(`${gw.url}/burst/${i}`, i % 2 === 0
      ? {}
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i }) })
    return { status: res.statusCode, body: await res.body.json() as { authorization: string, body: string } }
  }))
  t.equal(idp.calls.length, 1, 'exactly one call to the identity provider')
  t.ok(results.every((r) => r.status === 200), 'all 50 answered 200')
  t.ok(results.every((r) => r.body.authorization === `Bearer ${idp.issued[0]}`), 'all with the new token')
  t.ok(results.every((r, i) => i % 2 === 0 || r.body.body === JSON.stringify({ i })), 'each POST with its own body')
  t.equal(upstream.received.filter((r) => r.status === 401).length, 50)
  t.equal(upstream.received.filter((r) => r.status === 200).length, 50)
})

t.test('a second 401 goes to the client as it came', async (t) => {
  const { idp, upstream, gw } = await setup(t)
  upstream.refuseAll = true
  const res = await request(`${gw.url}/private`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  t.same(await res.body.json(), { error: 'invalid_token', attempt: 2 }, 'the body of the second 401')
  t.equal(upstream.received.length, 2, 'replayed once, not more')
  t.equal(idp.calls.length, 1)
  // The new token was refused at once too: the next 401 does not cost another refresh right away.
  const again = await request(`${gw.url}/private`)
  t.equal(again.statusCode, 401)
  await again.body.dump()
  t.equal(idp.calls.length, 1, 'forced refreshes are spaced')
  t.equal(upstream.received.length, 3)
})

t.test('no refresh token: the 401 passes through, nothing replayed', async (t) => {
  const { upstream, gw } = await setup(t, { refreshToken: false })
  const res = await request(`${gw.url}/x`)
  t.equal(res.statusCode, 401)
  t.same(await res.body.json(), { error: 'invalid_token', attempt: 1 })
  t.equal(upstream.received.length, 1)
  t.match(gw.logText(), /Upstream answered 401 and no new token could be obtained; passing the 401 on/)
})

t.test('other refusals (403) are not replayed', async (t) => {
  const idp = await identityProvider(t)
  const server = createServer((_req, res) => { res.writeHead(403).end('forbidden') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const gw = await startGateway(t, {
    UPSTREAM_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AUTH_TOKEN: idp.mint(3600),
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl
  })
  const res = await request(`${gw.url}/x`)
  t.equal(res.statusCode, 403)
  t.equal(await res.body.text(), 'forbidden')
  t.equal(idp.calls.length, 0)
})

t.test('a body over 1 MiB streams (not buffered) and its 401 passes through', async (t) => {
  await t.test('with Content-Length', async (t) => {
    const { idp, upstream, gw } = await setup(t)
    const size = 1024 * 1024 + 512 * 1024
    const half = Buffer.alloc(size / 2, 'a')
    // The second half is sent only once the upstream has received bytes: a gateway that
    // buffered the body would wait for all of it, and this test would time out.
    const body = Readable.from((async function * () {
      yield half
      await waitFor(() => upstream.firstBytes > 0, 5000, 'the upstream to receive the first bytes while the client still sends')
      yield Buffer.alloc(size / 2, 'b')
    })())
    const res = await request(`${gw.url}/big`, { method: 'POST', headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' }, body })
    t.equal(res.statusCode, 401, 'not replayed')
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
    t.same(await res.body.json(), { error: 'invalid_token', attempt: 1 })
    t.equal(upstream.received.length, 1)
    t.equal(upstream.received[0].body.length, size, 'the whole body reached the upstream')
    // The token was evidently refused: a refresh starts, so the client's own retry succeeds.
    await waitFor(() => idp.issued.length === 1, 5000, 'the background refresh')
    await waitFor(() => /New token expires at/.test(gw.logText()), 5000, 'the new token')
    const retry = await request(`${gw.url}/big`, { method: 'POST', body: Buffer.alloc(size, 'c') })
    t.equal(retry.statusCode, 200)
    t.equal((await retry.body.json() as { bodyLength: number }).bodyLength, size)
  })
  await t.test('chunked: read up to the limit, then streamed on with nothing lost', async (t) => {
    const { idp, upstream, gw } = await setup(t)
    const pieces = Array.from({ length: 24 }, (_, i) => Buffer.alloc(64 * 1024, 65 + i))
    const res = await request(`${gw.url}/big`, { method: 'PUT', body: Readable.from(pieces) })
    t.equal(res.statusCode, 401)
    await res.body.dump()
    t.equal(upstream.received.length, 1)
    t.ok(upstream.received[0].body.equals(Buffer.concat(pieces)), 'every byte, in order')
    await waitFor(() => idp.calls.length === 1, 5000, 'the background refresh')
  })
})

t.test('a client that disconnects mid-body: nothing reaches the upstream, the gateway carries on', async (t) => {
  const { upstream, gw, idp } = await setup(t)
  const { port } = new URL(gw.url)
  await new Promise<void>((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write('POST /partial HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"only":"a part')
      setTimeout(() => { socket.destroy(); resolve() }, 100)
    })
  })
  upstream.revoked.clear()
  const res = await request(`${gw.url}/after`)
  t.equal(res.statusCode, 200)
  await res.body.dump()
  t.same(upstream.received.map((r) => r.url), ['/after'], 'the cut request was never forwarded')
  t.equal(idp.calls.length, 0)
})
