// Storm isolation (issue 15): a refresh storm on one credential must not move the p99 of another
// credential's routes. One gateway, credentials a and b, routes /a and /b to the same upstream.
// /b carries a steady load the whole time; /a gets a burst of N requests every second. a's
// tokens live one second and are renewed the moment they expire (expiryBuffer 0), so its token
// expires on every whole second. A "storm" phase sends each burst just after a whole second: it
// meets the expired token and waits on the refresh. A "control" phase sends the same bursts half
// a second later, on a valid token. a is refreshed every second in both phases: they differ only
// in whether the burst waits on that refresh. Phases alternate, since the machine is noisy.
import { rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { startIdentityProvider, type IdentityProvider } from '../src/demo/identityProvider.js'
import { median } from './hotPath.js'
import { GATEWAY_ENTRY, GATEWAY_NODE_ARGS, mustStart, sleep, startNodeServer, workDir, type ServerProcess } from './processes.js'
import { seenAuthorization } from './seenAuthorization.js'

export interface IsolationOptions {
  /** Concurrent requests of one burst on /a, one per pre-opened connection. */
  burst: number
  /** Control + storm pairs. */
  rounds: number
  idpDelayMs: number
  upstreamUrl: string
  logLevel: string
  say: (line: string) => void
}

export type Phase = 'control' | 'storm'

export interface PhaseRun {
  phase: Phase
  round: number
  b: LatencySummary & { requests: number }
  a: LatencySummary & { requests: number, ok: number, bursts: number }
  /** Refreshes of a the identity provider answered while a burst was in flight. */
  aRefreshesDuringBursts: number
  /**
   * p99 of this process's event-loop delay: the load generator shares the machine and its own
   * stalls (sending and reading a burst) count in /b's latencies, in both phases alike.
   */
  clientLoopDelayP99Ms: number
}

interface LatencySummary {
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface IsolationResult {
  settings: { burst: number, rounds: number, idpDelayMs: number, phaseSeconds: number, steadyRatePerSecond: number, steadyConnections: number }
  runs: PhaseRun[]
  /** Medians over the phases of each kind. */
  medians: Record<Phase, { b: LatencySummary, aOk: number, aRequests: number, aP50Ms: number, aRefreshesPerBurst: number }>
  /** Median of the per-round ratios storm / control of /b's p99. */
  bP99Ratio: number
  /** Highest / lowest /b p99 among the control phases: the noise the ratio has to be read against. */
  controlP99Spread: number
  /** Calls to b's identity provider over the whole run (b's token lives for hours: 0). */
  bIdentityProviderCalls: number
}

const PHASE_SECONDS = 10
// A fixed rate, not a closed loop: a stall delays the requests sent meanwhile instead of
// silencing them, so it weighs in the percentiles as it would for real clients.
const STEADY_RATE_PER_SECOND = 200
const STEADY_CONNECTIONS = 10
// a's token expires on every whole second; the refresh that follows takes idpDelayMs. A storm
// burst leaves shortly after the second, well inside that refresh; a control burst half a
// second later, when the next token has been in hand for a while and the one after is far off.
const TOKEN_TTL_S = 1
const STORM_OFFSET_MS = 10
const CONTROL_OFFSET_MS = 500
const WARMUP_SECONDS = 2

export async function stormIsolation (options: IsolationOptions): Promise<IsolationResult> {
  const idpA = await startIdentityProvider({ delayMs: options.idpDelayMs, tokenTtlSeconds: TOKEN_TTL_S })
  const idpB = await startIdentityProvider({ delayMs: options.idpDelayMs, tokenTtlSeconds: 6 * 3600 })
  let gateway: ServerProcess | null = null
  const pools: Pool[] = []
  const configDir = workDir('isolation')
  try {
    const initialA = idpA.mint()
    const tokenB = idpB.mint()
    const definition = {
      credentials: {
        // No early refresh: a's token is used up to its exp, so a burst right after it waits.
        a: { tokenUrl: idpA.refreshUrl, accessToken: initialA, refreshToken: idpA.validRefreshToken, expiryBuffer: 0 },
        b: { tokenUrl: idpB.refreshUrl, accessToken: tokenB, refreshToken: idpB.validRefreshToken }
      },
      routes: [
        { path: '/a', upstream: options.upstreamUrl, credential: 'a' },
        { path: '/b', upstream: options.upstreamUrl, credential: 'b' }
      ]
    }
    const config = join(configDir, 'tokengate.json')
    writeFileSync(config, JSON.stringify(definition))
    gateway = await mustStart(await startNodeServer('isolation-gateway', GATEWAY_ENTRY,
      { TOKENGATE_CONFIG: config, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: options.logLevel }, GATEWAY_NODE_ARGS))

    const burstPool = new Pool(gateway.url, { connections: options.burst, keepAliveTimeout: 120_000 })
    const steadyPool = new Pool(gateway.url, { connections: STEADY_CONNECTIONS, keepAliveTimeout: 120_000 })
    pools.push(burstPool, steadyPool)

    // Each route must reach the upstream with its own credential's bearer; a's changes every second.
    const seenA = await seenAuthorization(`${gateway.url}/a`)
    if (seenA === null || ![initialA, ...idpA.issued].some((token) => seenA === `Bearer ${token}`)) throw new Error(`/a: the upstream saw authorization ${JSON.stringify(seenA)}, not one of a's tokens`)
    const seenB = await seenAuthorization(`${gateway.url}/b`)
    if (seenB !== `Bearer ${tokenB}`) throw new Error(`/b: the upstream saw authorization ${JSON.stringify(seenB)}, not b's token`)

    // One keep-alive connection per burst request, opened beforehand on a route that needs no
    // token, so a burst measures the gateway and not a few hundred TCP handshakes.
    await Promise.all(Array.from({ length: options.burst }, async () => {
      const { body } = await burstPool.request({ method: 'GET', path: '/health/live' })
      await body.dump()
    }))
    if (idpA.calls.length === 0) await waitFor(() => idpA.calls.length > 0, 3000, 'a\'s first refresh')

    const measure = async (phase: Phase, seconds: number): Promise<Omit<PhaseRun, 'round'>> =>
      runPhase(phase, seconds * 1000, { burstPool, steadyPool, idpA, burst: options.burst })
    options.say(`storm isolation: /b at ${STEADY_RATE_PER_SECOND} requests/s over ${STEADY_CONNECTIONS} connections, ${PHASE_SECONDS} s a phase; ` +
      `a burst of ${options.burst} on /a every second, a's token expiring every second, identity providers answering in ${options.idpDelayMs} ms`)
    // Both paths warmed up, so the first measured phase does not pay for the compiler.
    await measure('control', WARMUP_SECONDS)
    await measure('storm', WARMUP_SECONDS)
    const runs: PhaseRun[] = []
    for (let round = 1; round <= options.rounds; round++) {
      for (const phase of ['control', 'storm'] as const) {
        const run = { ...await measure(phase, PHASE_SECONDS), round }
        if (run.b.requests === 0) throw new Error(`/b: no request answered in the ${phase} phase`)
        runs.push(run)
        options.say(`  round ${round}/${options.rounds}  ${phase.padEnd(7)}  /b p50 ${ms(run.b.p50Ms)} p99 ${ms(run.b.p99Ms)} max ${ms(run.b.maxMs)} ms;  ` +
          `/a ${run.a.ok}/${run.a.requests} × 200 in ${run.a.bursts} bursts, p50 ${ms(run.a.p50Ms)} ms, ${run.aRefreshesDuringBursts} refreshes of a during the bursts; ` +
          `this process's event-loop delay p99 ${ms(run.clientLoopDelayP99Ms)} ms`)
      }
    }
    return summarise(runs, options, idpB.calls.length)
  } finally {
    await Promise.all(pools.map((pool) => pool.destroy()))
    await gateway?.stop()
    if (gateway !== null) rmSync(dirname(gateway.logFile), { recursive: true, force: true })
    rmSync(configDir, { recursive: true, force: true })
    await idpA.close()
    await idpB.close()
  }
}

interface PhaseContext {
  burstPool: Pool
  steadyPool: Pool
  idpA: IdentityProvider
  burst: number
}

async function runPhase (phase: Phase, durationMs: number, context: PhaseContext): Promise<Omit<PhaseRun, 'round'>> {
  const loopDelay = monitorEventLoopDelay({ resolution: 5 })
  loopDelay.enable()
  const startedAt = Date.now()
  const steady = steadyLoad(context.steadyPool, '/b/v1/items?limit=8', durationMs)
  const offsetMs = phase === 'storm' ? STORM_OFFSET_MS : CONTROL_OFFSET_MS
  const aLatencies: number[] = []
  let ok = 0
  let bursts = 0
  let refreshes = 0
  // One burst a whole second (plus the offset), the same number in both phases, the last one
  // leaving at least half a second before the steady load ends.
  const firstSecond = Math.ceil(startedAt / 1000) * 1000
  const burstCount = Math.max(1, Math.floor(durationMs / 1000) - 1)
  for (let k = 0; k < burstCount; k++) {
    await sleep(firstSecond + k * 1000 + offsetMs - Date.now())
    const callsBefore = context.idpA.calls.length
    const outcomes = await Promise.all(Array.from({ length: context.burst }, async (_, i) => {
      const sent = performance.now()
      try {
        const { statusCode, body } = await context.burstPool.request({ method: 'GET', path: `/a/burst/${i}` })
        await body.dump()
        return { ok: statusCode === 200, ms: performance.now() - sent }
      } catch {
        return { ok: false, ms: performance.now() - sent }
      }
    }))
    refreshes += context.idpA.calls.length - callsBefore
    bursts++
    for (const outcome of outcomes) {
      aLatencies.push(outcome.ms)
      if (outcome.ok) ok++
    }
  }
  const b = await steady
  loopDelay.disable()
  if (b.failed > 0) throw new Error(`/b: ${b.failed} requests failed or answered other than 200 in the ${phase} phase`)
  return {
    phase,
    b: { ...latencySummary(b.latencies), requests: b.latencies.length },
    a: { ...latencySummary(aLatencies), requests: aLatencies.length, ok, bursts },
    aRefreshesDuringBursts: refreshes,
    clientLoopDelayP99Ms: loopDelay.percentile(99) / 1e6
  }
}

/** GET path at the steady rate for durationMs; each latency from the moment the request was issued. */
async function steadyLoad (pool: Pool, path: string, durationMs: number): Promise<{ latencies: number[], failed: number }> {
  const latencies: number[] = []
  let failed = 0
  const inFlight: Array<Promise<void>> = []
  const intervalMs = 1000 / STEADY_RATE_PER_SECOND
  const start = performance.now()
  for (let i = 0; i * intervalMs < durationMs; i++) {
    // Behind schedule (this process was busy): the requests due go out at once, the rate holds.
    const waitMs = start + i * intervalMs - performance.now()
    if (waitMs > 0) await sleep(waitMs)
    inFlight.push((async () => {
      const sent = performance.now()
      try {
        const { statusCode, body } = await pool.request({ method: 'GET', path })
        await body.dump()
        if (statusCode !== 200) failed++
      } catch {
        failed++
      }
      latencies.push(performance.now() - sent)
    })())
  }
  await Promise.all(inFlight)
  return { latencies, failed }
}

function summarise (runs: PhaseRun[], options: IsolationOptions, bIdentityProviderCalls: number): IsolationResult {
  const of = (phase: Phase): PhaseRun[] => runs.filter((run) => run.phase === phase)
  const mediansOf = (phase: Phase): IsolationResult['medians'][Phase] => {
    const phaseRuns = of(phase)
    return {
      b: { p50Ms: median(phaseRuns.map((run) => run.b.p50Ms)), p99Ms: median(phaseRuns.map((run) => run.b.p99Ms)), maxMs: median(phaseRuns.map((run) => run.b.maxMs)) },
      aOk: median(phaseRuns.map((run) => run.a.ok)),
      aRequests: median(phaseRuns.map((run) => run.a.requests)),
      aP50Ms: median(phaseRuns.map((run) => run.a.p50Ms)),
      aRefreshesPerBurst: median(phaseRuns.map((run) => run.aRefreshesDuringBursts / run.a.bursts))
    }
  }
  const controls = of('control').map((run) => run.b.p99Ms)
  // Each storm phase ran right after its control phase: their ratio cancels most of the drift.
  const ratios = of('storm').map((storm) => storm.b.p99Ms / of('control').find((control) => control.round === storm.round)!.b.p99Ms)
  return {
    settings: { burst: options.burst, rounds: options.rounds, idpDelayMs: options.idpDelayMs, phaseSeconds: PHASE_SECONDS, steadyRatePerSecond: STEADY_RATE_PER_SECOND, steadyConnections: STEADY_CONNECTIONS },
    runs,
    medians: { control: mediansOf('control'), storm: mediansOf('storm') },
    bP99Ratio: median(ratios),
    controlP99Spread: Math.max(...controls) / Math.min(...controls),
    bIdentityProviderCalls
  }
}

/** The table the bench prints; medians over the phases of each kind. */
export function printIsolation (result: IsolationResult, say: (line: string) => void): void {
  say(`\nstorm isolation: medians of ${result.settings.rounds} phases each (latencies in ms)`)
  say('| phase | /b p50 | /b p99 | /b max | /a × 200 per phase | /a p50 | refreshes of a per burst |')
  say('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const phase of ['control', 'storm'] as const) {
    const m = result.medians[phase]
    say(`| ${phase} | ${ms(m.b.p50Ms)} | ${ms(m.b.p99Ms)} | ${ms(m.b.maxMs)} | ${m.aOk}/${m.aRequests} | ${ms(m.aP50Ms)} | ${m.aRefreshesPerBurst.toFixed(2)} |`)
  }
  say(`/b p99 storm / control ${result.bP99Ratio.toFixed(3)} (median of the per-round ratios); control phases' p99 spread ${result.controlP99Spread.toFixed(3)}× ` +
    `(highest / lowest); calls to b's identity provider ${result.bIdentityProviderCalls}`)
}

async function waitFor (condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await sleep(20)
  }
}

function latencySummary (latencies: number[]): LatencySummary {
  const sorted = [...latencies].sort((x, y) => x - y)
  return {
    p50Ms: median(sorted),
    p99Ms: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)],
    maxMs: sorted[sorted.length - 1]
  }
}

function ms (value: number): string {
  return value.toFixed(1)
}
