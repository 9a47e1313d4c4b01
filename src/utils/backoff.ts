// Exponential backoff with jitter: delays spread over [c/2, c] for c = base·2^n, so replicas and retries
// that failed together do not come back together.
export interface BackoffPolicy {
  baseMs: number
  maxMs: number
}

export function backoffDelay (policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1))
  // Never below half the ceiling, so a run of unlucky draws cannot turn into a tight loop.
  return Math.round(ceiling / 2 + random() * ceiling / 2)
}
