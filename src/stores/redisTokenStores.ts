// The Redis store for every credential: one client, one subscriber connection, and keys of each
// credential's own. Namespaced, credential `chat` keeps `<TOKEN_STORE_KEY>:chat:tokens`,
// `…:chat:refresh-lock` and `…:chat:updates`; otherwise `default` keeps `<TOKEN_STORE_KEY>:tokens`
// and the rest, as earlier versions did.
import type { Redis } from 'ioredis'
import { RedisSubscriber } from './redisSubscriber.js'
import { RedisTokenStore, type RedisTokenStoreOptions } from './redisTokenStore.js'
import { CredentialTokenStores, type TokenStoresOptions } from './tokenStores.js'

export interface RedisTokenStoresOptions extends TokenStoresOptions, Omit<RedisTokenStoreOptions, 'subscriber'> {}

export class RedisTokenStores extends CredentialTokenStores<RedisTokenStore> {
  readonly kind = 'redis'
  private readonly client: Redis
  private readonly options: RedisTokenStoresOptions
  private readonly subscriber: RedisSubscriber

  /** The client stays the caller's: close() leaves it open. */
  constructor (client: Redis, options: RedisTokenStoresOptions) {
    super(options)
    this.client = client
    this.options = options
    this.subscriber = new RedisSubscriber(client)
  }

  /** Ends every credential's subscriptions and closes the subscriber connection. */
  async close (): Promise<void> {
    await this.subscriber.close()
  }

  protected open (name: string): RedisTokenStore {
    const { keyPrefix, lockTtlMs, pollIntervalMs, sleep } = this.options
    return new RedisTokenStore(this.client, {
      keyPrefix: this.namespaced ? `${keyPrefix}:${name}` : keyPrefix,
      lockTtlMs,
      pollIntervalMs,
      sleep,
      subscriber: this.subscriber
    })
  }
}
