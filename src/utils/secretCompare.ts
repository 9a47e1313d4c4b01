// Key comparison in constant time. Both sides are hashed first, so neither the content nor the
// length of the expected key leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto'

export function secretEquals (given: string | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}
