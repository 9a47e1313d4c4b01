import { RedisSubscriber } from './redisSubscriber.js';
import { RedisTokenStore } from './redisTokenStore.js';
import { CredentialTokenStores } from './tokenStores.js';
export class RedisTokenStores extends CredentialTokenStores {
    kind = 'redis';
    client;
    options;
    subscriber;
    /** The client stays the caller's: close() leaves it open. */
    constructor(client, options) {
        super(options);
        this.client = client;
        this.options = options;
        this.subscriber = new RedisSubscriber(client);
    }
    /** Ends every credential's subscriptions and closes the subscriber connection. */
    async close() {
        await this.subscriber.close();
    }
    open(name) {
        const { keyPrefix, lockTtlMs, pollIntervalMs, sleep } = this.options;
        return new RedisTokenStore(this.client, {
            keyPrefix: this.namespaced ? `${keyPrefix}:${name}` : keyPrefix,
            lockTtlMs,
            pollIntervalMs,
            sleep,
            subscriber: this.subscriber
        });
    }
}
