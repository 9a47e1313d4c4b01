// The bound on requests in flight to the upstream (UPSTREAM_MAX_CONNECTIONS): each holds one
// upstream connection for as long as its response lasts, a stream included. A request beyond the
// bound waits in line for a free slot, up to a deadline, instead of queueing without end.

/** Gives the slot back; calling it more than once is harmless. */
export type ReleaseSlot = () => void

interface Waiter {
  grant: (release: ReleaseSlot | null) => void
  timer: NodeJS.Timeout
}

export class ConnectionSlots {
  private used = 0
  private readonly waiters: Waiter[] = []

  constructor (readonly limit: number) {}

  /** Slots held now. */
  get inUse (): number {
    return this.used
  }

  /** Requests waiting for a slot. */
  get waiting (): number {
    return this.waiters.length
  }

  /** A slot at once, or null when every slot is held. */
  tryAcquire (): ReleaseSlot | null {
    if (this.used >= this.limit) return null
    this.used++
    return this.releaser()
  }

  /**
   * A slot when one frees up within `timeoutMs`, else null. `cancelled` ends the wait early (the
   * client went away): the promise then resolves with null and takes no slot.
   */
  acquire (timeoutMs: number, cancelled?: (cancel: () => void) => void): Promise<ReleaseSlot | null> {
    const now = this.tryAcquire()
    if (now !== null) return Promise.resolve(now)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => this.leave(waiter, null), timeoutMs)
      }
      this.waiters.push(waiter)
      cancelled?.(() => this.leave(waiter, null))
    })
  }

  private leave (waiter: Waiter, release: ReleaseSlot | null): void {
    const index = this.waiters.indexOf(waiter)
    if (index === -1) return
    this.waiters.splice(index, 1)
    clearTimeout(waiter.timer)
    waiter.grant(release)
  }

  private releaser (): ReleaseSlot {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiters[0]
      // The slot passes straight to the first in line, so a burst of new arrivals cannot overtake it.
      if (next !== undefined) this.leave(next, this.releaser())
      else this.used--
    }
  }
}
