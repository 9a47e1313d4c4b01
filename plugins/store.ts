// Creates the token store chosen by TOKEN_STORE and closes it last, after the refresh job and
// any refresh in flight have finished with it.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MemoryTokenStore } from '../src/stores/memoryTokenStore.js'
import type { TokenStore } from '../src/stores/tokenStore.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenStore: TokenStore
  }
}

async function storePlugin (fastify: FastifyInstance): Promise<void> {
  const store: TokenStore = new MemoryTokenStore()
  fastify.decorate('tokenStore', store)
  fastify.addHook('onClose', async () => { await store.close() })
}

export default fp(storePlugin, { name: 'tokengate-store', fastify: '5.x', dependencies: ['tokengate-config'] })
