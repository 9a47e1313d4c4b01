// The memory store for every credential: a record each, for as long as the process lives.
import { MemoryTokenStore } from './memoryTokenStore.js';
import { CredentialTokenStores } from './tokenStores.js';
export class MemoryTokenStores extends CredentialTokenStores {
    kind = 'memory';
    async close() { }
    open() {
        return new MemoryTokenStore();
    }
}
