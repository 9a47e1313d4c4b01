// The bound on requests in flight to the upstream (UPSTREAM_MAX_CONNECTIONS): each holds one
// upstream connection for as long as its response lasts, a stream included. A request beyond the
// bound waits in line for a free slot, up to a deadline, instead of queueing without end.
export class ConnectionSlots {
    limit;
    used = 0;
    waiters = [];
    constructor(limit) {
        this.limit = limit;
    }
    /** Slots held now. */
    get inUse() {
        return this.used;
    }
    /** Requests waiting for a slot. */
    get waiting() {
        return this.waiters.length;
    }
    /** A slot at once, or null when every slot is held. */
    tryAcquire() {
        if (this.used >= this.limit)
            return null;
        this.used++;
        return this.releaser();
    }
    /**
     * A slot when one frees up within `timeoutMs`, else null. `cancelled` ends the wait early (the
     * client went away): the promise then resolves with null and takes no slot.
     */
    acquire(timeoutMs, cancelled) {
        const now = this.tryAcquire();
        if (now !== null)
            return Promise.resolve(now);
        return new Promise((resolve) => {
            const waiter = {
                grant: resolve,
                timer: setTimeout(() => this.leave(waiter, null), timeoutMs)
            };
            this.waiters.push(waiter);
            cancelled?.(() => this.leave(waiter, null));
        });
    }
    leave(waiter, release) {
        const index = this.waiters.indexOf(waiter);
        if (index === -1)
            return;
        this.waiters.splice(index, 1);
        clearTimeout(waiter.timer);
        waiter.grant(release);
    }
    releaser() {
        let released = false;
        return () => {
            if (released)
                return;
            released = true;
            const next = this.waiters[0];
            // The slot passes straight to the first in line, so a burst of new arrivals cannot overtake it.
            if (next !== undefined)
                this.leave(next, this.releaser());
            else
                this.used--;
        };
    }
}
