export function backoffDelay(policy, failures, random = Math.random) {
    const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
    // Never below half the ceiling, so a run of unlucky draws cannot turn into a tight loop.
    return Math.round(ceiling / 2 + random() * ceiling / 2);
}
