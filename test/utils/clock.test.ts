// The real clock and sleep the core uses when nothing is injected, and the silent logger.
import t from 'tap'
import { realSleep, systemClock } from '../../src/utils/clock.js'
import { silentLogger } from '../../src/utils/logger.js'

t.test('systemClock is Date.now', async (t) => {
  const before = Date.now()
  const read = systemClock()
  t.ok(read >= before && read <= Date.now())
})

t.test('realSleep waits at least the given time', async (t) => {
  // realSleep's timer is unref'd, so something else must keep this process alive meanwhile.
  const keepAlive = setTimeout(() => {}, 5_000)
  const started = performance.now()
  await realSleep(20)
  clearTimeout(keepAlive)
  t.ok(performance.now() - started >= 19, 'slept ~20 ms')
})

t.test('realSleep does not keep the process alive', async (t) => {
  // The timer is unref'd: a child process that only sleeps exits without waiting for it.
  const { spawnSync } = await import('node:child_process')
  // The compiled module (npm test builds dist/ first), so the child needs no TypeScript loader.
  const script = "import('" + new URL('../../dist/src/utils/clock.js', import.meta.url).href + "').then((m) => { m.realSleep(60000) })"
  const started = Date.now()
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH, _TAPJS_PROCESSINFO_COVERAGE_: '0' } })
  t.equal(result.status, 0, result.stderr)
  t.ok(Date.now() - started < 30_000, 'exited long before the 60 s sleep')
})

t.test('silentLogger accepts both call shapes and does nothing', async (t) => {
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    t.equal(silentLogger[level]('message'), undefined)
    t.equal(silentLogger[level]({ field: 1 }, 'message'), undefined)
  }
})
