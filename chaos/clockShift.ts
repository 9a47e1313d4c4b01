// Loaded with `node --import` into the chaos run's gateways only (never by `npm start`): shifts
// this process's wall clock, Date.now() and `new Date()`, by the milliseconds written in the file
// CHAOS_CLOCK_FILE, read again every 50 ms, the way an NTP step or a resumed virtual machine moves
// a real clock. The monotonic clock (performance.now(), the event loop's timers) is left alone,
// as a step of the system clock leaves CLOCK_MONOTONIC alone.
import { readFileSync } from 'node:fs'

const file = process.env.CHAOS_CLOCK_FILE
if (file !== undefined && file !== '') {
  const TrueDate = Date
  const trueNow = TrueDate.now.bind(TrueDate)
  let offsetMs = 0
  const read = (): void => {
    try {
      const value = Number(readFileSync(file, 'utf8').trim())
      if (Number.isFinite(value)) offsetMs = value
    } catch {}
  }
  read()
  setInterval(read, 50).unref()
  const shifted = (): number => trueNow() + offsetMs
  globalThis.Date = new Proxy(TrueDate, {
    construct: (target, args: unknown[], newTarget) => Reflect.construct(target, args.length === 0 ? [shifted()] : args, newTarget) as object,
    apply: () => new TrueDate(shifted()).toString(),
    get: (target, property, receiver) => property === 'now' ? shifted : Reflect.get(target, property, receiver) as unknown
  })
}
