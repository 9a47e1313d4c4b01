// What the proxy carries and what it keeps for the gateway, against the built gateway: every
// spelling of /admin/ stays the gateway's (404, never proxied), while every method Node's parser
// knows reaches the upstream with its body, but TRACE and CONNECT.
import { connect } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess, type GatewayProcess } from '../helpers/process.js'
import { echoUpstream } from '../helpers/servers.js'

/** One request over raw TCP, so the target reaches the gateway exactly as written. */
function raw (gw: GatewayProcess, head: string): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1', () => socket.write(head))
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      // One complete answer is enough: the headers and a body of the length they give.
      const [headers, body] = text.split('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(headers)?.[1]
      if (body !== undefined && length !== undefined && Buffer.byteLength(body) >= Number(length)) socket.destroy()
    })
    socket.on('close', () => resolve(text))
    socket.on('error', () => resolve(text))
  })
}

t.test('every spelling of /admin/ is the gateway\'s: 404, never proxied', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-namespace-token', GATEWAY_ADMIN_KEY: 'admin-key-namespace' })
  const spellings = ['/ADMIN/token', '/Admin/Token/Refresh', '//admin/token', '///admin//token/refresh', '/admin%2ftoken', '/admin%2Ftoken%2Frefresh',
    '/%61dmin/token', '/x/%2e%2e/admin/token', '/admin', '/ADMIN', '/admin/', '/admin;/token', '/\\admin\\token', '/admin%5ctoken']
  for (const path of spellings) {
    const answer = await raw(gw, `POST ${path} HTTP/1.1\r\nHost: gw\r\nx-admin-key: admin-key-namespace\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
    t.match(answer, /^HTTP\/1\.1 (404|400) /, `${path}: answered by the gateway`)
  }
  t.same(upstream.received.map((r) => r.url), [], 'none reached the upstream')

  for (const path of ['/administrator', '/admins/token', '/v1/admin/token', '/admin-panel']) {
    const res = await request(`${gw.url}${path}`)
    t.equal(res.statusCode, 200, `${path} is an upstream path`)
    await res.body.dump()
  }
  t.same(upstream.received.map((r) => r.url), ['/administrator', '/admins/token', '/v1/admin/token', '/admin-panel'])
})

t.test('every method Node knows is proxied with its body; TRACE and CONNECT are refused', async (t) => {
  const upstream = await echoUpstream(t)
  const gw = await startGatewayProcess(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'opaque-namespace-token' })
  const methods = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT', 'PURGE', 'QUERY', 'LINK', 'UNLINK',
    'MERGE', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'CHECKOUT', 'MKACTIVITY', 'MKCALENDAR', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'SOURCE', 'M-SEARCH']
  for (const method of methods) {
    const body = `<body of ${method}/>`
    const answer = await raw(gw, `${method} /dav/item HTTP/1.1\r\nHost: gw\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    t.match(answer, /^HTTP\/1\.1 200 /, `${method} is proxied`)
    const received = upstream.received.at(-1)!
    t.same({ method: received.method, url: received.url, body: received.body, authorization: received.headers.authorization },
      { method, url: '/dav/item', body, authorization: 'Bearer opaque-namespace-token' })
  }
  const proxied = upstream.received.length
  const trace = await raw(gw, 'TRACE /dav/item HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer client-secret\r\nConnection: close\r\n\r\n')
  t.match(trace, /^HTTP\/1\.1 40[45] /, 'TRACE is refused')
  t.notMatch(trace, /client-secret/, 'and nothing of the request is echoed')
  const tunnel = await raw(gw, `CONNECT 127.0.0.1:${new URL(upstream.url).port} HTTP/1.1\r\nHost: gw\r\n\r\n`)
  t.notMatch(tunnel, /^HTTP\/1\.1 200 /, 'CONNECT opens no tunnel')
  t.equal(upstream.received.length, proxied, 'neither reached the upstream')
})
