// One bounded POST to the identity provider, against real local servers: time limit, size limit,
// Retry-After, and failures that never quote the answer.
import t from 'tap'
import { Agent } from 'undici'
import type { RefreshError } from '../../src/errors.js'
import {
  DEFAULT_MAX_ANSWER_BYTES, DEFAULT_REFRESH_TIMEOUT_MS, badResponse, expiryFromInstant, expiryFromLifetime,
  failureFromStatus, parseRetryAfter, postForJson
} from '../../src/grants/httpExchange.js'
import { startLocalServer, unusedUrl } from '../helpers/localServer.js'

t.test('defaults', async (t) => {
  t.equal(DEFAULT_REFRESH_TIMEOUT_MS, 10_000)
  t.equal(DEFAULT_MAX_ANSWER_BYTES, 64 * 1024)
})

t.test('postForJson', async (t) => {
  t.test('POSTs the body with the given headers and parses a JSON answer', async (t) => {
    const server = await startLocalServer((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', date: 'Sun, 06 Nov 1994 08:49:37 GMT' }).end('{"accessToken":"a","n":1}')
    })
    t.teardown(server.close)
    const answer = await postForJson(server.url, { 'content-type': 'application/json', 'x-extra': 'yes' }, '{"refreshToken":"r"}')
    t.same(answer, { status: 201, json: { accessToken: 'a', n: 1 }, retryAfterMs: undefined, dateMs: Date.parse('1994-11-06T08:49:37Z') },
      'the provider\'s clock from its Date header')
    t.equal(server.received.length, 1)
    const [req] = server.received
    t.equal(req.method, 'POST')
    t.equal(req.url, '/token')
    t.equal(req.body, '{"refreshToken":"r"}')
    t.equal(req.headers.accept, 'application/json', 'asks for JSON')
    t.equal(req.headers['content-type'], 'application/json')
    t.equal(req.headers['x-extra'], 'yes')
  })

  t.test('an answer without a Date header has no provider clock', async (t) => {
    const server = await startLocalServer((_req, res) => {
      res.sendDate = false
      res.end('{}')
    })
    t.teardown(server.close)
    const answer = await postForJson(server.url, {}, '')
    t.equal(answer.dateMs, undefined)
  })

  t.test('a caller may override accept', async (t) => {
    const server = await startLocalServer((_req, res) => { res.end('{}') })
    t.teardown(server.close)
    await postForJson(server.url, { accept: 'application/vnd.idp+json' }, '')
    t.equal(server.received[0].headers.accept, 'application/vnd.idp+json')
  })

  t.test('a body that is not JSON, or empty, gives json undefined with the status', async (t) => {
    const server = await startLocalServer((req, res) => {
      if (req.body === 'empty') res.writeHead(204).end()
      else res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>')
    })
    t.teardown(server.close)
    for (const [body, status] of [['html', 502], ['empty', 204]] as const) {
      const { dateMs, ...answer } = await postForJson(server.url, {}, body)
      t.same(answer, { status, json: undefined, retryAfterMs: undefined })
      t.ok(Math.abs(dateMs! - Date.now()) < 5000, 'Node\'s own Date header is read')
    }
  })

  t.test('reads Retry-After in seconds and as an HTTP date', async (t) => {
    const server = await startLocalServer((req, res) => {
      const retryAfter = req.body === 'date' ? new Date(Date.now() + 30_000).toUTCString() : '7'
      res.writeHead(429, { 'retry-after': retryAfter }).end('{"error":"slow_down"}')
    })
    t.teardown(server.close)
    const seconds = await postForJson(server.url, {}, 'seconds')
    t.equal(seconds.status, 429)
    t.equal(seconds.retryAfterMs, 7000)
    t.same(seconds.json, { error: 'slow_down' })
    const date = await postForJson(server.url, {}, 'date')
    // toUTCString drops the milliseconds, so the delay is between 29 and 30 s.
    t.ok(date.retryAfterMs !== undefined && date.retryAfterMs > 28_000 && date.retryAfterMs <= 30_000,
      `HTTP date becomes a delay (${date.retryAfterMs} ms)`)
  })

  t.test('an answer larger than the limit is a bad_response, not retried', async (t) => {
    const big = `{"accessToken":"${'x'.repeat(2000)}"}`
    const server = await startLocalServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) }).end(big)
    })
    t.teardown(server.close)
    const err = await postForJson(server.url, {}, '', { maxAnswerBytes: 1000 }).then(
      () => t.fail('should reject'), (e: RefreshError) => e)
    t.match(err, {
      code: 'TOKENGATE_REFRESH_FAILED',
      reason: 'bad_response',
      retryable: false,
      rejected: false,
      detail: 'answer larger than 1000 bytes'
    })
    t.notMatch(String((err as RefreshError).message), /xxxx/, 'the answer is not quoted')
    const exact = await postForJson(server.url, {}, '', { maxAnswerBytes: big.length })
    t.equal(exact.status, 200, 'an answer of exactly the limit is accepted')
  })

  t.test('a chunked answer growing past the limit is cut off', async (t) => {
    const server = await startLocalServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = 'y'.repeat(16 * 1024)
      // Far more than the default 64 KiB, without a content-length.
      for (let i = 0; i < 64; i++) res.write(chunk)
      res.end()
    })
    t.teardown(server.close)
    await t.rejects(postForJson(server.url, {}, ''), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: `answer larger than ${64 * 1024} bytes` })
  })

  t.test('a server that never answers is bounded by timeoutMs', async (t) => {
    const server = await startLocalServer(() => {})
    t.teardown(server.close)
    const started = performance.now()
    await t.rejects(postForJson(server.url, {}, '', { timeoutMs: 150 }), {
      code: 'TOKENGATE_REFRESH_FAILED', reason: 'timeout', retryable: true, rejected: false, detail: 'no complete answer within 150 ms'
    })
    const elapsed = performance.now() - started
    t.ok(elapsed >= 140 && elapsed < 2000, `gave up after ${Math.round(elapsed)} ms`)
  })

  t.test('a server that sends headers and then trickles the body is bounded too', async (t) => {
    const server = await startLocalServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{')
      const timer = setInterval(() => res.write(' '), 20)
      res.on('close', () => clearInterval(timer))
    })
    t.teardown(server.close)
    const started = performance.now()
    await t.rejects(postForJson(server.url, {}, '', { timeoutMs: 200 }), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'timeout', retryable: true })
    t.ok(performance.now() - started < 2000, 'the total time is limited, not the gap between bytes')
  })

  t.test('an unreachable server is a retryable network failure naming the code', async (t) => {
    const url = await unusedUrl()
    const err = await postForJson(url, {}, '').then(() => t.fail('should reject'), (e: RefreshError) => e)
    t.match(err, { reason: 'network', retryable: true, rejected: false, detail: 'identity provider unreachable (ECONNREFUSED)' })
    t.ok((err as RefreshError).cause, 'keeps the cause')
  })

  t.test('a failure without a code names none', async (t) => {
    // A real undici Agent whose connector fails with a plain Error (no code).
    const dispatcher = new Agent({ connect: (_options, callback) => { callback(new Error('no route'), null) } })
    t.teardown(() => dispatcher.close())
    await t.rejects(postForJson('http://127.0.0.1:9/token', {}, '', { dispatcher }), {
      code: 'TOKENGATE_REFRESH_FAILED', reason: 'network', detail: 'identity provider unreachable'
    })
  })

  t.test('a connection dropped mid-answer is a network failure', async (t) => {
    const server = await startLocalServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"acc')
      setTimeout(() => res.destroy(), 20)
    })
    t.teardown(server.close)
    await t.rejects(postForJson(server.url, {}, '', { timeoutMs: 2000 }), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'network', retryable: true })
  })
})

t.test('parseRetryAfter', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter(undefined, now), undefined)
  t.equal(parseRetryAfter('', now), undefined)
  t.equal(parseRetryAfter('   ', now), undefined)
  t.equal(parseRetryAfter('120', now), 120_000)
  t.equal(parseRetryAfter(' 5 ', now), 5000, 'surrounding spaces are tolerated')
  t.equal(parseRetryAfter('0', now), 0)
  t.equal(parseRetryAfter(['3', '9'], now), 3000, 'the first of repeated headers')
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60_000)
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0, 'a date in the past means now')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter('30.5', now), undefined, 'fractional seconds are not delta-seconds')
  const viaDefault = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())
  t.ok(viaDefault !== undefined && viaDefault > 58_000 && viaDefault <= 60_000, 'defaults to the current time')
})

t.test('failureFromStatus', async (t) => {
  t.test('400/401 refuse the grant: not retried, marked rejected, OAuth code as reason', async (t) => {
    t.match(failureFromStatus({ status: 400, json: { error: 'invalid_grant', error_description: 'revoked rt_secret' }, retryAfterMs: undefined }), {
      reason: 'invalid_grant', retryable: false, rejected: true, detail: 'identity provider refused the grant (HTTP 400)'
    })
    t.match(failureFromStatus({ status: 401, json: undefined, retryAfterMs: undefined }), {
      reason: 'http_401', retryable: false, rejected: true, detail: 'identity provider refused the grant (HTTP 401)'
    })
    const refused = failureFromStatus({ status: 400, json: { error: 'token rt_abc is invalid' }, retryAfterMs: undefined })
    t.equal(refused.reason, 'http_400', 'an error field that is not an OAuth code is not echoed')
    t.notMatch(refused.message, /rt_abc/)
    t.equal(failureFromStatus({ status: 400, json: { error: 'x'.repeat(65) }, retryAfterMs: undefined }).reason, 'http_400', 'too long for a code')
    t.equal(failureFromStatus({ status: 400, json: { error: 42 }, retryAfterMs: undefined }).reason, 'http_400')
    t.equal(failureFromStatus({ status: 400, json: null, retryAfterMs: undefined }).reason, 'http_400', 'a JSON null body')
  })
  t.test('5xx and 429 are retried, with the server-requested delay', async (t) => {
    t.match(failureFromStatus({ status: 503, json: { error: 'temporarily_unavailable' }, retryAfterMs: 2000 }), {
      reason: 'http_503',
      retryable: true,
      rejected: false,
      retryAfterMs: 2000,
      detail: 'identity provider answered HTTP 503 (temporarily_unavailable)'
    })
    t.match(failureFromStatus({ status: 429, json: undefined, retryAfterMs: undefined }), {
      reason: 'http_429', retryable: true, rejected: false, detail: 'identity provider answered HTTP 429'
    })
    t.match(failureFromStatus({ status: 500, json: '<html>', retryAfterMs: undefined }), { reason: 'http_500', retryable: true })
  })
  t.test('other statuses are neither retried nor a rejection', async (t) => {
    t.match(failureFromStatus({ status: 404, json: { error: 'not_found' }, retryAfterMs: undefined }), {
      reason: 'http_404', retryable: false, rejected: false, detail: 'identity provider answered HTTP 404 (not_found)'
    })
    t.match(failureFromStatus({ status: 302, json: undefined, retryAfterMs: undefined }), { reason: 'http_302', retryable: false, rejected: false })
  })
})

t.test('badResponse', async (t) => {
  t.match(badResponse('answer is not a JSON object'), {
    code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', retryable: false, rejected: false, detail: 'answer is not a JSON object'
  })
})

t.test('expiryFromLifetime', async (t) => {
  const now = 1_700_000_000_000
  t.equal(expiryFromLifetime(3600, now), now + 3_600_000)
  t.equal(expiryFromLifetime('3600', now), now + 3_600_000, 'a numeric string')
  t.equal(expiryFromLifetime(' 60 ', now), now + 60_000)
  t.equal(expiryFromLifetime(1.5, now), now + 1500)
  for (const nonsense of [undefined, null, 0, -60, 'soon', '', '   ', Number.NaN, Infinity, true, {}, [60]]) {
    t.equal(expiryFromLifetime(nonsense, now), null, `${JSON.stringify(nonsense) ?? String(nonsense)} is no lifetime`)
  }
  t.equal(expiryFromLifetime(1e300, now), null, 'beyond the range of Date')
})

t.test('expiryFromInstant', async (t) => {
  t.equal(expiryFromInstant(1_700_000_000), 1_700_000_000_000, 'epoch seconds')
  t.equal(expiryFromInstant('1700000000'), 1_700_000_000_000, 'epoch seconds as text')
  t.equal(expiryFromInstant('1700000000.5'), 1_700_000_000_500)
  t.equal(expiryFromInstant('2026-11-05T01:57:06.000Z'), Date.parse('2026-11-05T01:57:06.000Z'), 'ISO 8601')
  for (const nonsense of [undefined, null, '', '  ', 'tomorrow', 0, -1, Number.NaN, 1e300, true, {}]) {
    t.equal(expiryFromInstant(nonsense), null, `${JSON.stringify(nonsense) ?? String(nonsense)} is no instant`)
  }
})
