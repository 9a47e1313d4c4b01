// Every credential's token store, from one place: the file store keeps every credential in its one
// file, the Redis store every credential under a prefix of its own on one client, the memory
// store one record each. A gateway configured by a file is namespaced (each credential by its
// name); one configured by the environment alone has the one credential `default`, stored exactly
// where and how earlier versions stored it.
import { CREDENTIAL_NAME, DEFAULT_CREDENTIAL } from '../config/gatewayDefinition.js';
import { StoreError } from '../errors.js';
/** What every kind of provider shares: names checked, one store per credential, made on first use. */
export class CredentialTokenStores {
    namespaced;
    stores = new Map();
    constructor(options = {}) {
        this.namespaced = options.namespaced ?? false;
    }
    forCredential(name) {
        if (!CREDENTIAL_NAME.test(name)) {
            throw new StoreError(`${JSON.stringify(name)} is not a credential name (lower-case letters, digits and '-', 1 to 40 characters)`);
        }
        if (!this.namespaced && name !== DEFAULT_CREDENTIAL) {
            throw new StoreError(`no store for credential "${name}": a gateway configured by the environment has only the credential "${DEFAULT_CREDENTIAL}"`);
        }
        let store = this.stores.get(name);
        if (store === undefined) {
            store = this.open(name);
            this.stores.set(name, store);
        }
        return store;
    }
}
