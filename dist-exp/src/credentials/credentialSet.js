// Every credential of the gateway by name, and how a new configuration is applied to them: an
// unchanged credential keeps its engine (its tokens, timers and refresh in flight), a changed one
// is replaced by a fresh engine over the same store record, a removed one is closed.
import { isDeepStrictEqual } from 'node:util';
export class CredentialSet {
    open;
    byName = new Map();
    listeners = [];
    constructor(open) {
        this.open = open;
    }
    get(name) {
        return this.byName.get(name);
    }
    /** The first credential of the configuration: the only one without a file. */
    first() {
        return this.byName.values().next().value;
    }
    get size() {
        return this.byName.size;
    }
    [Symbol.iterator]() {
        return this.byName.values();
    }
    /** Told of every credential opened or retired from now on (metrics, the refresh job). */
    listen(listener) {
        this.listeners.push(listener);
        for (const credential of this.byName.values())
            listener.opened(credential);
    }
    /**
     * Makes the set match `configs`. A changed credential's old engine is closed before the new one
     * reads the store, so the new one starts from the tokens the old one saved last (a refresh in
     * flight included). When a credential cannot be opened nothing changes: what was opened is
     * closed again, the replaced engines are opened again from their old configuration, and the
     * error is thrown.
     */
    async apply(configs) {
        const changes = { added: [], changed: [], removed: [], kept: [] };
        const next = new Map();
        const toOpen = [];
        for (const config of configs) {
            const current = this.byName.get(config.name);
            if (current !== undefined && isDeepStrictEqual(current.config, config)) {
                next.set(config.name, current);
                changes.kept.push(config.name);
            }
            else {
                toOpen.push(config);
                (current === undefined ? changes.added : changes.changed).push(config.name);
            }
        }
        const replaced = changes.changed.map((name) => this.byName.get(name));
        await this.retireAll(replaced);
        const opened = [];
        try {
            for (const config of toOpen)
                opened.push(await this.open(config));
        }
        catch (err) {
            await Promise.all(opened.map((credential) => credential.close()));
            for (const old of replaced)
                this.byName.set(old.name, await this.reopen(old));
            throw err;
        }
        for (const credential of opened)
            next.set(credential.name, credential);
        const removed = [...this.byName.values()].filter((credential) => !next.has(credential.name));
        changes.removed = removed.map((credential) => credential.name);
        // In the configuration's order (health lists them so), whichever were kept or opened.
        this.byName = new Map(configs.map((config) => [config.name, next.get(config.name)]));
        for (const credential of opened)
            this.announce(credential);
        await this.retireAll(removed);
        return changes;
    }
    async close() {
        const all = [...this.byName.values()];
        this.byName = new Map();
        await Promise.all(all.map((credential) => credential.close()));
    }
    async retireAll(credentials) {
        for (const credential of credentials)
            for (const listener of this.listeners)
                listener.retired(credential);
        await Promise.all(credentials.map((credential) => credential.close()));
    }
    announce(credential) {
        for (const listener of this.listeners)
            listener.opened(credential);
    }
    async reopen(old) {
        const credential = await this.open(old.config);
        this.announce(credential);
        return credential;
    }
}
