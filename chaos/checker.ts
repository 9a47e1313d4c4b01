// The chaos run's checker: reads the recorded history and lists every violation of the promises
// tokengate makes about rotating refresh tokens shared by replicas.
import type { ProviderCall } from './provider.js'

export interface StoreObservation { at: number, version: number, refreshToken: string }
export interface ClientOutcome { at: number, replica: string, status: number, ms: number }
export interface FaultWindow { kind: string, start: number, end: number, replica: string | null }
export interface History {
  calls: ProviderCall[]
  store: StoreObservation[]
  announced: Array<{ at: number, version: number }>
  clients: ClientOutcome[]
  faults: FaultWindow[]
  expiredServed: Array<{ at: number, exp: number }>
  revokedFamilies: number
  endedAt: number
}

/**
 * How long after a fault a client may still fail: one backoff of the gateway's retry policy
 * (500 ms base, doubled once) plus a restarted replica's first store read.
 */
export const GRACE_MS = 2_000

/** `kinds`: every fault kind the run can inject, so that one never injected shows as 0. */
export function check (history: History, kinds: readonly string[] = []): { rotations: number, violations: string[], report: string[] } {
  const violations: string[] = []
  const ok = history.calls.filter((c) => c.outcome === 'ok')

  // A refresh token presented again after the provider committed its rotation, or one it never issued.
  for (const call of history.calls) {
    if (call.outcome === 'reuse') violations.push(`refresh token presented twice (call ${call.id} by ${call.replica})`)
    if (call.outcome === 'unknown' || call.outcome === 'revoked') violations.push(`call ${call.id} by ${call.replica} presented a ${call.outcome} refresh token`)
  }
  if (history.revokedFamilies > 0) violations.push(`${history.revokedFamilies} token family revoked`)

  // Versions never go back: neither what was announced nor what Redis was seen to hold.
  for (let i = 1; i < history.announced.length; i++) {
    if (history.announced[i]!.version <= history.announced[i - 1]!.version) violations.push(`announced version ${history.announced[i]!.version} after ${history.announced[i - 1]!.version}`)
  }
  for (let i = 1; i < history.store.length; i++) {
    if (history.store[i]!.version < history.store[i - 1]!.version) violations.push(`stored version went back from ${history.store[i - 1]!.version} to ${history.store[i]!.version}`)
  }

  for (const served of history.expiredServed) violations.push(`a client was served with an expired or unknown token at ${new Date(served.at).toISOString()}`)

  // One provider call per rotation beyond retries: every committed rotation's refresh token must
  // reach the store (or be presented next); a rotation that is lost forces a second one.
  const stored = new Set(history.store.map((s) => s.refreshToken))
  const presented = new Set(history.calls.map((c) => c.presented))
  for (const call of ok) {
    if (!stored.has(call.returned!) && !presented.has(call.returned!)) violations.push(`rotation of call ${call.id} by ${call.replica} was lost (its refresh token never stored nor presented)`)
  }

  // Client errors outside every fault window (extended by GRACE_MS) are violations.
  // A request covers its whole life: one sent just before a replica was stopped fails in the window.
  const covers = (w: FaultWindow, o: ClientOutcome): boolean => (w.replica === null || w.replica === o.replica) && o.at + o.ms >= w.start && o.at <= w.end + GRACE_MS
  const worst = new Map<string, { errors: number, longestMs: number }>()
  let failed = 0
  for (const outcome of history.clients) {
    if (outcome.status === 200) continue
    failed++
    // The latest fault that covers it is the one to blame (a window's grace overlaps the next).
    const window = history.faults.filter((w) => covers(w, outcome)).at(-1)
    if (window === undefined) {
      violations.push(`client request to ${outcome.replica} at ${new Date(outcome.at).toISOString()} failed (${outcome.status === 0 ? 'no answer' : outcome.status}) outside any fault window`)
      continue
    }
    const entry = worst.get(window.kind) ?? { errors: 0, longestMs: 0 }
    entry.errors++
    entry.longestMs = Math.max(entry.longestMs, outcome.at + outcome.ms - window.start)
    worst.set(window.kind, entry)
  }

  const report: string[] = []
  const injected = new Map<string, number>(kinds.map((kind) => [kind, 0]))
  for (const w of history.faults) injected.set(w.kind, (injected.get(w.kind) ?? 0) + 1)
  report.push('| fault kind | injected | failed client requests in its windows | longest impact (ms from fault start) |', '| --- | --- | --- | --- |')
  for (const [kind, count] of [...injected].sort()) {
    const w = worst.get(kind)
    report.push(`| ${kind} | ${count} | ${w?.errors ?? 0} | ${w?.longestMs ?? 0} |`)
  }
  const outcomes = new Map<string, number>()
  for (const call of history.calls) outcomes.set(call.outcome, (outcomes.get(call.outcome) ?? 0) + 1)
  report.push('', `provider calls: ${history.calls.length} (${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')})`)
  report.push(`store versions observed: ${history.store.length} (last ${history.store.at(-1)?.version ?? 'none'}), announced: ${history.announced.length}`)
  report.push(`client requests: ${history.clients.length}, failed: ${failed}`)
  report.push(`violations: ${violations.length}`)
  for (const v of violations.slice(0, 30)) report.push(`  - ${v}`)
  if (violations.length > 30) report.push(`  … and ${violations.length - 30} more`)
  return { rotations: ok.length, violations, report }
}
