import { measureInstructions } from './instructions.js'
import { startNodeServer, mustStart, DIST } from './processes.js'
import { startIdentityProvider } from '../src/demo/identityProvider.js'
const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
const upstream = await mustStart(await startNodeServer('upstream', `${DIST}/bench/upstream.js`, {}))
const token = idp.mint(24*3600)
const env = { UPSTREAM_URL: upstream.url, AUTH_TOKEN: token, REFRESH_TOKEN: idp.validRefreshToken, TOKEN_REFRESH_URL: idp.refreshUrl, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: 'info' }
const n = Number(process.env.N ?? 3000)
for (const spec of process.argv.slice(2)) {
  const [name, entry] = spec.split('=')
  const e = name === 'bare' ? { UPSTREAM_URL: upstream.url, LOG_LEVEL: 'info' } : env
  const r = await measureInstructions({ name, entry, env: e, nodeArgs: name === 'bare' ? [] : ['--v8-pool-size=1', ...(process.env['FLAGS_' + name] ?? '').split(' ').filter(Boolean)], warmupRequests: n, requests: n, connections: 10, path: '/v1/items?limit=8' })
  console.log(name, Math.round(r))
}
await upstream.stop(); await idp.close()
