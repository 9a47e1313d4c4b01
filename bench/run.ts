// `npm run bench`: the upstream directly, a bare @fastify/http-proxy, tokengate and nginx (when
// installed) under the same autocannon load, interleaved round by round (A B C D, B C D A, …) so
// drift on a noisy machine hits all alike; then the refresh storm, its isolation from another
// credential's routes and the hot-path micro-benchmark.
// Prints medians and ratios, with the CPU time each server spent per request (robust to a busy
// machine); --json FILE writes everything measured; --compare runs another build as an A/B.
import { rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { startIdentityProvider, type IdentityProvider } from '../src/demo/identityProvider.js'
import { measureHotPath, median, type HotPathResult } from './hotPath.js'
import { findCallgrind, measureInstructions } from './instructions.js'
import { runLoad, type LoadResult } from './load.js'
import { findNginx, startNginx } from './nginx.js'
import { DIST, GATEWAY_ENTRY, GATEWAY_NODE_ARGS, RssSampler, mustStart, startNodeServer, treeCpuSeconds, workDir, type ServerProcess } from './processes.js'
import { seenAuthorization } from './seenAuthorization.js'
import { redisRefreshStorm, refreshStorm, type StormOutcome } from './storm.js'
import { printIsolation, stormIsolation, type IsolationResult } from './stormIsolation.js'
import { streamBench, type StreamRun } from './streams.js'

// `--json` alone writes to the default file (ignored by git).
const DEFAULT_JSON_FILE = 'bench-results.json'
const argv = process.argv.slice(2)
const jsonAt = argv.indexOf('--json')
if (jsonAt !== -1 && (jsonAt === argv.length - 1 || argv[jsonAt + 1].startsWith('--'))) argv.splice(jsonAt + 1, 0, DEFAULT_JSON_FILE)

const { values: args } = parseArgs({
  args: argv,
  options: {
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '2' },
    'log-level': { type: 'string', default: 'info' },
    'storm-requests': { type: 'string', default: '1000' },
    'idp-delay': { type: 'string', default: '100' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    'no-nginx': { type: 'boolean', default: false },
    'no-storm': { type: 'boolean', default: false },
    'isolation-only': { type: 'boolean', default: false },
    'isolation-burst': { type: 'string', default: '500' },
    'isolation-rounds': { type: 'string', default: '2' },
    routes: { type: 'string', default: '100' },
    instructions: { type: 'boolean', default: false },
    streams: { type: 'boolean', default: false },
    'streams-only': { type: 'boolean', default: false },
    'stream-counts': { type: 'string', default: '100,1000' },
    'stream-chunks': { type: 'string', default: '200' },
    'instructions-requests': { type: 'string', default: '3000' },
    compare: { type: 'string', multiple: true, default: [] },
    json: { type: 'string' },
    help: { type: 'boolean', default: false }
  }
})

if (args.help) {
  process.stdout.write(`npm run bench -- [options]
  --duration S        seconds of load per run (3)
  --rounds N          interleaved rounds, each starting one target later than the last (5)
  --connections N     autocannon connections, the same for every target (100)
  --warmup S          seconds of unrecorded load per target before the first round (2)
  --log-level L       LOG_LEVEL of both Fastify processes; nginx logs access lines at info and below (info)
  --storm-requests N  concurrent requests of the refresh storm (1000)
  --idp-delay MS      how long the identity provider takes to answer during the storm (100)
  --redis-url URL     Redis for the three-process storm (REDIS_URL or redis://127.0.0.1:6379)
  --no-nginx          leave nginx out even when installed
  --no-storm          leave the refresh storm and the storm isolation out
  --isolation-only    only the storm isolation: /b's latency under steady load while bursts on /a
                      meet an expired token (storm) or a valid one (control), alternating (~50 s)
  --isolation-burst N concurrent requests of one burst on /a (500)
  --isolation-rounds N control + storm pairs of 10 s phases (2)
  --routes N          also run tokengate configured by a file of N routes, each with its own
                      credential, loaded on one route in the middle (100; 0 leaves it out)
  --instructions      also count instructions per request under valgrind's callgrind for the bare
                      proxy, tokengate and --compare targets (two runs each, about 40 s a run)
  --instructions-requests N  requests counted per callgrind run (3000)
  --streams           also run the streams bench: chat-completion-shaped event streams (a ~100-byte
                      chunk every 20–50 ms) through direct, bare proxy, tokengate and nginx with
                      proxy_buffering off; CPU per chunk, chunk latency, TTFB, RSS per stream
  --streams-only      only the streams bench
  --stream-counts L   streams at once, comma-separated (100,1000; 5000 needs ulimit -n ≥ 12000)
  --stream-chunks N   chunks per stream (200)
  --compare NAME=PATH also run another build of the gateway (PATH to its server.js) as target NAME,
                      or NAME='FLAGS PATH' with these node flags instead of npm start's,
                      configured like tokengate: an A/B of a change in the same run
  --json [FILE]       also write the results as JSON (default ${DEFAULT_JSON_FILE})
`)
  process.exit(0)
}

const positive = (name: string, value: string): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
  return n
}
const durationSeconds = positive('duration', args.duration)
const rounds = Math.round(positive('rounds', args.rounds))
const connections = Math.round(positive('connections', args.connections))
const warmupSeconds = Number(args.warmup)
const logLevel = args['log-level']
const LOAD_PATH = '/v1/items?limit=8'
const ACCESS_LOG_LEVELS = ['trace', 'debug', 'info']

interface Target {
  name: string
  server: ServerProcess
  /** The Authorization header the upstream must see through this target. */
  expectAuthorization: string | null
}

const say = (line = ''): void => { process.stdout.write(`${line}\n`) }

/** What --json asked for, written to its file. */
function writeReport (file: string, report: object): void {
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  say(`\nwrote ${file}`)
}

/** "2 × AMD EPYC …": the cores and their model, as every report names the machine. */
const machineName = (): string => `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`

// /b's p99 while a storm runs on a, over its p99 without one (issue 15).
const ISOLATION_P99_RATIO_TARGET = 1.1

/** A TOKENGATE_CONFIG file of `count` routes `/r<i>`, each with a credential of its own, all to the bench upstream. */
function manyRoutesConfig (count: number, upstreamUrl: string, idp: IdentityProvider): { file: string, loadedPrefix: string, loadedToken: string } {
  const tokens = Array.from({ length: count }, () => idp.mint(24 * 3600))
  const loaded = Math.floor(count / 2)
  const definition = {
    credentials: Object.fromEntries(tokens.map((token, i) => [`c${i}`, { tokenUrl: idp.refreshUrl, accessToken: token, refreshToken: `rt_unused_${i}` }])),
    routes: tokens.map((_, i) => ({ path: `/r${i}`, upstream: upstreamUrl, credential: `c${i}` }))
  }
  const file = join(workDir('routes'), 'tokengate.json')
  writeFileSync(file, JSON.stringify(definition))
  return { file, loadedPrefix: `/r${loaded}`, loadedToken: tokens[loaded] }
}

async function streamsOnly (): Promise<void> {
  const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
  try {
    const started = new Date()
    const loadAtStart = loadavg()[0]
    say(`tokengate streams bench ${started.toISOString()}, Node ${process.version}, load average ${loadAtStart.toFixed(1)} at start`)
    const streams = await runStreams(idp)
    const loadAtEnd = loadavg()[0]
    say(`load average ${loadAtEnd.toFixed(1)} at the end`)
    if (args.json !== undefined) {
      const report = { date: started.toISOString(), node: process.version, machine: machineName(), loadAverage: { start: loadAtStart, end: loadAtEnd }, streams }
      writeReport(args.json, report)
    }
  } finally {
    await idp.close()
  }
}

async function isolationOnly (): Promise<void> {
  const started = Date.now()
  const loadAtStart = loadavg()[0]
  say(`tokengate storm isolation ${new Date(started).toISOString()}, LOG_LEVEL=${logLevel}, Node ${process.version}, load average ${loadAtStart.toFixed(1)} at start`)
  const upstream = await mustStart(await startNodeServer('upstream', `${DIST}/bench/upstream.js`, {}))
  try {
    const isolation = await runIsolation(upstream.url)
    printIsolation(isolation, say)
    say('\ntargets')
    const [what, met, value] = isolationCheck(isolation)
    say(`  ${met === true ? 'met ' : 'MISS'}  ${what}: ${value}`)
    const loadAtEnd = loadavg()[0]
    say(`load average ${loadAtEnd.toFixed(1)} at the end`)
    if (args.json !== undefined) {
      const report = { date: new Date(started).toISOString(), node: process.version, machine: machineName(), loadAverage: { start: loadAtStart, end: loadAtEnd }, logLevel, isolation }
      writeReport(args.json, report)
    }
  } finally {
    await upstream.stop()
    rmSync(dirname(upstream.logFile), { recursive: true, force: true })
  }
}

async function runIsolation (upstreamUrl: string): Promise<IsolationResult> {
  return stormIsolation({
    burst: Math.round(positive('isolation-burst', args['isolation-burst'])),
    rounds: Math.round(positive('isolation-rounds', args['isolation-rounds'])),
    idpDelayMs: Number(args['idp-delay']),
    upstreamUrl,
    logLevel,
    say
  })
}

// "Within noise" of one route: round-to-round CPU per request moves 5–10% on this kind of machine
// (docs/benchmarks.md), and the per-round ratio cancels most of it; 5% is the bound.
const MANY_ROUTES_CPU_BOUND = 1.05

function manyRoutesCheck (ratios: Record<string, number>): [string, boolean | null, string] {
  const name = Object.keys(ratios).find((key) => /^tokengate-\d+-routes\/tokengate CPU\/request$/.test(key))
  const what = `N routes and credentials: CPU per request ≤ ${MANY_ROUTES_CPU_BOUND}× one route's`
  if (name === undefined) return [what, null, 'not run (--routes 0)']
  return [what.replace('N', name.split('-')[1]), ratios[name] <= MANY_ROUTES_CPU_BOUND, fmt(ratios[name], 3)]
}

function isolationCheck (isolation: IsolationResult | null): [string, boolean | null, string] {
  const what = `/b p99 during a storm on a ≤ ${ISOLATION_P99_RATIO_TARGET}× without it`
  if (isolation === null) return [what, null, 'not run']
  return [what, isolation.bP99Ratio <= ISOLATION_P99_RATIO_TARGET,
    `${fmt(isolation.bP99Ratio, 3)}× (control phases' own spread ${fmt(isolation.controlP99Spread, 3)}×; ${fmt(isolation.medians.storm.aRefreshesPerBurst, 2)} refreshes of a per storm burst)`]
}

async function runStreams (idp: IdentityProvider): Promise<StreamRun[]> {
  const token = idp.mint(24 * 3600)
  const counts = args['stream-counts'].split(',').map((n) => Math.round(positive('stream-counts', n)))
  return streamBench({
    streams: counts,
    chunks: Math.round(positive('stream-chunks', args['stream-chunks'])),
    logLevel,
    token,
    gatewayEnv: (upstreamUrl) => ({ UPSTREAM_URL: upstreamUrl, AUTH_TOKEN: token, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: logLevel }),
    nginxBinary: args['no-nginx'] ? null : findNginx(),
    say
  })
}

async function main (): Promise<void> {
  const started = Date.now()
  const servers: ServerProcess[] = []
  const sampler = new RssSampler()
  const idp = await startIdentityProvider({ tokenTtlSeconds: 3600 })
  try {
    const machine = machineName()
    const loadAtStart = loadavg()[0]
    say(`tokengate bench ${new Date(started).toISOString()}: ${rounds} rounds × ${durationSeconds} s per target, ${connections} connections, LOG_LEVEL=${logLevel}, Node ${process.version}`)
    say(`machine: ${machine}; load average ${loadAtStart.toFixed(1)} at start`)
    const upstream = await mustStart(await startNodeServer('upstream', `${DIST}/bench/upstream.js`, {}))
    servers.push(upstream)
    // The Fastify processes, as they were started: callgrind starts them once more.
    const nodeTargets: Array<{ name: string, entry: string, env: Record<string, string>, nodeArgs: string[] }> = []
    const bareEnv = { UPSTREAM_URL: upstream.url, LOG_LEVEL: logLevel }
    nodeTargets.push({ name: 'bare-proxy', entry: `${DIST}/bench/bareProxy.js`, env: bareEnv, nodeArgs: [] })
    const bare = await mustStart(await startNodeServer('bare-proxy', `${DIST}/bench/bareProxy.js`, bareEnv))
    servers.push(bare)
    const token = idp.mint(24 * 3600)
    const gatewayEnv = {
      UPSTREAM_URL: upstream.url,
      AUTH_TOKEN: token,
      REFRESH_TOKEN: idp.validRefreshToken,
      TOKEN_REFRESH_URL: idp.refreshUrl,
      TOKEN_STORE: 'memory',
      HOST: '127.0.0.1',
      LOG_LEVEL: logLevel
    }
    nodeTargets.push({ name: 'tokengate', entry: GATEWAY_ENTRY, env: gatewayEnv, nodeArgs: GATEWAY_NODE_ARGS })
    const gateway = await mustStart(await startNodeServer('tokengate', GATEWAY_ENTRY, gatewayEnv, GATEWAY_NODE_ARGS))
    servers.push(gateway)
    const targets: Target[] = [
      { name: 'direct', server: upstream, expectAuthorization: 'Bearer client-credential' },
      { name: 'bare-proxy', server: bare, expectAuthorization: 'Bearer client-credential' },
      { name: 'tokengate', server: gateway, expectAuthorization: `Bearer ${token}` }
    ]
    const routeCount = Math.round(Number(args.routes))
    if (routeCount > 0) {
      // N routes and N credentials: a request's cost must not grow with either.
      const name = `tokengate-${routeCount}-routes`
      const config = manyRoutesConfig(routeCount, upstream.url, idp)
      const env = { TOKENGATE_CONFIG: config.file, TOKEN_STORE: 'memory', HOST: '127.0.0.1', LOG_LEVEL: logLevel }
      const many = await mustStart(await startNodeServer(name, GATEWAY_ENTRY, env, GATEWAY_NODE_ARGS))
      servers.push(many)
      targets.push({ name, server: { ...many, url: `${many.url}${config.loadedPrefix}` }, expectAuthorization: `Bearer ${config.loadedToken}` })
    }
    for (const spec of args.compare) {
      // NAME=PATH runs with npm start's node flags, NAME='FLAGS… PATH' with those instead: the
      // same build under other flags is an A/B too.
      const separator = spec.indexOf('=')
      const name = spec.slice(0, separator)
      const words = spec.slice(separator + 1).trim().split(/\s+/)
      const entry = words.pop()
      if (separator < 1 || !entry) throw new Error('--compare must be NAME=PATH or NAME=\'NODE-FLAGS PATH\'')
      const nodeArgs = words.length > 0 ? words : GATEWAY_NODE_ARGS
      nodeTargets.push({ name, entry, env: gatewayEnv, nodeArgs })
      const candidate = await mustStart(await startNodeServer(name, entry, gatewayEnv, nodeArgs))
      servers.push(candidate)
      targets.push({ name, server: candidate, expectAuthorization: `Bearer ${token}` })
    }
    const nginxBinary = args['no-nginx'] ? null : findNginx()
    if (nginxBinary !== null) {
      const nginx = await startNginx({ binary: nginxBinary, upstreamUrl: upstream.url, token, accessLog: ACCESS_LOG_LEVELS.includes(logLevel) })
      servers.push(nginx)
      targets.push({ name: 'nginx', server: nginx, expectAuthorization: `Bearer ${token}` })
    } else {
      say(args['no-nginx'] ? 'nginx: left out (--no-nginx)' : 'nginx: skipped (not installed)')
    }

    // Every target must really proxy, and the token-injecting ones must send our bearer.
    for (const target of targets) {
      const seen = await seenAuthorization(target.server.url)
      if (seen !== target.expectAuthorization) throw new Error(`${target.name}: the upstream saw authorization ${JSON.stringify(seen)}`)
    }

    const loadOptions = { connections, durationSeconds, path: LOAD_PATH }
    if (warmupSeconds > 0) {
      for (const target of targets) await runLoad(target.server.url, { ...loadOptions, durationSeconds: warmupSeconds })
    }
    const runs = new Map<string, MeasuredRun[]>(targets.map((target) => [target.name, []]))
    for (let round = 1; round <= rounds; round++) {
      // A B C D, then B C D A, …: no target always runs right after the same one.
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length])
      for (const target of order) {
        sampler.watch(target.name, target.server.pid)
        const cpuBefore = treeCpuSeconds(target.server.pid)
        const load = await runLoad(target.server.url, loadOptions)
        const result = { ...load, cpuMicrosPerRequest: (treeCpuSeconds(target.server.pid) - cpuBefore) * 1e6 / load.requests }
        sampler.stop()
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
        runs.get(target.name)!.push(result)
        say(`  round ${round}/${rounds}  ${target.name.padEnd(10)} ${fmt(result.requestsPerSecond, 0).padStart(7)} req/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  ${fmt(result.cpuMicrosPerRequest, 0)} µs CPU/request`)
      }
    }
    await Promise.all(servers.splice(0).filter((server) => server !== upstream).map((server) => server.stop()))

    let instructions: Record<string, number[]> | null = null
    if (args.instructions) {
      if (findCallgrind()) {
        instructions = Object.fromEntries(nodeTargets.map((target) => [target.name, []]))
        const counted = Math.round(positive('instructions-requests', args['instructions-requests']))
        say(`instructions per request (callgrind): ${counted} requests per run after ${counted} unrecorded, 10 connections`)
        for (let run = 1; run <= 2; run++) {
          for (const target of nodeTargets) {
            const perRequest = await measureInstructions({ ...target, warmupRequests: counted, requests: counted, connections: 10, path: LOAD_PATH })
            instructions[target.name].push(perRequest)
            say(`  run ${run}/2  ${target.name.padEnd(10)} ${fmt(perRequest, 0)} instructions/request`)
          }
        }
      } else {
        say('instructions: skipped (valgrind and callgrind_control not installed)')
      }
    }

    let storm: StormOutcome | null = null
    let redisStorm: StormOutcome | null = null
    let isolation: IsolationResult | null = null
    if (!args['no-storm']) {
      const stormOptions = { requests: Math.round(positive('storm-requests', args['storm-requests'])), idpDelayMs: Number(args['idp-delay']), upstreamUrl: upstream.url, logLevel }
      say(`refresh storm: ${stormOptions.requests} concurrent requests on an expired token, identity provider answering in ${stormOptions.idpDelayMs} ms`)
      storm = await refreshStorm(stormOptions)
      redisStorm = await redisRefreshStorm(stormOptions, args['redis-url'])
      isolation = await runIsolation(upstream.url)
    }
    await upstream.stop()

    say('hot path: getValidAccessToken() on a valid cached token')
    const hotPath = await measureHotPath()

    const summary = summarise(targets.map((target) => target.name), runs, sampler.peakBytes)
    printReport(summary, storm, redisStorm, isolation, hotPath)
    if (instructions !== null) printInstructions(instructions)
    let streams: StreamRun[] | null = null
    if (args.streams) {
      say()
      streams = await runStreams(idp)
    }
    const loadAtEnd = loadavg()[0]
    say(`load average ${loadAtEnd.toFixed(1)} at the end (other work on the machine shows as noise)`)
    if (args.json !== undefined) {
      const report = {
        date: new Date(started).toISOString(),
        node: process.version,
        machine,
        loadAverage: { start: loadAtStart, end: loadAtEnd },
        settings: { rounds, durationSeconds, connections, warmupSeconds, logLevel, path: LOAD_PATH },
        runs: Object.fromEntries(runs),
        ...summary,
        storm,
        redisStorm,
        isolation,
        hotPath,
        instructions,
        streams
      }
      writeReport(args.json, report)
    }
  } finally {
    sampler.stop()
    await Promise.all(servers.map((server) => server.stop()))
    for (const server of servers) rmSync(dirname(server.logFile), { recursive: true, force: true })
    await idp.close()
  }
}

interface MeasuredRun extends LoadResult {
  /** CPU time (user + system) of the server's process per request served: robust to a busy machine. */
  cpuMicrosPerRequest: number
}

interface Summary {
  medians: Record<string, { requestsPerSecond: number, p50Ms: number, p99Ms: number, cpuMicrosPerRequest: number, peakRssMb: number }>
  /** Each ratio is the median of the per-round ratios: a round's targets ran back to back. */
  ratios: Record<string, number>
}

function summarise (names: string[], runs: Map<string, MeasuredRun[]>, peaks: Map<string, number>): Summary {
  const medians: Summary['medians'] = {}
  for (const name of names) {
    const results = runs.get(name)!
    medians[name] = {
      requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
      p50Ms: median(results.map((r) => r.p50Ms)),
      p99Ms: median(results.map((r) => r.p99Ms)),
      cpuMicrosPerRequest: median(results.map((r) => r.cpuMicrosPerRequest)),
      peakRssMb: (peaks.get(name) ?? 0) / 1024 / 1024
    }
  }
  const perRound = (a: string, b: string, field: 'requestsPerSecond' | 'p99Ms' | 'cpuMicrosPerRequest'): number =>
    median(runs.get(a)!.map((run, i) => run[field] / runs.get(b)![i][field]))
  const ratios: Summary['ratios'] = {
    'tokengate/bare-proxy req/s': perRound('tokengate', 'bare-proxy', 'requestsPerSecond'),
    'tokengate/bare-proxy p99': perRound('tokengate', 'bare-proxy', 'p99Ms'),
    'tokengate/bare-proxy CPU/request': perRound('tokengate', 'bare-proxy', 'cpuMicrosPerRequest'),
    'tokengate/direct req/s': perRound('tokengate', 'direct', 'requestsPerSecond'),
    'bare-proxy/direct req/s': perRound('bare-proxy', 'direct', 'requestsPerSecond')
  }
  if (runs.has('nginx')) {
    ratios['tokengate/nginx req/s'] = perRound('tokengate', 'nginx', 'requestsPerSecond')
    ratios['nginx/direct req/s'] = perRound('nginx', 'direct', 'requestsPerSecond')
    ratios['tokengate/nginx CPU/request'] = perRound('tokengate', 'nginx', 'cpuMicrosPerRequest')
  }
  for (const name of names.filter((n) => !['direct', 'bare-proxy', 'tokengate', 'nginx'].includes(n))) {
    ratios[`${name}/tokengate req/s`] = perRound(name, 'tokengate', 'requestsPerSecond')
    ratios[`${name}/bare-proxy req/s`] = perRound(name, 'bare-proxy', 'requestsPerSecond')
    ratios[`${name}/bare-proxy p99`] = perRound(name, 'bare-proxy', 'p99Ms')
    ratios[`${name}/tokengate CPU/request`] = perRound(name, 'tokengate', 'cpuMicrosPerRequest')
  }
  return { medians, ratios }
}

function printInstructions (instructions: Record<string, number[]>): void {
  say('\ninstructions per request (callgrind, user space of all threads; median of 2 runs)')
  const bare = median(instructions['bare-proxy'])
  for (const [name, runs] of Object.entries(instructions)) {
    say(`  ${name.padEnd(12)} ${fmt(median(runs), 0).padStart(9)}  ${(median(runs) / bare).toFixed(3)}× bare proxy  (runs: ${runs.map((n) => fmt(n, 0)).join(', ')})`)
  }
}

function fmt (n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function printReport (summary: Summary, storm: StormOutcome | null, redisStorm: StormOutcome | null, isolation: IsolationResult | null, hotPath: HotPathResult): void {
  const { medians, ratios } = summary
  const bare = medians['bare-proxy']
  const direct = medians.direct
  say('\nmedians of the rounds (ratios: median of the per-round ratios)')
  say('| target | req/s | p50 ms | p99 ms | CPU µs/request | peak RSS MB | req/s vs bare proxy | req/s vs direct |')
  say('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const [name, m] of Object.entries(medians)) {
    say(`| ${name} | ${fmt(m.requestsPerSecond, 0)} | ${m.p50Ms} | ${m.p99Ms} | ${fmt(m.cpuMicrosPerRequest, 0)} | ${fmt(m.peakRssMb, 1)} | ${fmt(m.requestsPerSecond / bare.requestsPerSecond, 2)}× | ${fmt(m.requestsPerSecond / direct.requestsPerSecond, 2)}× |`)
  }
  say('')
  for (const [name, value] of Object.entries(ratios)) say(`${name.padEnd(28)} ${fmt(value, 3)}`)

  const stormLine = (label: string, outcome: StormOutcome | null): void => {
    if (outcome === null) return
    if ('skipped' in outcome) return say(`${label}: skipped: ${outcome.skipped}`)
    say(`${label}: ${outcome.requests} requests, ${outcome.ok} × 200, identity-provider calls ${outcome.identityProviderCalls}, p50 ${fmt(outcome.p50Ms, 1)} ms, p99 ${fmt(outcome.p99Ms, 1)} ms, max ${fmt(outcome.maxMs, 1)} ms`)
  }
  say('')
  stormLine('refresh storm, 1 process', storm)
  stormLine('refresh storm, 3 processes + Redis', redisStorm)
  if (isolation !== null) printIsolation(isolation, say)
  say(`hot path: ${fmt(hotPath.opsPerSecond / 1e6, 1)} M ops/s (${fmt(hotPath.nsPerOp, 0)} ns per getValidAccessToken())`)

  const gate = medians.tokengate
  const checks: Array<[string, boolean | null, string]> = [
    // Issue 15's targets: the ratios are medians of the per-round ratios of one run.
    ['tokengate ≥ 1.4× bare proxy req/s', ratios['tokengate/bare-proxy req/s'] >= 1.4, fmt(ratios['tokengate/bare-proxy req/s'], 3)],
    ['tokengate ≥ 0.45× nginx req/s', ratios['tokengate/nginx req/s'] === undefined ? null : ratios['tokengate/nginx req/s'] >= 0.45,
      ratios['tokengate/nginx req/s'] === undefined ? 'no nginx' : fmt(ratios['tokengate/nginx req/s'], 3)],
    ['tokengate p99 ≤ 0.9× bare proxy p99', ratios['tokengate/bare-proxy p99'] <= 0.9, fmt(ratios['tokengate/bare-proxy p99'], 3)],
    ['tokengate peak RSS ≤ bare proxy peak RSS', gate.peakRssMb <= bare.peakRssMb, `${fmt(gate.peakRssMb, 1)} MB against ${fmt(bare.peakRssMb, 1)} MB`],
    manyRoutesCheck(ratios),
    ['one identity-provider call per storm', storm === null || 'skipped' in storm ? null : storm.identityProviderCalls === 1 && storm.failed === 0,
      storm === null || 'skipped' in storm ? 'not run' : `${storm.identityProviderCalls} call(s), ${storm.failed} failed`],
    ['one identity-provider call per storm, 3 processes', redisStorm === null || 'skipped' in redisStorm ? null : redisStorm.identityProviderCalls === 1 && redisStorm.failed === 0,
      redisStorm === null || 'skipped' in redisStorm ? 'not run' : `${redisStorm.identityProviderCalls} call(s), ${redisStorm.failed} failed`],
    isolationCheck(isolation),
    ['hot path ≥ 5 M ops/s', hotPath.opsPerSecond >= 5e6, `${fmt(hotPath.opsPerSecond / 1e6, 1)} M`],
    ['tokengate peak RSS ≤ 120 MB (earlier target, absolute)', gate.peakRssMb <= 120, `${fmt(gate.peakRssMb, 1)} MB`]
  ]
  say('\ntargets')
  for (const [what, met, value] of checks) say(`  ${met === null ? 'n/a ' : met ? 'met ' : 'MISS'}  ${what}: ${value}`)
  say(`\nbare proxy ${fmt(bare.requestsPerSecond / direct.requestsPerSecond, 2)}× direct; tokengate ${fmt(gate.requestsPerSecond / direct.requestsPerSecond, 2)}× direct`)
}

await (args['streams-only'] ? streamsOnly() : args['isolation-only'] ? isolationOnly() : main())
