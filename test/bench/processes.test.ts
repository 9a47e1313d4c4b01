// The bench runs the gateway with the node flags of `npm start`: reading them from package.json
// must keep working whatever form the start script takes (it broke once when `exec` was added).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { GATEWAY_NODE_ARGS, ROOT, nodeArgsOfStartScript } from '../../bench/processes.js'

t.test('the flags of the real start script', async (t) => {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  t.same(GATEWAY_NODE_ARGS, nodeArgsOfStartScript(start))
  t.ok(start.endsWith('dist/src/server.js'))
})

t.test('[exec] node [flags] ENTRY, and nothing else', async (t) => {
  t.same(nodeArgsOfStartScript('exec node --v8-pool-size=1 dist/src/server.js'), ['--v8-pool-size=1'])
  t.same(nodeArgsOfStartScript('node dist/src/server.js'), [])
  t.throws(() => nodeArgsOfStartScript('tsx src/server.ts'), { message: /is not "\[exec\] node \[flags\] ENTRY"/ })
  t.throws(() => nodeArgsOfStartScript('exec node'))
})
