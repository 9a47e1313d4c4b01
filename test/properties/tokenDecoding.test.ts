// Properties of token decoding: whatever the string, the helpers either answer or throw their
// own TokenDecodeError, and the engine built on them never throws at all nor shows the token.
import fc from 'fast-check'
import t from 'tap'
import { TokenDecodeError } from '../../src/errors.js'
import { TokenRefreshService } from '../../src/services/tokenRefreshService.js'
import {
  decodeJwt, describeToken, getTokenExpiryTime, getUserFromToken, isJwt, isTokenExpired
} from '../../src/utils/tokenUtils.js'

const NOW_MS = Date.parse('2026-03-01T12:00:00.000Z')
const now = (): number => NOW_MS
const NUM_RUNS = 400

const b64url = (text: string | Uint8Array): string => Buffer.from(text).toString('base64url')

// Segments as a JWT has them: base64url of arbitrary bytes, of any text, of any JSON, or of an
// object whose time claims are any JSON value at all.
const timeClaims = fc.record({
  exp: fc.oneof(fc.jsonValue(), fc.double(), fc.constantFrom(1e300, -1e300, 8.64e12, 8.64e12 + 1, 0, -0)),
  iat: fc.oneof(fc.jsonValue(), fc.integer()),
  nbf: fc.jsonValue(),
  sub: fc.jsonValue(),
  iss: fc.jsonValue(),
  email: fc.jsonValue()
}, { requiredKeys: [] })
const segment = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map(b64url),
  fc.string({ unit: 'binary', maxLength: 32 }).map(b64url),
  fc.json({ maxDepth: 2 }).map(b64url),
  timeClaims.map((claims) => b64url(JSON.stringify(claims))),
  // Text that JSON.parse reads as numbers beyond a double's range.
  fc.constantFrom('{"exp":1e400}', '{"exp":-1e400,"iat":1e400}', '{"iat":"1"}', '[]', 'null', '"text"').map(b64url),
  fc.stringMatching(/^[A-Za-z0-9_-]{0,24}$/)
)
const jwtShaped = fc.tuple(segment, segment, fc.oneof(segment, fc.constant(''))).map(([h, p, s]) => `${h}.${p}.${s}`)
// Well-formed JWTs whose claims are numbers of every size, so the success path is exercised too.
const wellFormedJwt = fc.tuple(
  fc.object({ maxDepth: 1 }),
  fc.record({
    exp: fc.oneof(fc.integer({ min: -2e12, max: 2e12 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
    iat: fc.integer({ min: -2e12, max: 2e12 }),
    sub: fc.string(),
    iss: fc.string()
  }, { requiredKeys: ['exp'] }),
  fc.stringMatching(/^[A-Za-z0-9_-]{0,43}$/)
).map(([header, claims, signature]) => `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${signature}`)
const anyToken = fc.oneof(
  wellFormedJwt,
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ maxLength: 200 }),
  jwtShaped,
  // Near misses: two or four segments, padding, base64 (not url) characters, whitespace.
  fc.tuple(jwtShaped, fc.constantFrom('.', '=', ' ', '\n', '+', '/', '.x')).map(([token, extra]) => token + extra),
  fc.tuple(segment, segment).map(([a, b]) => `${a}.${b}`)
)

/** Runs `fn`; anything thrown must be a TokenDecodeError. Returns whether it threw. */
function throwsOnlyDecodeError (fn: () => unknown): boolean {
  try {
    fn()
    return false
  } catch (err) {
    if (!(err instanceof TokenDecodeError) || (err as TokenDecodeError).code !== 'TOKENGATE_TOKEN_MALFORMED') {
      throw new Error(`threw something other than TokenDecodeError: ${String(err)}`)
    }
    return true
  }
}

t.test('every helper either answers or throws TokenDecodeError, whatever the string', async (t) => {
  fc.assert(fc.property(anyToken, (token) => {
    const jwt = isJwt(token)
    const threw = throwsOnlyDecodeError(() => decodeJwt(token))
    // Only something shaped like a JWT can be a malformed one; anything else is opaque.
    if (!jwt && threw) return false
    if (!jwt && decodeJwt(token) !== null) return false
    for (const fn of [
      () => describeToken(token),
      () => getUserFromToken(token),
      () => isTokenExpired(token, 5 * 60_000, now),
      () => getTokenExpiryTime(token, now)
    ]) {
      if (throwsOnlyDecodeError(fn) !== threw) return false
    }
    return true
  }), { numRuns: NUM_RUNS })
  t.pass(`${NUM_RUNS} strings, no other error`)
})

t.test('what decodes is usable: expiry a finite epoch within the range of Date, or null', async (t) => {
  let withExpiry = 0
  fc.assert(fc.property(anyToken, (token) => {
    let description
    try {
      description = describeToken(token)
    } catch {
      return true
    }
    const { expiresAtMs, issuedAtMs, tokenType } = description
    if (expiresAtMs !== null) withExpiry++
    const instant = (ms: number | null): boolean => ms === null || (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15)
    if (tokenType !== (isJwt(token) ? 'jwt' : 'opaque')) return false
    if (!instant(expiresAtMs) || !instant(issuedAtMs)) return false
    const remaining = getTokenExpiryTime(token, now)
    if (remaining !== (expiresAtMs === null ? null : expiresAtMs - NOW_MS)) return false
    if (typeof isTokenExpired(token, 0, now) !== 'boolean') return false
    const user = getUserFromToken(token)
    if (tokenType === 'opaque') return user === null
    return [user!.issuedAt, user!.expiresAt].every((date) => date === null || !Number.isNaN(date.getTime())) &&
      [user!.userId, user!.email, user!.issuer, user!.organization].every((v) => v === null || (typeof v === 'string' && v !== ''))
  }), { numRuns: NUM_RUNS })
  t.ok(withExpiry > 0, `${withExpiry} of the strings were JWTs with a usable expiry`)
})

t.test('the engine takes any string as its token without throwing, and its health never shows it', async (t) => {
  fc.assert(fc.property(anyToken.filter((token) => token.trim().length >= 8), (token) => {
    const service = new TokenRefreshService(token, 'rt_property', 'http://127.0.0.1:9/never', undefined, { now })
    const health = service.getHealth()
    if (!['ok', 'expiring', 'expired'].includes(health.status)) return false
    return !JSON.stringify(health).includes(JSON.stringify(token).slice(1, -1))
  }), { numRuns: NUM_RUNS })
  t.pass()
})
