// The seed's refresh style against the local identity provider over HTTP, and the validation of its answers.
import t from 'tap'
import type { RefreshError } from '../../src/errors.js'
import { startIdentityProvider } from '../../src/demo/identityProvider.js'
import { createJsonRefreshGrant, parseJsonRefreshAnswer } from '../../src/grants/jsonRefreshGrant.js'
import { HEADER_SAFE_TOKEN, optionalToken } from '../../src/grants/tokenAnswer.js'
import { decodeJwt } from '../../src/utils/tokenUtils.js'
import { startLocalServer } from '../helpers/localServer.js'

const NOW_MS = 1_700_000_000_000

t.test('exchange against the identity provider', async (t) => {
  const idp = await startIdentityProvider({ tokenTtlSeconds: 120 })
  t.teardown(() => idp.close())
  const grant = createJsonRefreshGrant({ url: idp.refreshUrl, now: () => NOW_MS, timeoutMs: 300 })

  t.test('describes itself', async (t) => {
    t.equal(grant.style, 'json')
    t.equal(grant.needsRefreshToken, true)
  })

  t.test('POSTs {"refreshToken"} and returns the rotated pair', async (t) => {
    const presented = idp.validRefreshToken
    const tokens = await grant.exchange(presented)
    t.same(idp.calls.at(-1), { refreshToken: presented, status: 200, at: idp.calls.at(-1)?.at, traceparent: undefined }, 'no trace context: tracing is off')
    t.equal(tokens.accessToken, idp.issued.at(-1))
    t.equal(tokens.refreshToken, idp.validRefreshToken, 'the new refresh token')
    t.not(tokens.refreshToken, presented, 'rotated')
    t.equal(tokens.expiresAtMs, null, 'no expiresIn in the answer: the JWT exp decides later')
    t.equal(decodeJwt(tokens.accessToken)?.sub, idp.subject)
  })

  t.test('the old refresh token is refused once rotated: invalid_grant, not retryable, rejected', async (t) => {
    const spent = idp.validRefreshToken
    await grant.exchange(spent)
    await t.rejects(grant.exchange(spent), {
      code: 'TOKENGATE_REFRESH_FAILED', reason: 'invalid_grant', retryable: false, rejected: true
    })
    await t.rejects(grant.exchange(null), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'invalid_grant' }, 'no refresh token at all')
    t.equal(idp.calls.at(-1)?.refreshToken, null, 'sent as JSON null')
  })

  const faults = [
    ['garbage', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', retryable: false, detail: 'answer is not a JSON object' }],
    ['no_access_token', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', retryable: false, detail: 'answer has no accessToken string' }],
    ['huge', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', retryable: false, detail: `answer larger than ${64 * 1024} bytes` }],
    ['http_500', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'http_500', retryable: true, rejected: false }],
    ['http_503', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'http_503', retryable: true, rejected: false }],
    ['http_429', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'http_429', retryable: true, rejected: false, retryAfterMs: 1000 }],
    ['invalid_grant', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'invalid_grant', retryable: false, rejected: true }],
    ['hang', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'timeout', retryable: true, detail: 'no complete answer within 300 ms' }],
    ['trickle', { code: 'TOKENGATE_REFRESH_FAILED', reason: 'timeout', retryable: true }]
  ] as const
  for (const [fault, expected] of faults) {
    t.test(`fault ${fault}`, async (t) => {
      const presented = idp.validRefreshToken
      idp.failNext(fault)
      const started = performance.now()
      const err = await grant.exchange(presented).then(() => null, (e: RefreshError) => e)
      t.match(err, expected)
      t.ok(performance.now() - started < 3000, 'bounded in time')
      // A provider that rotated the refresh token in a refused answer: the error hands it over.
      const next = fault === 'no_access_token' ? idp.validRefreshToken : presented
      t.equal(err?.rotatedRefreshToken ?? presented, next, fault === 'no_access_token' ? 'the rotated refresh token is carried' : 'the provider did not rotate')
      t.notMatch(JSON.stringify(err), next, 'never enumerable: no serializer sees it')
      const tokens = await grant.exchange(next)
      t.equal(tokens.accessToken, idp.issued.at(-1), 'the next exchange works again')
    })
  }
})

t.test('expiresIn in the answer sets expiresAtMs from the injected clock', async (t) => {
  const idp = await startIdentityProvider({ tokenTtlSeconds: 90, sendExpiresIn: true })
  t.teardown(() => idp.close())
  const grant = createJsonRefreshGrant({ url: idp.refreshUrl, now: () => NOW_MS })
  const tokens = await grant.exchange(idp.validRefreshToken)
  t.equal(tokens.expiresAtMs, NOW_MS + 90_000)
})

t.test('a provider that does not rotate answers without a refresh token', async (t) => {
  const idp = await startIdentityProvider({ rotate: false })
  t.teardown(() => idp.close())
  const grant = createJsonRefreshGrant({ url: idp.refreshUrl })
  const presented = idp.validRefreshToken
  const first = await grant.exchange(presented)
  t.equal(first.refreshToken, null)
  const second = await grant.exchange(presented)
  t.equal(second.refreshToken, null)
  t.not(second.accessToken, first.accessToken, 'the same refresh token keeps working')
})

t.test('the answer size limit is configurable', async (t) => {
  const server = await startLocalServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accessToken: 'a'.repeat(500) }))
  })
  t.teardown(server.close)
  await t.rejects(createJsonRefreshGrant({ url: server.url, maxAnswerBytes: 100 }).exchange('rt'), {
    code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'answer larger than 100 bytes'
  })
  const tokens = await createJsonRefreshGrant({ url: server.url }).exchange('rt')
  t.equal(tokens.accessToken, 'a'.repeat(500))
  t.same(JSON.parse(server.received[0].body), { refreshToken: 'rt' })
  t.equal(server.received[0].headers['content-type'], 'application/json')
})

t.test('a 2xx other than 200 is accepted; 3xx is not', async (t) => {
  const server = await startLocalServer((req, res) => {
    const status = JSON.parse(req.body).refreshToken === 'redirect' ? 302 : 201
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"accessToken":"at_201"}')
  })
  t.teardown(server.close)
  const grant = createJsonRefreshGrant({ url: server.url })
  t.equal((await grant.exchange('created')).accessToken, 'at_201')
  await t.rejects(grant.exchange('redirect'), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'http_302', retryable: false, rejected: false })
})

t.test('parseJsonRefreshAnswer', async (t) => {
  t.test('not an object', async (t) => {
    for (const json of [undefined, null, 'text', 42, [{ accessToken: 'a' }]]) {
      t.throws(() => parseJsonRefreshAnswer(json, NOW_MS), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'answer is not a JSON object' },
        JSON.stringify(json) ?? 'undefined')
    }
  })
  t.test('no usable access token', async (t) => {
    for (const accessToken of [undefined, null, '', '   ', 42, { jwt: 'x' }]) {
      t.throws(() => parseJsonRefreshAnswer({ accessToken }, NOW_MS), { code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'answer has no accessToken string' },
        JSON.stringify(accessToken) ?? 'undefined')
    }
    t.throws(() => parseJsonRefreshAnswer({ access_token: 'oauth-name' }, NOW_MS), { code: 'TOKENGATE_REFRESH_FAILED', detail: 'answer has no accessToken string' },
      'the OAuth field name is not the json style')
  })
  t.test('an access token that cannot travel in a header', async (t) => {
    for (const accessToken of ['two words', 'line\nbreak', ' padded', 'tab\there', 'caf\u00e9']) {
      const err = t.throws(() => parseJsonRefreshAnswer({ accessToken }, NOW_MS), {
        code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'accessToken has characters that cannot travel in a header'
      })
      t.notMatch(String((err as Error).message), accessToken, 'the token is not quoted')
    }
    t.ok(HEADER_SAFE_TOKEN.test('eyJhbGciOi.J9-_~+/=.sig'), 'visible ASCII is fine')
  })
  t.test('a minimal answer', async (t) => {
    t.same(parseJsonRefreshAnswer({ accessToken: 'at' }, NOW_MS), { accessToken: 'at', refreshToken: null, expiresAtMs: null })
  })
  t.test('refresh token: absent, null or empty means not rotated; non-strings are bad', async (t) => {
    t.equal(parseJsonRefreshAnswer({ accessToken: 'at', refreshToken: 'rt2' }, NOW_MS).refreshToken, 'rt2')
    t.equal(parseJsonRefreshAnswer({ accessToken: 'at', refreshToken: null }, NOW_MS).refreshToken, null)
    t.equal(parseJsonRefreshAnswer({ accessToken: 'at', refreshToken: '' }, NOW_MS).refreshToken, null)
    for (const refreshToken of [42, '   ', true, ['rt']]) {
      t.throws(() => parseJsonRefreshAnswer({ accessToken: 'at', refreshToken }, NOW_MS), {
        code: 'TOKENGATE_REFRESH_FAILED', reason: 'bad_response', detail: 'answer has a refreshToken that is not a string'
      }, JSON.stringify(refreshToken))
    }
  })
  t.test('expiry: expiresIn first, then expiresAt, nonsense ignored', async (t) => {
    const parse = (extra: Record<string, unknown>): number | null => parseJsonRefreshAnswer({ accessToken: 'at', ...extra }, NOW_MS).expiresAtMs
    t.equal(parse({ expiresIn: 3600 }), NOW_MS + 3_600_000)
    t.equal(parse({ expiresIn: '600' }), NOW_MS + 600_000, 'a string lifetime')
    t.equal(parse({ expiresAt: '2026-11-05T01:57:06.000Z' }), Date.parse('2026-11-05T01:57:06.000Z'))
    t.equal(parse({ expiresAt: 1_800_000_000 }), 1_800_000_000_000, 'epoch seconds')
    t.equal(parse({ expiresIn: 60, expiresAt: 1_800_000_000 }), NOW_MS + 60_000, 'expiresIn wins')
    t.equal(parse({ expiresIn: 'soon', expiresAt: 1_800_000_000 }), 1_800_000_000_000, 'nonsense expiresIn falls back to expiresAt')
    t.equal(parse({ expiresIn: -1, expiresAt: 'never' }), null, 'nonsense in both: unknown')
  })
})

t.test('optionalToken names the field', async (t) => {
  t.equal(optionalToken(undefined, 'refresh_token'), null)
  t.equal(optionalToken('rt', 'refresh_token'), 'rt')
  t.throws(() => optionalToken(7, 'refresh_token'), { code: 'TOKENGATE_REFRESH_FAILED', detail: 'answer has a refresh_token that is not a string' })
})
