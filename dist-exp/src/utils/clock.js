export const systemClock = () => Date.now();
/**
 * Milliseconds from an arbitrary origin that only ever move forward at the real rate, whatever
 * is done to the wall clock (NTP stepping it, an operator setting it, a resumed VM).
 */
export const monotonicClock = () => performance.now();
export const realSleep = (ms) => new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
});
// Unref'd: a pending refresh time never keeps a process alive on its own.
export const realTimers = {
    setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
    clearTimeout: (handle) => { clearTimeout(handle); }
};
