// The production log as an operator's collector reads it: one JSON object per line, access
// lines with the request id and the upstream's status and latency, and no credential anywhere,
// neither in the log nor in /metrics, over a full refresh-and-proxy cycle.
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

  t.match(metrics, /^tokengate_token_refreshes_total\{trigger="startup",outcome="success"\} 1$/m)
  t.ok(Number(/^tokengate_token_refreshes_total\{trigger="periodic",outcome="success"\} (\d+)$/m.exec(metrics)?.[1]) >= 1,
    'the periodic refreshes are counted')

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
