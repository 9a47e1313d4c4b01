// Before `npm start` and `npm run token:inspect`: build dist/ when the TypeScript compiler is
// installed (an incremental build that writes nothing when nothing changed), and otherwise use
// the dist/ that is there, as a deployment with production dependencies only (`npm ci
// --omit=dev`) has it. Without either, say what to do.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const TSC = 'node_modules/typescript/bin/tsc'
const ENTRY = 'dist/src/server.js'

if (existsSync(TSC) && existsSync('tsconfig.build.json')) {
  const build = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
  process.exit(build.status ?? 1)
}
if (!existsSync(ENTRY)) {
  process.stderr.write('tokengate: dist/ is not built and the TypeScript compiler is not installed: ' +
    'run `npm ci` (with the development dependencies) and `npm run build`, then start again\n')
  process.exit(1)
}
