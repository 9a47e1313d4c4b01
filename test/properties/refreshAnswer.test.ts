// Properties of the refresh-answer validators: whatever an identity provider answers, a token set
// comes back only with a non-empty access token that can travel in a header; anything else is a
// bad_response that never quotes the answer.
import fc from 'fast-check'
import t from 'tap'
import { RefreshError } from '../../src/errors.js'
import type { TokenSet } from '../../src/grants/refreshGrant.js'
import { createJsonRefreshGrant, parseJsonRefreshAnswer } from '../../src/grants/jsonRefreshGrant.js'
import { parseOAuthTokenAnswer } from '../../src/grants/oauth2RefreshGrant.js'
import { startLocalServer } from '../helpers/localServer.js'

const NOW_MS = Date.parse('2026-03-01T12:00:00.000Z')
const NUM_RUNS = 500

// Values a provider might put in a field: anything JSON, strings that are blank or carry
// characters a header cannot, numbers of every kind.
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\t', '\n', 'a b', 'tok\r\nX-Injected: 1', 'ok-token', 'eyJ.eyJ.sig', '\u00e9t\u00e9', '0', 'null'),
  fc.double(),
  fc.constantFrom(null, true, 0, -1, Number.POSITIVE_INFINITY)
)
// Tokens as providers issue them, so that acceptance is exercised as much as refusal.
const plausibleToken = fc.stringMatching(/^[\x21-\x7E]{1,60}$/)
const tokenValue = fc.oneof({ weight: 2, arbitrary: plausibleToken }, { weight: 1, arbitrary: fieldValue })
const answerObject = (names: { access: string, refresh: string, lifetime: string, instant: string }): fc.Arbitrary<Record<string, unknown>> =>
  fc.record({
    [names.access]: tokenValue,
    [names.refresh]: tokenValue,
    [names.lifetime]: fieldValue,
    [names.instant]: fieldValue,
    token_type: fc.oneof(fc.constantFrom('Bearer', 'bearer', 'DPoP', 'mac', ''), fieldValue)
  }, { requiredKeys: [] })
const anyAnswer = (names: { access: string, refresh: string, lifetime: string, instant: string }): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary: answerObject(names) }, fc.jsonValue({ maxDepth: 3 }), fc.anything({ maxDepth: 2 }))

const HEADER_SAFE = /^[\x21-\x7E]+$/

function usable (set: TokenSet): boolean {
  return typeof set.accessToken === 'string' && set.accessToken.trim() !== '' && HEADER_SAFE.test(set.accessToken) &&
    (set.refreshToken === null || (typeof set.refreshToken === 'string' && set.refreshToken.trim() !== '')) &&
    (set.expiresAtMs === null || (Number.isFinite(set.expiresAtMs) && Math.abs(set.expiresAtMs) <= 8.64e15))
}

// Every detail a refusal may carry: fixed words, so nothing of the answer can be quoted.
const REFUSALS = new Set([
  'answer is not a JSON object',
  'answer has no accessToken string',
  'answer has no access_token string',
  'accessToken has characters that cannot travel in a header',
  'access_token has characters that cannot travel in a header',
  'answer has a refreshToken that is not a string',
  'answer has a refresh_token that is not a string',
  'token_type is not Bearer'
])

/** A bad_response, not retried, with one of the fixed details. */
function refusedCleanly (err: unknown): boolean {
  if (!(err instanceof RefreshError)) throw new Error(`threw something other than a RefreshError: ${String(err)}`)
  return err.reason === 'bad_response' && !err.retryable && !err.rejected && REFUSALS.has(err.detail) &&
    err.message === `bad_response: ${err.detail}`
}

for (const style of [
  { name: 'json', parse: parseJsonRefreshAnswer, names: { access: 'accessToken', refresh: 'refreshToken', lifetime: 'expiresIn', instant: 'expiresAt' } },
  { name: 'oauth2', parse: parseOAuthTokenAnswer, names: { access: 'access_token', refresh: 'refresh_token', lifetime: 'expires_in', instant: 'expires_at' } }
]) {
  t.test(`${style.name}: a token set only with a usable access token; anything else a clean bad_response`, async (t) => {
    let accepted = 0
    fc.assert(fc.property(anyAnswer(style.names), (answer) => {
      let set: TokenSet
      try {
        set = style.parse(answer, NOW_MS)
      } catch (err) {
        return refusedCleanly(err)
      }
      accepted++
      return usable(set) && set.accessToken === (answer as Record<string, unknown>)[style.names.access]
    }), { numRuns: NUM_RUNS })
    t.ok(accepted > 0, `${accepted} of ${NUM_RUNS} answers were accepted, all of them usable`)
  })
}

t.test('over HTTP: whatever body a 200 carries, the grant resolves only with a usable access token', async (t) => {
  const bodies: Buffer[] = []
  const server = await startLocalServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(bodies.shift())
  })
  t.teardown(server.close)
  const grant = createJsonRefreshGrant({ url: server.url, now: () => NOW_MS, timeoutMs: 2000 })
  const body = fc.oneof(
    anyAnswer({ access: 'accessToken', refresh: 'refreshToken', lifetime: 'expiresIn', instant: 'expiresAt' })
      .map((answer) => Buffer.from(JSON.stringify(answer) ?? '')),
    fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
    fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(text))
  )
  let accepted = 0
  await fc.assert(fc.asyncProperty(body, async (bytes) => {
    bodies.push(bytes)
    let set: TokenSet
    try {
      set = await grant.exchange('rt_property')
    } catch (err) {
      return refusedCleanly(err)
    }
    accepted++
    return usable(set)
  }), { numRuns: 150 })
  t.ok(accepted > 0, `${accepted} of 150 bodies were accepted, all of them usable`)
})
