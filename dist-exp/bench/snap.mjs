import { measure } from './streams.js'
import { startNodeServer, mustStart, DIST, GATEWAY_ENTRY, sleep, treeCpuSeconds } from './processes.js'
import { startIdentityProvider } from '../src/demo/identityProvider.js'
const [which = 'tokengate', count = '1000'] = process.argv.slice(2)
const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
const token = idp.mint(24*3600)
const upstream = await mustStart(await startNodeServer('stream-upstream', `${DIST}/bench/streamUpstream.js`, { CHUNKS: '200' }))
const env = which === 'bare' ? { UPSTREAM_URL: upstream.url, LOG_LEVEL: 'info' } : { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: 'info' }
const entry = which === 'bare' ? `${DIST}/bench/bareProxy.js` : GATEWAY_ENTRY
const server = await mustStart(await startNodeServer(which, entry, env, ['--v8-pool-size=1', '--heapsnapshot-signal=SIGPWR', '--diagnostic-dir=/tmp/snap']))
const c0 = treeCpuSeconds(server.pid); await sleep(10000); console.log('idle CPU ms over 10 s', ((treeCpuSeconds(server.pid) - c0) * 1000).toFixed(0))
await measure(which, server, 20, 200)
await sleep(1000)
process.kill(server.pid, 'SIGPWR')
await sleep(4000)
setTimeout(() => process.kill(server.pid, 'SIGPWR'), 3500)
const r = await measure(which, server, Number(count), 200)
console.log(JSON.stringify(r))
await sleep(3000)
await server.stop(); await upstream.stop(); await idp.close()
