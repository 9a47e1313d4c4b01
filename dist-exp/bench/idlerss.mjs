import { startNodeServer, mustStart, DIST, GATEWAY_ENTRY, sleep, treeRssBytes } from './processes.js'
import { request } from 'undici'
const upstream = await mustStart(await startNodeServer('upstream', `${DIST}/bench/upstream.js`, {}))
for (const which of ['bare', 'tokengate']) {
  const env = which === 'bare' ? { UPSTREAM_URL: upstream.url, LOG_LEVEL: 'info' } : { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'x.y.z', TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: 'info' }
  const entry = which === 'bare' ? `${DIST}/bench/bareProxy.js` : (process.env.ENTRY ?? GATEWAY_ENTRY)
  const server = await mustStart(await startNodeServer(which, entry, env, ['--v8-pool-size=1', ...process.argv.slice(2)]))
  await sleep(1500)
  const r0 = treeRssBytes(server.pid)
  for (let i = 0; i < 50; i++) await (await request(`${server.url}/v1/x`)).body.text()
  await sleep(500)
  console.log(which, 'RSS MB idle', (r0/1048576).toFixed(1), 'after 50 requests', (treeRssBytes(server.pid)/1048576).toFixed(1))
  await server.stop()
}
await upstream.stop()
