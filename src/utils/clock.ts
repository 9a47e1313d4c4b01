// Time is injected everywhere it decides something, so tests can jump it instead of sleeping.
export type Clock = () => number

export const systemClock: Clock = () => Date.now()

/**
 * Milliseconds from an arbitrary origin that only ever move forward at the real rate, whatever
 * is done to the wall clock (NTP stepping it, an operator setting it, a resumed VM).
 */
export const monotonicClock: Clock = () => performance.now()

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => {
  setTimeout(resolve, ms).unref()
})

/** The timers the token engine sets; tests pass their own to move time. */
export interface Timers {
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

// Unref'd: a pending refresh time never keeps a process alive on its own.
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) }
}
