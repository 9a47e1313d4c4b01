export class MemoryTokenStore {
    kind = 'memory';
    record = null;
    async load() {
        return this.record === null ? null : { ...this.record };
    }
    async save(record) {
        this.record = { ...record };
    }
    async close() { }
}
