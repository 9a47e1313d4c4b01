// A budget of bytes shared by many holders (REPLAY_BUFFER_TOTAL): request bodies kept in memory so
// they can be sent again after an upstream 401. A holder that cannot reserve goes without.
export class ByteBudget {
    total;
    used = 0;
    constructor(total) {
        this.total = total;
    }
    /** Bytes reserved now. */
    get inUse() {
        return this.used;
    }
    /** Reserves `bytes` when they fit; false (and nothing reserved) when they do not. */
    tryReserve(bytes) {
        if (this.used + bytes > this.total)
            return false;
        this.used += bytes;
        return true;
    }
    release(bytes) {
        this.used = Math.max(0, this.used - bytes);
    }
}
