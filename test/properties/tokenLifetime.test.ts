// Properties of the lifetime arithmetic every part of the gateway asks (the engine, health,
// token:inspect): expiry from what the token and the answer say, the buffer capped at half the
// token's life, and a fresh token never due on arrival because of a clock that runs ahead.
import fc from 'fast-check'
import t from 'tap'
import { CLOCK_AGREEMENT_MS, effectiveBufferMs, lifetimeStatus, tokenLifetime } from '../../src/utils/tokenLifetime.js'

const NOW_MS = Date.parse('2026-03-01T12:00:00.000Z')
const NUM_RUNS = 500
const HOUR = 3_600_000

const instant = fc.integer({ min: NOW_MS - 48 * HOUR, max: NOW_MS + 48 * HOUR })
const maybeInstant = fc.option(instant, { nil: null })
const buffer = fc.integer({ min: 0, max: 2 * HOUR })
const origin = fc.constantFrom('fresh' as const, 'record' as const, 'given' as const)

t.test('a known expiry is never later than any expiry given, unless counted from arrival; refresh comes before it', async (t) => {
  fc.assert(fc.property(maybeInstant, maybeInstant, maybeInstant, origin, buffer, fc.option(instant, { nil: undefined }),
    (jwtExp, iat, known, from, bufferMs, providerDate) => {
      const life = tokenLifetime({ expiresAtMs: jwtExp, issuedAtMs: iat }, known, from, NOW_MS, bufferMs, providerDate)
      if (jwtExp === null && known === null) {
        return life.expiresAtMs === null && life.refreshAtMs === Infinity && life.clockAheadMs === null
      }
      if (life.expiresAtMs === null) return false
      if (life.refreshAtMs > life.expiresAtMs) return false
      if (life.clockAheadMs !== null) {
        // Only a fresh token, due on arrival, whose clocks do not (known to) agree: counted from now.
        return from === 'fresh' && life.expiresAtMs > NOW_MS && life.refreshAtMs >= NOW_MS &&
          (providerDate === undefined || Math.abs(NOW_MS - providerDate) > CLOCK_AGREEMENT_MS)
      }
      const earliest = Math.min(...[jwtExp, known].filter((ms): ms is number => ms !== null))
      return life.expiresAtMs === earliest || (from === 'record' && life.expiresAtMs === known)
    }), { numRuns: NUM_RUNS })
  t.pass('held for every draw')
})

t.test('the buffer is capped at half the token\'s life: a short token is refreshed at mid-life, not from birth', async (t) => {
  fc.assert(fc.property(instant, fc.integer({ min: 1, max: 24 * HOUR }), buffer, (iat, lifeMs, bufferMs) => {
    const exp = iat + lifeMs
    const effective = effectiveBufferMs(bufferMs, exp, iat)
    return effective === Math.min(bufferMs, lifeMs / 2) && exp - effective >= iat + lifeMs / 2
  }), { numRuns: NUM_RUNS })
  t.equal(effectiveBufferMs(300_000, NOW_MS + 240_000, NOW_MS), 120_000, 'a 4-minute token with the 5-minute buffer: refreshed after 2 minutes')
  t.equal(effectiveBufferMs(300_000, NOW_MS, null), 300_000, 'without an iat the buffer stands')
})

t.test('with clocks that agree, a token already expired stays expired (it really is that old)', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 24 * HOUR }), fc.integer({ min: 1, max: 24 * HOUR }), fc.integer({ min: -CLOCK_AGREEMENT_MS, max: CLOCK_AGREEMENT_MS }),
    (age, lifeMs, skew) => {
      const iat = NOW_MS - age - lifeMs
      const life = tokenLifetime({ expiresAtMs: iat + lifeMs, issuedAtMs: iat }, null, 'fresh', NOW_MS, 300_000, NOW_MS + skew)
      return life.clockAheadMs === null && life.expiresAtMs === iat + lifeMs && lifetimeStatus(life, NOW_MS) === 'expired'
    }), { numRuns: NUM_RUNS })
  t.pass('held for every draw')
})

t.test('status moves one way with time: ok, then expiring, then expired', async (t) => {
  const rank = { ok: 0, expiring: 1, expired: 2 }
  fc.assert(fc.property(maybeInstant, maybeInstant, buffer, fc.array(instant, { minLength: 2, maxLength: 6 }), (jwtExp, iat, bufferMs, times) => {
    const life = tokenLifetime({ expiresAtMs: jwtExp, issuedAtMs: iat }, null, 'given', NOW_MS, bufferMs)
    const statuses = [...times].sort((a, b) => a - b).map((ms) => rank[lifetimeStatus(life, ms)])
    return statuses.every((status, i) => i === 0 || status >= statuses[i - 1]) && (jwtExp !== null || statuses.every((s) => s === 0))
  }), { numRuns: NUM_RUNS })
  t.equal(lifetimeStatus(null, NOW_MS), 'expired', 'no token at all')
})
