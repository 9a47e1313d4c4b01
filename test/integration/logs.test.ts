// The production log as an operator's collector reads it: one JSON object per line, access
// lines with the request id and the upstream's status and latency, and no credential anywhere,
// neither in the log nor in /metrics, over a full refresh-and-proxy cycle.
import { connect } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'

interface LogLine {
  level: number
  time: number
  msg: string
  reqId?: string
  req?: { method: string, url: string }
  res?: { statusCode: number, upstreamStatusCode?: number, upstreamLatencyMs?: number }
  responseTime?: number
}

t.test('a full cycle logs JSON lines with upstream status and latency, and no secret', async (t) => {
  const idp = await identityProvider(t, { tokenTtlSeconds: 4 })
  const upstream = await echoUpstream(t)
  const initial = idp.mint(-30)
  const initialRefresh = idp.validRefreshToken
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: initial,
    REFRESH_TOKEN: initialRefresh,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_REFRESH_INTERVAL: '0.02',
    TOKEN_EXPIRY_BUFFER: '0.05',
    // Variables other branches read; whatever reads them must not log them.
    OAUTH_CLIENT_SECRET: 'client-secret-from-env',
    GATEWAY_ADMIN_KEY: 'admin-key-from-env'
  })
  const credentials = { authorization: 'Bearer client-bearer', 'x-api-key': 'client-api-key', 'x-admin-key': 'client-admin-key' }
  // The start-up refresh, then periodic ones on 4-second tokens, with traffic in between.
  await waitFor(() => idp.issued.length >= 2, 10_000, 'two refreshes')
  for (const path of ['/orders?page=2', '/status/404']) {
    await (await request(`${gw.url}${path}`, { headers: credentials })).body.dump()
  }
  await (await request(`${gw.url}/health/live`)).body.dump()
  const metrics = await (await request(`${gw.url}/metrics`)).body.text()
  gw.child.kill('SIGTERM')
  t.equal((await gw.exited).code, 0)

  const text = gw.output()
  const lines = text.trimEnd().split('\n')
  const parsed: LogLine[] = []
  for (const line of lines) {
    try {
      parsed.push(JSON.parse(line) as LogLine)
    } catch {
      t.fail(`not a JSON line: ${line}`)
    }
  }
  t.ok(parsed.every((l) => typeof l.level === 'number' && typeof l.time === 'number' && typeof l.msg === 'string'),
    'every line carries level, time and msg')

  const incoming = parsed.find((l) => l.msg === 'incoming request' && l.req?.url === '/status/404')
  t.ok(incoming, 'the request is logged on arrival')
  const completed = parsed.find((l) => l.msg === 'request completed' && l.reqId === incoming?.reqId)
  t.match(completed, { reqId: String, res: { statusCode: 404, upstreamStatusCode: 404, upstreamLatencyMs: Number }, responseTime: Number },
    'the access line has the request id, the upstream status and its latency')
  t.ok(completed!.res!.upstreamLatencyMs! <= completed!.responseTime!, 'the upstream latency is part of the response time')
  const live = parsed.find((l) => l.msg === 'request completed' && l.res?.statusCode === 200 && l.res.upstreamStatusCode === undefined)
  t.ok(live, 'a local route has no upstream fields')
  t.notOk(parsed.some((l) => l.req?.url === '/metrics'), 'scrapes are not logged at info')

  t.match(metrics, /^tokengate_token_refreshes_total\{credential="default",trigger="startup",outcome="success"\} 1$/m)
  // Background refreshes of the 4-second tokens: the periodic job's or the refresh-ahead timer's, whichever came first.
  const background = ['periodic', 'refresh-ahead'].map((trigger) =>
    Number(new RegExp(`^tokengate_token_refreshes_total\\{credential="default",trigger="${trigger}",outcome="success"\\} (\\d+)$`, 'm').exec(metrics)?.[1]))
  t.ok(background[0] + background[1] >= 1, `the background refreshes are counted (periodic ${background[0]}, refresh-ahead ${background[1]})`)

  const secrets = [initial, initialRefresh, ...idp.issued, idp.validRefreshToken, ...idp.calls.map((c) => String(c.refreshToken)),
    'client-bearer', 'client-api-key', 'client-admin-key', 'client-secret-from-env', 'admin-key-from-env']
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `the log does not contain ${secret.slice(0, 8)}…`)
    t.notOk(metrics.includes(secret), `/metrics does not contain ${secret.slice(0, 8)}…`)
    // A JWT's payload or signature alone would leak it too.
    for (const part of secret.split('.').filter((p) => p.length > 12)) {
      t.notOk(text.includes(part) || metrics.includes(part), 'nor a part of it')
    }
  }
  t.notOk(text.includes(idp.email) || metrics.includes(idp.email), 'nor the email from the token')
})

t.test('at LOG_LEVEL=trace, malformed, oversized and pipelined requests leave no credential in any line', async (t) => {
  const upstream = await echoUpstream(t)
  const secrets = {
    authorization: 'client-bearer-trace-secret',
    apiKey: 'gateway-api-key-trace',
    adminKey: 'admin-key-trace-secret',
    cookie: 'session-cookie-trace-secret'
  }
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: 'opaque-gateway-token-trace',
    LOG_LEVEL: 'trace',
    GATEWAY_API_KEYS: secrets.apiKey,
    GATEWAY_ADMIN_KEY: secrets.adminKey
  })
  const credentials = `Authorization: Bearer ${secrets.authorization}\r\nx-api-key: ${secrets.apiKey}\r\nx-admin-key: ${secrets.adminKey}\r\nCookie: sid=${secrets.cookie}\r\n`
  const raw = [
    // A header byte no parser accepts: Node's client error carries the raw packet.
    `GET /malformed HTTP/1.1\r\nHost: gw\r\n${credentials}X-Bad: a\u0001b\r\n\r\n`,
    // Headers beyond 16 KiB: 431, with the raw packet.
    `GET /oversized HTTP/1.1\r\nHost: gw\r\n${credentials}X-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
    // Two requests in one packet, the second one broken.
    `GET /first HTTP/1.1\r\nHost: gw\r\n${credentials}\r\nGET /second HTTP/1.1\r\nHost: gw\r\n${credentials}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`,
    // Two well-formed requests in one packet.
    `GET /a HTTP/1.1\r\nHost: gw\r\n${credentials}\r\nGET /b HTTP/1.1\r\nHost: gw\r\n${credentials}Connection: close\r\n\r\n`
  ]
  const { port } = new URL(gw.url)
  for (const bytes of raw) {
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(bytes, 'latin1'))
      socket.on('data', () => {})
      socket.on('close', () => resolve())
      socket.on('error', () => resolve())
    })
  }
  await waitFor(() => /"url":"\/b"/.test(gw.output()), 5000, 'the pipelined requests logged')
  gw.child.kill('SIGTERM')
  await gw.exited
  const text = gw.output()
  t.match(text, /client error/, 'the client errors were logged at trace')
  t.match(text, /"rawPacket":"\[redacted\]"/, 'with their raw packet censored')
  t.notMatch(text, /"type":"Buffer"/, 'no byte array in any line')
  for (const [name, secret] of Object.entries(secrets)) t.notOk(text.includes(secret), `no ${name} in the log`)
})
