// The seed's JWT helpers: claims are read, never verified; expiry decides "expired" with a buffer.
import t from 'tap'
import { signJwt } from '../../src/demo/jwt.js'
import { TokenDecodeError } from '../../src/errors.js'
import {
  DEFAULT_EXPIRY_BUFFER_MS, decodeJwt, describeToken, getTokenExpiryTime, getUserFromToken, isJwt, isTokenExpired
} from '../../src/utils/tokenUtils.js'

const NOW_MS = 1_700_000_000_000
const now = (): number => NOW_MS
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const rawJwt = (header: unknown, payload: unknown, signature = 'sig'): string => `${b64(header)}.${b64(payload)}.${signature}`
const jwt = (claims: Record<string, unknown>): string => signJwt(claims, 'test-secret')

t.test('isJwt tells three base64url segments from anything else', async (t) => {
  t.equal(isJwt(jwt({ sub: 'u' })), true)
  t.equal(isJwt(rawJwt({ alg: 'none' }, { sub: 'u' }, '')), true, 'an empty signature (alg none) is still a JWT')
  t.equal(isJwt('opaque-token-123'), false)
  t.equal(isJwt('a.b'), false)
  t.equal(isJwt('a.b.c.d'), false)
  t.equal(isJwt('a+b.c.d'), false, 'base64 (not url) characters are not a JWT')
  t.equal(isJwt(''), false)
})

t.test('decodeJwt', async (t) => {
  t.test('returns the claims of a JWT', async (t) => {
    t.same(decodeJwt(jwt({ sub: 'u1', exp: 2_000_000_000, iat: 1, nbf: 1, custom: 'x' })),
      { sub: 'u1', exp: 2_000_000_000, iat: 1, nbf: 1, custom: 'x' })
  })
  t.test('returns null for an opaque token', async (t) => {
    t.equal(decodeJwt('sk_live_opaque'), null)
  })
  t.test('throws TokenDecodeError when a segment is not JSON', async (t) => {
    const badHeader = `${b64('not json')}.${b64({ sub: 'u' })}.s`
    t.throws(() => decodeJwt(badHeader), { code: 'TOKENGATE_TOKEN_MALFORMED', message: 'Malformed JWT: header is not base64url-encoded JSON' })
    const badPayload = `${b64({ alg: 'none' })}.${b64('{oops')}.s`
    t.throws(() => decodeJwt(badPayload), { message: 'Malformed JWT: payload is not base64url-encoded JSON' })
  })
  t.test('throws when a segment is JSON but not an object', async (t) => {
    for (const value of [null, [1, 2], 42, 'text']) {
      const token = `${b64({ alg: 'none' })}.${b64(JSON.stringify(value))}.s`
      const err = t.throws(() => decodeJwt(token), { message: 'Malformed JWT: payload is not a JSON object' })
      t.ok(err instanceof TokenDecodeError, `payload ${JSON.stringify(value)}`)
      t.equal((err as TokenDecodeError).statusCode, 400)
    }
    t.throws(() => decodeJwt(rawJwt([1], { sub: 'u' })), { message: 'Malformed JWT: header is not a JSON object' })
  })
  t.test('throws when a time claim is not a finite number', async (t) => {
    for (const claim of ['exp', 'iat', 'nbf']) {
      t.throws(() => decodeJwt(jwt({ [claim]: '1700000000' })), { message: `Malformed JWT: claim "${claim}" is not a number` })
      t.throws(() => decodeJwt(jwt({ [claim]: null })), { message: `Malformed JWT: claim "${claim}" is not a number` })
    }
    // JSON cannot carry Infinity, but 1e400 parses to it.
    const infinite = `${b64({ alg: 'none' })}.${b64('{"exp":1e400}')}.s`
    t.throws(() => decodeJwt(infinite), { message: 'Malformed JWT: claim "exp" is not a number' })
  })
})

t.test('getTokenExpiryTime', async (t) => {
  t.equal(getTokenExpiryTime(jwt({ exp: NOW_MS / 1000 + 90 }), now), 90_000)
  t.equal(getTokenExpiryTime(jwt({ exp: NOW_MS / 1000 - 5 }), now), -5_000, 'negative once past')
  t.equal(getTokenExpiryTime(jwt({ sub: 'no exp' }), now), null, 'a JWT without exp has unknown expiry')
  t.equal(getTokenExpiryTime('opaque', now), null)
  const realRemaining = getTokenExpiryTime(jwt({ exp: Math.floor(Date.now() / 1000) + 3600 }))
  t.ok(realRemaining !== null && realRemaining > 3_590_000 && realRemaining <= 3_600_000, 'defaults to the system clock')
})

t.test('isTokenExpired', async (t) => {
  const exp = NOW_MS / 1000 + 10 * 60
  const token = jwt({ exp })
  t.equal(DEFAULT_EXPIRY_BUFFER_MS, 5 * 60_000)
  t.equal(isTokenExpired(token, DEFAULT_EXPIRY_BUFFER_MS, now), false, '10 minutes left, 5 minute buffer')
  t.equal(isTokenExpired(token, 10 * 60_000, now), true, 'exactly at the buffer counts as expired')
  t.equal(isTokenExpired(token, 10 * 60_000 - 1, now), false, 'one ms outside the buffer is valid')
  t.equal(isTokenExpired(token, 0, () => exp * 1000), true, 'at exp with no buffer')
  t.equal(isTokenExpired(jwt({ exp: NOW_MS / 1000 - 1 }), 0, now), true, 'past exp')
  t.equal(isTokenExpired('opaque', DEFAULT_EXPIRY_BUFFER_MS, now), false, 'unknown expiry counts as valid')
  t.equal(isTokenExpired(jwt({ exp: Math.floor(Date.now() / 1000) + 3600 })), false, 'defaults: 5 min buffer, system clock')
  t.equal(isTokenExpired(jwt({ exp: Math.floor(Date.now() / 1000) + 240 })), true, '4 minutes left is inside the default buffer')
  t.throws(() => isTokenExpired(jwt({ exp: 'soon' })), { code: 'TOKENGATE_TOKEN_MALFORMED' }, 'a malformed JWT is not silently valid')
})

t.test('getUserFromToken', async (t) => {
  t.test('reads the seed claims', async (t) => {
    const user = getUserFromToken(jwt({
      sub: 'user_1', email: 'a@example.com', iss: 'https://idp', org_id: 'org_1', iat: 1_700_000_000, exp: 1_700_003_600
    }))
    t.same(user, {
      userId: 'user_1',
      email: 'a@example.com',
      issuer: 'https://idp',
      organization: 'org_1',
      issuedAt: new Date(1_700_000_000_000),
      expiresAt: new Date(1_700_003_600_000)
    })
  })
  t.test('falls back through alternative claim names and skips empty or non-string values', async (t) => {
    const user = getUserFromToken(jwt({ sub: '', user_id: 42, uid: 'uid_1', organization_id: 'o2', org_id: '' }))
    t.equal(user?.userId, 'uid_1')
    t.equal(user?.organization, 'o2')
    t.equal(getUserFromToken(jwt({ user_id: 'u2' }))?.userId, 'u2')
    t.equal(getUserFromToken(jwt({ organization: 'o3' }))?.organization, 'o3')
    t.equal(getUserFromToken(jwt({ org: 'o4' }))?.organization, 'o4')
  })
  t.test('absent claims are null', async (t) => {
    t.same(getUserFromToken(jwt({})), {
      userId: null, email: null, issuer: null, organization: null, issuedAt: null, expiresAt: null
    })
  })
  t.test('a time claim beyond the range of Date is null, not an Invalid Date', async (t) => {
    const user = getUserFromToken(jwt({ exp: 1e13, iat: -1e13 }))
    t.equal(user?.expiresAt, null)
    t.equal(user?.issuedAt, null)
  })
  t.test('null for an opaque token', async (t) => {
    t.equal(getUserFromToken('opaque'), null)
  })
  t.test('throws for a malformed JWT', async (t) => {
    t.throws(() => getUserFromToken(rawJwt({ alg: 'none' }, [])), { code: 'TOKENGATE_TOKEN_MALFORMED' })
  })
})

t.test('describeToken', async (t) => {
  t.same(describeToken('opaque'), { tokenType: 'opaque', expiresAtMs: null, issuedAtMs: null, subject: null, issuer: null })
  t.same(describeToken(jwt({ sub: 's', iss: 'i', iat: 100, exp: 200 })),
    { tokenType: 'jwt', expiresAtMs: 200_000, issuedAtMs: 100_000, subject: 's', issuer: 'i' })
  t.same(describeToken(jwt({ user_id: 'not the subject' })),
    { tokenType: 'jwt', expiresAtMs: null, issuedAtMs: null, subject: null, issuer: null })
  t.test('an exp beyond the range of Date is not a usable expiry', async (t) => {
    // getUserFromToken treats such a claim as absent; describeToken hands back a number that
    // new Date(...).toISOString() cannot format, which later breaks getHealth() and refresh logging.
    const described = describeToken(jwt({ exp: 1e13 }))
    t.ok(described.expiresAtMs === null || described.expiresAtMs <= 8.64e15, 'expiresAtMs within the range of Date')
  })
})
