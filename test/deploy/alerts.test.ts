// The alert rules README.md documents, checked and run by Prometheus' own promtool: valid rules,
// silent for a healthy gateway with 90-second tokens (a threshold on expires_in fired for ever
// there), firing when a token stays past its refresh time or no usable token is held.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/process.js'

function promtool (): string | null {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' })
    return 'promtool'
  } catch {
    return null
  }
}

const rules = /### Alerts[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))?.[1]

t.test('the README\'s alert rules, under promtool', { skip: promtool() === null ? 'promtool is not installed (Debian\'s prometheus package brings it)' : false }, async (t) => {
  t.ok(rules, 'README.md has the rules')
  const folder = mkdtempSync(join(tmpdir(), 'tokengate-alerts-'))
  writeFileSync(join(folder, 'rules.yml'), rules!)
  t.match(execFileSync('promtool', ['check', 'rules', join(folder, 'rules.yml')], { encoding: 'utf8' }), /SUCCESS: 4 rules found/)

  // Every 15 s for 5 minutes. A healthy gateway with 90-second tokens: renewed at half its life,
  // never past its refresh time for long. Then one whose refreshes stopped working.
  const healthy90s = Array.from({ length: 21 }, (_, i) => 90 - (i % 3) * 15).join(' ')
  const failing = Array.from({ length: 21 }, (_, i) => Math.max(0, 45 - i * 15)).join(' ')
  const overdue = Array.from({ length: 21 }, (_, i) => i * 15).join(' ')
  writeFileSync(join(folder, 'tests.yml'), `rule_files: [rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - { series: 'tokengate_token_expires_in_seconds{instance="gw"}', values: '${healthy90s}' }
      - { series: 'tokengate_token_refresh_overdue_seconds{instance="gw"}', values: '0x20' }
      - { series: 'tokengate_token_refresh_consecutive_failures{instance="gw"}', values: '0x20' }
      - { series: 'tokengate_token_refresh_token_rejected{instance="gw"}', values: '0x20' }
    alert_rule_test:
      - { eval_time: 5m, alertname: TokengateTokenRefreshOverdue, exp_alerts: [] }
      - { eval_time: 5m, alertname: TokengateTokenExpired, exp_alerts: [] }
  - interval: 15s
    input_series:
      - { series: 'tokengate_token_expires_in_seconds{instance="gw"}', values: '${failing}' }
      - { series: 'tokengate_token_refresh_overdue_seconds{instance="gw"}', values: '${overdue}' }
    alert_rule_test:
      - { eval_time: 45s, alertname: TokengateTokenRefreshOverdue, exp_alerts: [] }
      - eval_time: 75s
        alertname: TokengateTokenRefreshOverdue
        exp_alerts:
          - exp_labels: { severity: warning, instance: gw }
            exp_annotations: { summary: 'tokengate gw: the upstream token is 75 s past its refresh time and not renewed' }
      - eval_time: 3m
        alertname: TokengateTokenExpired
        exp_alerts:
          - exp_labels: { severity: critical, instance: gw }
            exp_annotations: { summary: 'tokengate gw: no usable upstream token; requests get 503 token_unavailable' }
`)
  let output: string
  try {
    output = execFileSync('promtool', ['test', 'rules', join(folder, 'tests.yml')], { encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`
  }
  t.match(output, /SUCCESS/, output)
})
