// Exponential backoff with jitter: the ceiling doubles per failure up to maxMs, the delay lies in [ceiling/2, ceiling].
import t from 'tap'
import { backoffDelay } from '../../src/utils/backoff.js'

const policy = { baseMs: 500, maxMs: 60_000 }

t.test('the ceiling doubles with every failure', async (t) => {
  const atCeiling = (failures: number): number => backoffDelay(policy, failures, () => 1)
  t.same([1, 2, 3, 4, 5].map(atCeiling), [500, 1000, 2000, 4000, 8000])
})

t.test('jitter spreads the delay over [ceiling/2, ceiling]', async (t) => {
  t.equal(backoffDelay(policy, 3, () => 0), 1000, 'never below half the ceiling')
  t.equal(backoffDelay(policy, 3, () => 0.5), 1500)
  t.equal(backoffDelay(policy, 3, () => 0.999_999), 2000, 'rounded to whole ms')
})

t.test('capped at maxMs', async (t) => {
  t.equal(backoffDelay(policy, 8, () => 1), 60_000, '500 * 2^7 = 64000 is capped')
  t.equal(backoffDelay(policy, 1000, () => 1), 60_000, 'no overflow for a long run of failures')
  t.equal(backoffDelay(policy, 1000, () => 0), 30_000)
})

t.test('zero or negative failure counts use the base', async (t) => {
  t.equal(backoffDelay(policy, 0, () => 1), 500)
  t.equal(backoffDelay(policy, -3, () => 1), 500)
})

t.test('defaults to Math.random, staying within bounds', async (t) => {
  for (let i = 0; i < 200; i++) {
    const delay = backoffDelay(policy, 2)
    if (delay < 500 || delay > 1000) t.fail(`delay ${delay} outside [500, 1000]`)
  }
  t.pass('200 random delays within [500, 1000]')
})
