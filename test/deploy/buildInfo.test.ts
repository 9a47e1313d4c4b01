// The TypeScript configurations and their build-info files. `npm test` type-checks (tsconfig.json,
// no output) after `pretest` has built, and then `npm start` in process.test.ts builds again
// while other tests run dist/: that build must write nothing, or a gateway starting meanwhile
// reads a half-written module (a CI run failed so). And a build after the bench configuration
// built an edit that was then undone must rewrite what the bench build left in dist/.
// Both run in a copy of the tree, so this test never touches the dist/ other tests use.
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ROOT } from '../helpers/process.js'

const run = promisify(execFile)
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

function copyTree (): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-build-'))
  for (const name of ['src', 'plugins', 'routes', 'test', 'bench', 'package.json',
    'tsconfig.json', 'tsconfig.build.json', 'tsconfig.bench.json', 'tsconfig.soak.json']) {
    cpSync(join(ROOT, name), join(dir, name), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return dir
}

/** The JavaScript files one tsc run wrote. */
async function emitted (dir: string, ...args: string[]): Promise<string[]> {
  const { stdout } = await run(process.execPath, [TSC, ...args, '--listEmittedFiles'], { cwd: dir })
  return stdout.split('\n').filter((line) => /^TSFILE: .*\.js$/.test(line))
}

t.test('after npm test\'s type check, the build npm start runs writes nothing', async (t) => {
  const dir = copyTree()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.ok((await emitted(dir, '-p', 'tsconfig.build.json')).length > 20, 'the first build writes dist/')
  await run(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.json'], { cwd: dir })
  t.same(await emitted(dir, '-p', 'tsconfig.build.json'), [], 'the second build writes no module')
})

t.test('a build after the bench configuration built an edit, undone, restores dist/', async (t) => {
  const dir = copyTree()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app = join(dir, 'src', 'app.ts')
  const original = readFileSync(app, 'utf8')
  await emitted(dir, '-p', 'tsconfig.build.json')
  writeFileSync(app, `${original}\nexport const benchMarker = 'edited'\n`)
  await emitted(dir, '-p', 'tsconfig.bench.json')
  t.match(readFileSync(join(dir, 'dist', 'src', 'app.js'), 'utf8'), /benchMarker/, 'the bench build wrote the edit')
  writeFileSync(app, original)
  await emitted(dir, '-p', 'tsconfig.build.json')
  t.notMatch(readFileSync(join(dir, 'dist', 'src', 'app.js'), 'utf8'), /benchMarker/, 'the edit is gone from dist/')
})
