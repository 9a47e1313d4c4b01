import { measure } from './streams.js'
import { startNodeServer, mustStart, DIST, GATEWAY_ENTRY, sleep } from './processes.js'
import { startIdentityProvider } from '../src/demo/identityProvider.js'
const [which = 'tokengate', count = '1000', ...extra] = process.argv.slice(2)
const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
const token = idp.mint(24*3600)
const upstream = await mustStart(await startNodeServer('stream-upstream', `${DIST}/bench/streamUpstream.js`, { CHUNKS: '200' }))
const env = which === 'bare' ? { UPSTREAM_URL: upstream.url, LOG_LEVEL: 'info' } : { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: 'info' }
const entry = which === 'bare' ? `${DIST}/bench/bareProxy.js` : which === 'direct' ? null : (process.env.ENTRY ?? GATEWAY_ENTRY)
const server = entry === null ? upstream : await mustStart(await startNodeServer(which, entry, env, ['--v8-pool-size=1', ...extra]))
await measure(which, server, 20, 200)
for (const n of count.split(',')) {
  await sleep(500)
  const r = await measure(which, server, Number(n), 200)
  console.log(JSON.stringify(r))
}
if (server !== upstream) await server.stop()
await upstream.stop(); await idp.close()
console.log(server.logFile)
