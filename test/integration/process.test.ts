// The gateway as an operator runs it: a child process configured by its environment.
import { spawn } from 'node:child_process'
import t from 'tap'
import { request } from 'undici'
import { CHILD_ENV, ROOT, emptyWorkdir, spawnGateway, startGatewayProcess } from '../helpers/process.js'
import { signJwt } from '../../src/demo/jwt.js'
import { echoUpstream, identityProvider, waitFor } from '../helpers/servers.js'

t.test('a bad environment exits non-zero with one line per problem naming the variable', async (t) => {
  const cases: Array<{ env: Record<string, string>, lines: RegExp[] }> = [
    { env: {}, lines: [/^tokengate: configuration error: UPSTREAM_URL is required/m, /^tokengate: configuration error: AUTH_TOKEN is required/m] },
    {
      env: { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', PORT: 'eighty', TOKEN_REFRESH_INTERVAL: '-1', TOKEN_STORE: 'floppy' },
      lines: [/^tokengate: configuration error: PORT must be integer$/m, /^tokengate: configuration error: TOKEN_REFRESH_INTERVAL must be > 0$/m, /^tokengate: configuration error: TOKEN_STORE must be one of: /m]
    },
    { env: { UPSTREAM_URL: 'ftp://example.com', AUTH_TOKEN: 'a' }, lines: [/^tokengate: configuration error: UPSTREAM_URL must be an absolute http:\/\/ or https:\/\/ URL$/m] },
    { env: { UPSTREAM_URL: 'http://127.0.0.1:9', REFRESH_TOKEN: 'rt_secret_value' }, lines: [/^tokengate: configuration error: AUTH_TOKEN is required/m] },
    {
      env: { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', TOKEN_REFRESH_URL: 'not a url', TOKEN_EXPIRY_BUFFER: 'soon' },
      lines: [/^tokengate: configuration error: TOKEN_EXPIRY_BUFFER must be number$/m, /^tokengate: configuration error: TOKEN_REFRESH_URL must be an absolute/m]
    },
    { env: { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', TOKEN_REFRESH_URL: 'not a url' }, lines: [/^tokengate: configuration error: TOKEN_REFRESH_URL must be an absolute/m] },
    { env: { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', LOG_LEVEL: 'loud' }, lines: [/^tokengate: configuration error: LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent$/m] },
    // Every problem in one run: the schema's, the checks beyond it, and the missing AUTH_TOKEN.
    {
      env: { UPSTREAM_URL: 'ftp://example.com', PORT: 'eighty', TOKEN_STORE: 'memory', OAUTH_SCOPE: 'a"b', TOKEN_REFRESH_STYLE: 'oauth2', REFRESH_TOKEN: 'rt_secret_value' },
      lines: [/^tokengate: configuration error: PORT must be integer$/m, /^tokengate: configuration error: UPSTREAM_URL must be an absolute/m,
        /^tokengate: configuration error: OAUTH_CLIENT_ID is required when TOKEN_REFRESH_STYLE=oauth2/m, /^tokengate: configuration error: OAUTH_SCOPE must be scope tokens/m,
        /^tokengate: configuration error: AUTH_TOKEN is required/m]
    },
    {
      env: { UPSTREAM_URL: 'http://127.0.0.1:9', TOKEN_STORE: 'floppy', TOKEN_REFRESH_URL: 'not a url' },
      lines: [/^tokengate: configuration error: TOKEN_STORE must be one of: /m, /^tokengate: configuration error: TOKEN_REFRESH_URL must be an absolute/m,
        /^tokengate: configuration error: AUTH_TOKEN is required/m]
    },
    { env: { TOKEN_STORE: 'memory' }, lines: [/^tokengate: configuration error: UPSTREAM_URL is required/m, /^tokengate: configuration error: AUTH_TOKEN is required/m] }
  ]
  for (const c of cases) {
    const gateway = spawnGateway(c.env)
    const { code } = await gateway.exited
    t.equal(code, 1, `exit 1 for ${JSON.stringify(c.env)}`)
    for (const line of c.lines) t.match(gateway.output(), line)
    t.equal(gateway.output().match(/^tokengate: configuration error: /gm)?.length, c.lines.length, 'one line per problem, each once')
    t.notMatch(gateway.output(), /rt_secret_value/, 'no secret is echoed')
    t.notMatch(gateway.output(), /at .*\.js:\d+/, 'no stack trace')
  }
})

t.test('npm start with UPSTREAM_URL, AUTH_TOKEN, REFRESH_TOKEN, TOKEN_REFRESH_URL proxies with a fresh token', async (t) => {
  const idp = await identityProvider(t)
  const upstream = await echoUpstream(t)
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      ...CHILD_ENV,
      HOME: process.env.HOME ?? emptyWorkdir(),
      UPSTREAM_URL: upstream.url,
      AUTH_TOKEN: idp.mint(-30),
      REFRESH_TOKEN: idp.validRefreshToken,
      TOKEN_REFRESH_URL: idp.refreshUrl,
      TOKEN_STORE: 'memory',
      PORT: '0'
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  t.teardown(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} })
  await waitFor(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(output), 60_000, 'npm start to listen')
  const port = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1]
  const res = await request(`http://127.0.0.1:${port}/hello`)
  t.equal(res.statusCode, 200)
  const echoed = await res.body.json() as { authorization: string }
  t.equal(idp.issued.length, 1, 'the expired token was refreshed once')
  t.equal(echoed.authorization, `Bearer ${idp.issued[0]}`, 'the upstream got the fresh token')
  t.match(output, /Starting automatic token refresh every 30 minutes/)

  // SIGTERM to npm itself (what a process manager sends), not to the gateway: it stops too.
  const gatewayPid = Number(/"pid":(\d+)/.exec(output)![1])
  t.not(gatewayPid, child.pid, 'the gateway is npm\'s child')
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const signalledAt = performance.now()
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'npm start exits 0')
  t.ok(performance.now() - signalledAt < 10_000, 'within the 10 s drain')
  t.match(output, /tokengate stopped/, 'the gateway shut down cleanly')
  t.throws(() => process.kill(gatewayPid, 0), { code: 'ESRCH' }, 'and is gone: no orphan')
})

t.test('the logs of a full run hold no token, refresh token or client credential', async (t) => {
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
    LOG_LEVEL: 'trace'
  })
  // Requests with client credentials, a refresh at start, periodic checks, then a refused refresh.
  for (let i = 0; i < 5; i++) {
    const res = await request(`${gw.url}/call/${i}?q=1`, { headers: { authorization: 'Bearer client-secret-token', 'x-api-key': 'client-api-key' } })
    await res.body.dump()
  }
  idp.failNext('invalid_grant')
  await waitFor(() => idp.calls.length >= 2, 10_000, 'a refreshed token and a refused one')
  await gw.waitForOutput(/refused the refresh token/)
  const text = gw.output()
  const secrets = [initial, initialRefresh, ...idp.issued, idp.validRefreshToken, ...idp.calls.map((c) => String(c.refreshToken)),
    'client-secret-token', 'client-api-key']
  t.ok(idp.issued.length >= 1)
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `the log does not contain ${secret.slice(0, 6)}…`)
    // The signature or payload alone would leak the token too.
    for (const part of secret.split('.').filter((p) => p.length > 12)) t.notOk(text.includes(part))
  }
  t.notOk(text.includes(idp.email), 'nor the email from the token')
  t.match(text, /Token refreshed successfully/)
  t.match(text, /New token expires at: \d{4}-\d{2}-\d{2}T/)
})

t.test('a port in use or an address the machine does not have: exit 1 with a line naming HOST / PORT', async (t) => {
  const { createServer } = await import('node:net')
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const port = String((taken.address() as { port: number }).port)
  for (const [env, code] of [[{ HOST: '127.0.0.1', PORT: port }, 'EADDRINUSE'], [{ HOST: '192.0.2.1', PORT: '0' }, 'EADDRNOTAVAIL']] as const) {
    const gateway = spawnGateway({ UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'a', TOKEN_STORE: 'memory', ...env })
    const { code: exitCode } = await gateway.exited
    t.equal(exitCode, 1)
    t.match(gateway.output(), new RegExp(`^tokengate: configuration error: HOST / PORT: cannot listen on ${env.HOST}:${env.PORT} \\(${code}\\)$`, 'm'))
  }
})

t.test('the start-up says where tokens go, and warns when the refresh URL is the default', async (t) => {
  const upstream = await echoUpstream(t)
  const now = Math.floor(Date.now() / 1000)
  const gw = await startGatewayProcess(t, {
    UPSTREAM_URL: `${upstream.url}/v2`,
    AUTH_TOKEN: signJwt({ sub: 'u', iat: now, exp: now + 3600 }, 'k'),
    REFRESH_TOKEN: 'rt_secret_value'
  })
  await gw.waitForOutput(/tokengate forwarding to/)
  const line = gw.output().split('\n').map((l) => { try { return JSON.parse(l) as { msg: string, level: number } } catch { return null } })
  const summary = line.find((l) => l?.msg.startsWith('tokengate forwarding to'))
  t.equal(summary?.msg, `tokengate forwarding to ${upstream.url}/v2 with tokens from https://api.genies.com (grant refresh_token, json style), kept in memory (lost on restart)`)
  t.match(summary, { upstream: `${upstream.url}/v2`, identityProvider: 'https://api.genies.com', store: 'memory' })
  t.ok(line.some((l) => l?.level === 40 && l.msg.startsWith('TOKEN_REFRESH_URL is the default, https://api.genies.com/auth/v2/refresh-session')))
  t.notMatch(gw.output(), /rt_secret_value/)
})
