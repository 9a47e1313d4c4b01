// The log destination of `npm start`: synchronous writes, one per event-loop turn, nothing lost
// or reordered at exit, and a failing log never takes the gateway down.
import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { MAX_BATCH_BYTES, createBatchedLogDestination } from '../../src/utils/batchedLogDestination.js'
import { CHILD_ENV, ROOT } from '../helpers/process.js'

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A writeSync stand-in that records each call, then writes for real (or fails as told). */
function recordingWrite (fail: (call: number) => NodeJS.ErrnoException | null = () => null, maxBytes = Infinity) {
  const calls: string[] = []
  const write = (_fd: number, buffer: Buffer, offset: number): number => {
    const error = fail(calls.length)
    const slice = buffer.subarray(offset, offset + maxBytes)
    calls.push(error === null ? slice.toString('utf8') : `!${error.code}`)
    if (error !== null) throw error
    return slice.length
  }
  return { calls, write }
}

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code })

t.test('the lines of one turn reach the file in one write, in order, at the end of the turn', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'tokengate-log-')), 'out.log')
  const fd = openSync(file, 'w')
  t.teardown(() => closeSync(fd))
  let writes = 0
  const destination = createBatchedLogDestination(fd, {
    writeSync: (target, buffer, offset) => { writes++; return writeSync(target, buffer, offset) }
  })
  for (let i = 0; i < 50; i++) destination.write(`{"n":${i}}\n`)
  t.equal(writes, 0, 'nothing is written while the turn runs')
  await nextTurn()
  t.equal(writes, 1, 'one write for 50 lines')
  destination.write('{"n":50}\n')
  await nextTurn()
  t.equal(writes, 2, 'a later turn writes its own line')
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line).n)
  t.same(lines, Array.from({ length: 51 }, (_, i) => i), 'every line, in order')
})

t.test('with the real system call: the file holds nothing during the turn and every line after it', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'tokengate-log-')), 'out.log')
  const fd = openSync(file, 'w')
  t.teardown(() => closeSync(fd))
  const destination = createBatchedLogDestination(fd)
  destination.write('one\n')
  destination.write('two\n')
  t.equal(readFileSync(file, 'utf8'), '')
  await nextTurn()
  t.equal(readFileSync(file, 'utf8'), 'one\ntwo\n')
})

t.test('a batch past MAX_BATCH_BYTES is written at once, not held to the end of the turn', async (t) => {
  const { calls, write } = recordingWrite()
  const destination = createBatchedLogDestination(1, { writeSync: write })
  const line = 'x'.repeat(1023) + '\n'
  for (let i = 0; i < MAX_BATCH_BYTES / 1024; i++) destination.write(line)
  t.equal(calls.length, 1, 'written inside the turn once 64 KiB are held')
  t.equal(calls[0].length, MAX_BATCH_BYTES)
  await nextTurn()
  t.equal(calls.length, 1, 'nothing was left for the end of the turn')
})

t.test('a full pipe (EAGAIN) is waited for and a short write continues where it stopped: nothing lost', async (t) => {
  const { calls, write } = recordingWrite((call) => call === 1 ? errno('EAGAIN') : null, 10)
  const destination = createBatchedLogDestination(1, { writeSync: write })
  destination.write('0123456789abcdef\n')
  destination.write('second line\n')
  await nextTurn()
  t.same(calls, ['0123456789', '!EAGAIN', 'abcdef\nsec', 'ond line\n'])
})

t.test('a write that fails otherwise (a closed pipe, a full disk) drops that batch and logging goes on', async (t) => {
  const { calls, write } = recordingWrite((call) => call === 0 ? errno('EPIPE') : null)
  const destination = createBatchedLogDestination(1, { writeSync: write })
  destination.write('lost\n')
  t.doesNotThrow(() => { destination.flushSync() })
  destination.write('kept\n')
  await nextTurn()
  t.same(calls, ['!EPIPE', 'kept\n'])
})

t.test('flushSync with nothing held writes nothing', async (t) => {
  const { calls, write } = recordingWrite()
  createBatchedLogDestination(1, { writeSync: write }).flushSync()
  t.same(calls, [])
})

// A real process: what was logged in the turn that exits is written by the exit handler.
const CHILD = `
import { createBatchedLogDestination } from ${JSON.stringify(join(ROOT, 'dist/src/utils/batchedLogDestination.js'))}
const log = createBatchedLogDestination(1)
for (let i = 0; i < 1000; i++) log.write('line ' + i + '\\n')
log.write('last\\n')
if (process.argv[1] === 'throw') throw new Error('boom')
process.exit(3)
`

for (const ending of ['exit', 'throw'] as const) {
  t.test(`a process that ends by ${ending === 'exit' ? 'process.exit()' : 'an uncaught error'} in the same turn still writes every line, in order`, async (t) => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, ending], {
      env: { PATH: process.env.PATH ?? '', ...CHILD_ENV },
      encoding: 'utf8'
    })
    t.equal(run.status, ending === 'exit' ? 3 : 1)
    const lines = run.stdout.trim().split('\n')
    t.equal(lines.length, 1001)
    t.equal(lines[0], 'line 0')
    t.equal(lines[999], 'line 999')
    t.equal(lines[1000], 'last')
  })
}
