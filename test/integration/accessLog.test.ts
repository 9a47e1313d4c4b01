// Request logging: one access line per request, carrying what Fastify's two lines carried
// (method, url, status, response time, request id), and never a header.
import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

interface LogLine {
  msg: string
  reqId?: string
  req?: { method: string, url: string, headers?: unknown }
  res?: { statusCode: number }
  responseTime?: number
}

t.test('one "request completed" line per request, with method, url, status and time', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGateway(t, { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token })

  const proxied = await request(`${gw.url}/v1/things?limit=5`, { headers: { authorization: 'Bearer client-secret' } })
  await proxied.body.dump()
  const local = await request(`${gw.url}/health/live`)
  await local.body.dump()
  // pino writes synchronously, but the line follows the response's finish event.
  await new Promise((resolve) => setImmediate(resolve))

  const lines = gw.logs.map((line) => JSON.parse(line) as LogLine)
  t.same(lines.filter((line) => line.msg === 'incoming request'), [], 'no separate incoming-request line')
  const completed = lines.filter((line) => line.msg === 'request completed')
  t.equal(completed.length, 2, 'one line per request')
  const [first, second] = completed
  t.match(first, { req: { method: 'GET', url: '/v1/things?limit=5' }, res: { statusCode: 200 } })
  t.type(first.responseTime, 'number')
  t.ok(first.reqId, 'the request id ties the line to the request\'s other lines')
  t.match(second, { req: { method: 'GET', url: '/health/live' }, res: { statusCode: 200 } })
  t.notOk(first.req?.headers, 'request headers are never logged')
  t.notMatch(gw.logText(), token, 'the upstream token never reaches the log')
  t.notMatch(gw.logText(), 'client-secret', 'the client credential never reaches the log')
})
