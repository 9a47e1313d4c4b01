import { StoreError } from '../errors.js';
export class RedisSubscriber {
    client;
    channels = new Map();
    connection = null;
    connecting = null;
    watching = false;
    /** The client's connection closed and has not been ready since. */
    lost = false;
    closed = false;
    constructor(client) {
        this.client = client;
    }
    /**
     * Tells `events` of every version announced on `channel`, and of the client's losses and
     * returns. Resolves once Redis confirmed the subscription; rejects with StoreError when it
     * cannot (Redis unreachable, the subscriber closed).
     */
    async subscribe(channel, events) {
        if (this.closed)
            throw new StoreError('Redis unavailable (the store is closed)');
        this.watchClient();
        let entry = this.channels.get(channel);
        if (entry === undefined) {
            entry = { subscriptions: new Set(), subscribed: this.open().then(async (connection) => { await connection.subscribe(channel); }) };
            this.channels.set(channel, entry);
        }
        const subscription = { events };
        entry.subscriptions.add(subscription);
        try {
            await entry.subscribed;
        }
        catch (err) {
            await this.end(channel, subscription);
            throw new StoreError(`Redis unavailable (${err.message})`);
        }
        let ended = false;
        return async () => {
            if (ended)
                return;
            ended = true;
            await this.end(channel, subscription);
        };
    }
    /** Ends every subscription and closes the connection; later subscriptions are refused. */
    async close() {
        this.closed = true;
        this.channels.clear();
        this.disconnect();
    }
    async open() {
        if (this.connecting === null) {
            // Lazy, whatever the client's options: connect() below is the only connect.
            const connection = this.client.duplicate({ lazyConnect: true });
            // The client's own events report an outage (onDisconnected); ioredis would print every
            // error of this connection to the console without a listener. It reconnects by itself and
            // subscribes again to every channel it had.
            connection.on('error', ignore);
            connection.on('message', (channel, message) => { this.deliver(channel, message); });
            this.connection = connection;
            this.connecting = connection.connect().then(() => connection, (err) => {
                if (this.connection === connection)
                    this.disconnect();
                throw err;
            });
        }
        return await this.connecting;
    }
    async end(channel, subscription) {
        const entry = this.channels.get(channel);
        // Gone with close(), or another subscription of the channel goes on.
        if (entry === undefined)
            return;
        entry.subscriptions.delete(subscription);
        if (entry.subscriptions.size > 0)
            return;
        this.channels.delete(channel);
        if (this.channels.size === 0) {
            this.disconnect();
            return;
        }
        const connection = this.connection;
        await entry.subscribed.catch(ignore);
        // Never connected, subscribed again meanwhile (a new entry), or the connection was replaced: nothing to undo.
        if (connection === null || this.channels.has(channel) || this.connection !== connection)
            return;
        await connection.unsubscribe(channel).catch(ignore);
    }
    disconnect() {
        this.watching = false;
        this.client.off('close', this.onClientClose);
        this.client.off('ready', this.onClientReady);
        const connection = this.connection;
        this.connection = null;
        this.connecting = null;
        connection?.disconnect();
    }
    watchClient() {
        if (this.watching)
            return;
        this.watching = true;
        this.lost = false;
        this.client.on('close', this.onClientClose);
        this.client.on('ready', this.onClientReady);
    }
    // ioredis emits close at every failed reconnection attempt too: one onDisconnected per loss.
    onClientClose = () => {
        if (this.lost)
            return;
        this.lost = true;
        this.tell((events) => { events.onDisconnected(); });
    };
    // A ready that follows no loss (the first connection) is no reconnection.
    onClientReady = () => {
        if (!this.lost)
            return;
        this.lost = false;
        this.tell((events) => { events.onReconnected(); });
    };
    deliver(channel, message) {
        // Only what SAVE_IF_NEWER publishes: a version, in digits.
        const version = /^\d+$/.test(message) ? Number(message) : NaN;
        if (!Number.isSafeInteger(version))
            return;
        // None when the channel's last subscription ended just before its UNSUBSCRIBE took effect.
        const subscriptions = [...(this.channels.get(channel)?.subscriptions ?? [])];
        for (const subscription of subscriptions)
            notify(() => { subscription.events.onAnnounced(version); });
    }
    tell(event) {
        for (const entry of [...this.channels.values()]) {
            for (const subscription of [...entry.subscriptions])
                notify(() => { event(subscription.events); });
        }
    }
}
// A handler runs inside an ioredis event: what it throws would stop the other credentials'
// handlers and surface as an uncaught exception. Handlers must not throw; what one does is dropped.
function notify(handler) {
    try {
        handler();
    }
    catch { }
}
function ignore() { }
