// Every credential's token store, from one place: the file store keeps every credential in its one
// file, the Redis store every credential under a prefix of its own on one client, the memory
// store one record each. A gateway configured by a file is namespaced (each credential by its
// name); one configured by the environment alone has the one credential `default`, stored exactly
// where and how earlier versions stored it.
import { CREDENTIAL_NAME, DEFAULT_CREDENTIAL } from '../config/gatewayDefinition.js'
import { StoreError } from '../errors.js'
import type { TokenStore, TokenStoreKind } from './tokenStore.js'

export interface TokenStores<Store extends TokenStore = TokenStore> {
  readonly kind: TokenStoreKind
  /** True when configured by a file: each credential's records are kept apart by its name. */
  readonly namespaced: boolean
  /**
   * The credential's store, the same one at every call. Throws StoreError for a name that is not
   * a credential name, and, when not namespaced, for any credential but `default`.
   */
  forCredential (name: string): Store
  /** Closes what the stores share (waits for file writes, lets the file lock go, ends Redis subscriptions). */
  close (): Promise<void>
}

export interface TokenStoresOptions {
  namespaced?: boolean
}

/** What every kind of provider shares: names checked, one store per credential, made on first use. */
export abstract class CredentialTokenStores<Store extends TokenStore> implements TokenStores<Store> {
  abstract readonly kind: TokenStoreKind
  readonly namespaced: boolean
  private readonly stores = new Map<string, Store>()

  constructor (options: TokenStoresOptions = {}) {
    this.namespaced = options.namespaced ?? false
  }

  forCredential (name: string): Store {
    if (!CREDENTIAL_NAME.test(name)) {
      throw new StoreError(`${JSON.stringify(name)} is not a credential name (lower-case letters, digits and '-', 1 to 40 characters)`)
    }
    if (!this.namespaced && name !== DEFAULT_CREDENTIAL) {
      throw new StoreError(`no store for credential "${name}": a gateway configured by the environment has only the credential "${DEFAULT_CREDENTIAL}"`)
    }
    let store = this.stores.get(name)
    if (store === undefined) {
      store = this.open(name)
      this.stores.set(name, store)
    }
    return store
  }

  abstract close (): Promise<void>

  /** The credential's store, made once. */
  protected abstract open (name: string): Store
}
