// Time is injected everywhere it decides something, so tests can jump it instead of sleeping.
export type Clock = () => number

export const systemClock: Clock = () => Date.now()

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => {
  setTimeout(resolve, ms).unref()
})
