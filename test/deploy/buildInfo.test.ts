// The TypeScript configurations and their build-info files. `npm test` type-checks (tsconfig.json,
// no output) after `pretest` has built, and then `npm start` in process.test.ts builds again
// while other tests run dist/: that build must write nothing, or a gateway starting meanwhile
// reads a half-written module (a CI run failed so). That runs in a copy of the tree, so this test
// never touches the dist/ other tests use.
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
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

// The bench and soak configurations compile the same sources into the same dist/. With build-info
// files of their own, a build by one after an edit built by another and then undone skipped the
// file the other had overwritten (npm run bench on an edit, the edit undone, npm run build: dist/
// kept the edit). One file for the three lets tsc know what the last build wrote.
t.test('the build, bench and soak configurations share one build-info file; the type check has its own', async (t) => {
  const resolved = async (config: string): Promise<{ outDir?: string, tsBuildInfoFile?: string }> => {
    const { stdout } = await run(process.execPath, [TSC, '--showConfig', '-p', config], { cwd: ROOT })
    return (JSON.parse(stdout) as { compilerOptions: { outDir?: string, tsBuildInfoFile?: string } }).compilerOptions
  }
  const build = await resolved('tsconfig.build.json')
  t.ok(build.tsBuildInfoFile, 'the build keeps build info')
  for (const config of ['tsconfig.bench.json', 'tsconfig.soak.json']) {
    const options = await resolved(config)
    // Exact strings: t.match would accept "./dist/.tsbuildinfo.bench" as containing the other.
    t.same([options.outDir, options.tsBuildInfoFile], [build.outDir, build.tsBuildInfoFile], config)
  }
  t.not((await resolved('tsconfig.json')).tsBuildInfoFile, build.tsBuildInfoFile, 'tsconfig.json (npm run typecheck)')
})
