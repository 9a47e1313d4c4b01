import { startNodeServer, mustStart, DIST, GATEWAY_ENTRY, sleep, treeCpuSeconds } from './processes.js'
const upstream = await mustStart(await startNodeServer('stream-upstream', `${DIST}/bench/streamUpstream.js`, { CHUNKS: '200' }))
for (const which of ['bare', 'tokengate']) {
  const env = which === 'bare' ? { UPSTREAM_URL: upstream.url, LOG_LEVEL: 'info' } : { UPSTREAM_URL: upstream.url, AUTH_TOKEN: 'x.y.z', TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: 'info' }
  const entry = which === 'bare' ? `${DIST}/bench/bareProxy.js` : (process.env.ENTRY ?? GATEWAY_ENTRY)
  const server = await mustStart(await startNodeServer(which, entry, env, ['--v8-pool-size=1']))
  await sleep(2000)
  const c0 = treeCpuSeconds(server.pid); await sleep(10000); console.log(which, 'idle CPU ms over 10 s', ((treeCpuSeconds(server.pid) - c0) * 1000).toFixed(0))
  await server.stop()
}
await upstream.stop()
