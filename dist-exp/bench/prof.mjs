import { startNodeServer, mustStart, DIST, GATEWAY_ENTRY, treeCpuSeconds } from './processes.js'
import { runLoad } from './load.js'
import { startIdentityProvider } from '../src/demo/identityProvider.js'
const which = process.argv[2] ?? 'tokengate'
const extra = process.argv.slice(3)
const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
const upstream = await mustStart(await startNodeServer('upstream', `${DIST}/bench/upstream.js`, {}))
const token = idp.mint(24*3600)
const env = which === 'bare' ? { UPSTREAM_URL: upstream.url, LOG_LEVEL: 'info' } : { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: 'info' }
const entry = which === 'bare' ? `${DIST}/bench/bareProxy.js` : GATEWAY_ENTRY
const gw = await mustStart(await startNodeServer(which, entry, env, ['--v8-pool-size=1', ...extra]))
await runLoad(gw.url, { connections: 100, durationSeconds: 2, path: '/v1/items?limit=8' })
let peak = 0
const fs = await import('node:fs')
const iv = setInterval(() => { const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${gw.pid}/status`, 'utf8')); peak = Math.max(peak, Number(m[1])) }, 100)
for (let i = 0; i < 3; i++) {
  const c0 = treeCpuSeconds(gw.pid)
  const r = await runLoad(gw.url, { connections: 100, durationSeconds: 3, path: '/v1/items?limit=8' })
  console.log(which, Math.round(r.requestsPerSecond), 'req/s p99', r.p99Ms, 'cpu µs/req', ((treeCpuSeconds(gw.pid) - c0) * 1e6 / r.requests).toFixed(1))
}
clearInterval(iv)
console.log('peak RSS MB', (peak/1024).toFixed(1))
await gw.stop(); await upstream.stop(); await idp.close()
