// An identity provider that answers 10 MB, or trickles bytes and never finishes, against the
// gateway as a child process: the answer is refused at the size limit with the child's memory
// flat, the trickle is cut off by TOKEN_REFRESH_TIMEOUT, and requests are served meanwhile.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { startGatewayProcess } from '../helpers/process.js'
import { echoUpstream, identityProvider } from '../helpers/servers.js'

const ADMIN_KEY = 'admin-key-for-idp-faults'
const REFRESH_TIMEOUT_MS = 600
const HUGE_ANSWERS = 8
// Eight 10 MB answers read whole would add 80 MB or more; a reader that stops at 64 KiB adds noise.
const RSS_BOUND_MB = 30

function rssMb (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!
  return Number(/(\d+)/.exec(line)![1]) / 1024
}

t.test('10 MB answers and a trickling provider', {
  skip: process.platform === 'linux' ? false : 'reads the child\'s memory from /proc'
}, async (t) => {
  const idp = await identityProvider(t, { tokenTtlSeconds: 3600 })
  const upstream = await echoUpstream(t)
  const token = idp.mint(3600)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: upstream.url,
    AUTH_TOKEN: token,
    REFRESH_TOKEN: idp.validRefreshToken,
    TOKEN_REFRESH_URL: idp.refreshUrl,
    TOKEN_REFRESH_TIMEOUT: String(REFRESH_TIMEOUT_MS),
    GATEWAY_ADMIN_KEY: ADMIN_KEY
  })
  const pid = gw.child.pid!
  const forceRefresh = async (): Promise<{ statusCode: number, body: { lastRefreshError: string | null } }> => {
    const res = await request(`${gw.url}/admin/token/refresh`, { method: 'POST', headers: { 'x-admin-key': ADMIN_KEY } })
    return { statusCode: res.statusCode, body: await res.body.json() as { lastRefreshError: string | null } }
  }
  const seen = async (): Promise<string> => {
    const res = await request(`${gw.url}/x`)
    return (await res.body.json() as { authorization: string }).authorization
  }

  // Warm up every path the faults take, so the baseline holds the code and buffers they need.
  for (let i = 0; i < 20; i++) await seen()
  idp.failNext('garbage')
  t.equal((await forceRefresh()).statusCode, 502)
  const current = idp.issued.at(-1) ?? token

  await t.test('10 MB answers: refused at the size limit, not retried, memory flat', async (t) => {
    const before = rssMb(pid)
    const calls = idp.calls.length
    for (let i = 0; i < HUGE_ANSWERS; i++) {
      idp.failNext('huge')
      const { statusCode, body } = await forceRefresh()
      t.equal(statusCode, 502)
      t.equal(body.lastRefreshError, 'bad_response: answer larger than 65536 bytes')
    }
    t.equal(idp.calls.length, calls + HUGE_ANSWERS, 'one call per refresh: a bad answer is not retried')
    t.equal(await seen(), `Bearer ${current}`, 'requests still carry the token from before')
    const after = rssMb(pid)
    t.comment(`RSS of the gateway: ${before.toFixed(1)} MB before, ${after.toFixed(1)} MB after ${HUGE_ANSWERS} answers of 10 MB`)
    t.ok(after - before < RSS_BOUND_MB, `RSS grew by ${(after - before).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`)
    t.notMatch(gw.output(), /xxxxxxxxxxxxxxxx/, 'nothing of the answer reached the log')
  })

  await t.test('a provider that trickles bytes: each attempt cut off at the timeout, requests served meanwhile', async (t) => {
    const calls = idp.calls.length
    idp.failNext('trickle', 3)
    const started = performance.now()
    const refresh = forceRefresh()
    // While the provider trickles, a request is answered at once with the current token.
    const requestStarted = performance.now()
    t.equal(await seen(), `Bearer ${current}`)
    const requestMs = performance.now() - requestStarted
    t.ok(requestMs < REFRESH_TIMEOUT_MS, `a request during the trickle took ${Math.round(requestMs)} ms`)
    const { statusCode, body } = await refresh
    const elapsedMs = performance.now() - started
    t.equal(statusCode, 502)
    t.equal(body.lastRefreshError, `timeout: no complete answer within ${REFRESH_TIMEOUT_MS} ms`)
    t.equal(idp.calls.length, calls + 3, 'three attempts, each cut off')
    // Three timeouts plus two backoffs of at most 0.5 s and 1 s.
    t.ok(elapsedMs >= 3 * REFRESH_TIMEOUT_MS && elapsedMs < 3 * REFRESH_TIMEOUT_MS + 1500 + 2000,
      `the whole refresh took ${Math.round(elapsedMs)} ms`)
  })

  await t.test('the provider recovers: the next refresh works', async (t) => {
    const { statusCode, body } = await forceRefresh()
    t.equal(statusCode, 200)
    t.equal(body.lastRefreshError, null)
    t.equal(await seen(), `Bearer ${idp.issued.at(-1)}`)
    const live = await request(`${gw.url}/health/live`)
    t.equal(live.statusCode, 200)
    await live.body.dump()
  })
})
