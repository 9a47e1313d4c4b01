// The seed's behaviour: tokens live as long as the process. Needs no configuration.
import type { TokenRecord, TokenStore } from './tokenStore.js'

export class MemoryTokenStore implements TokenStore {
  readonly kind = 'memory'
  private record: TokenRecord | null = null

  async load (): Promise<TokenRecord | null> {
    return this.record === null ? null : { ...this.record }
  }

  async save (record: TokenRecord): Promise<void> {
    this.record = { ...record }
  }

  async close (): Promise<void> {}
}
