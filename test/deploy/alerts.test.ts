// The alerting rules of deploy/prometheus/alerts.yml and the Grafana dashboard of
// deploy/grafana/tokengate.json, checked by Prometheus' own promtool and against the metrics a
// running gateway exports. The rules: valid, silent for a healthy gateway with 90-second tokens (a
// threshold on expires_in fired for ever there), firing when a token stays past its refresh time,
// when no usable token is held, when requests wait for upstream connections. The dashboard: every
// expression valid PromQL over series the gateway has. promtool comes with Debian's prometheus
// package; without it those checks skip, saying so.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/app.js'
import { ROOT } from '../helpers/process.js'

function hasPromtool (): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const skip = hasPromtool() ? false : 'promtool is not installed (Debian\'s prometheus package brings it)'

const RULES = join(ROOT, 'deploy', 'prometheus', 'alerts.yml')
const rules = readFileSync(RULES, 'utf8')
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'tokengate.json'), 'utf8')) as {
  panels: Array<{ id: number, title: string, targets: Array<{ expr: string }> }>
}
const dashboardExprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr))
// Grafana's variables, as a query would have them filled in.
const filled = (expr: string): string => expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*')

/** promtool's output, whether it succeeded or not. */
function promtool (...args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    return `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`
  }
}

t.test('every metric the rules and the dashboard name is one a gateway exports', async (t) => {
  const gw = await startGateway(t, { UPSTREAM_URL: 'http://127.0.0.1:9', AUTH_TOKEN: 'opaque-token' })
  const exported = new Set([...(await (await request(`${gw.url}/metrics`)).body.text()).matchAll(/^([a-z_]+)(?:\{| )/gm)].map((m) => m[1]))
  const named = new Set([rules, ...dashboardExprs].flatMap((text) => [...text.matchAll(/\b((?:tokengate|process|nodejs)_[a-z_]+)\b/g)].map((m) => m[1])))
  t.ok(named.size >= 12, `${named.size} metric names`)
  for (const name of named) t.ok(exported.has(name), `${name} is exported`)
})

t.test('docs/operations.md lists every alert of the rules file', async (t) => {
  const readme = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8')
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1])
  t.equal(alerts.length, 5)
  for (const alert of alerts) t.match(readme, `| \`${alert}\` |`, alert)
})

t.test('the rules under promtool: valid, silent when healthy, firing when refreshes stop or connections run out', { skip }, async (t) => {
  t.match(promtool('check', 'rules', RULES), /SUCCESS: 5 rules found/)
  const folder = mkdtempSync(join(tmpdir(), 'tokengate-alerts-'))
  writeFileSync(join(folder, 'alerts.yml'), rules)
  // Every 15 s for 5 minutes. A healthy gateway with 90-second tokens: renewed at half its life,
  // never past its refresh time for long. Then one whose refreshes stopped working.
  const healthy90s = Array.from({ length: 21 }, (_, i) => 90 - (i % 3) * 15).join(' ')
  const failing = Array.from({ length: 21 }, (_, i) => Math.max(0, 45 - i * 15)).join(' ')
  const overdue = Array.from({ length: 21 }, (_, i) => i * 15).join(' ')
  writeFileSync(join(folder, 'tests.yml'), `rule_files: [alerts.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - { series: 'tokengate_token_expires_in_seconds{instance="gw"}', values: '${healthy90s}' }
      - { series: 'tokengate_token_refresh_overdue_seconds{instance="gw"}', values: '0x20' }
      - { series: 'tokengate_token_refresh_consecutive_failures{instance="gw"}', values: '0x20' }
      - { series: 'tokengate_token_refresh_token_rejected{instance="gw"}', values: '0x20' }
      - { series: 'tokengate_upstream_requests_waiting{instance="gw"}', values: '0 3 0 0 1 0x16' }
    alert_rule_test:
      - { eval_time: 5m, alertname: TokengateTokenRefreshOverdue, exp_alerts: [] }
      - { eval_time: 5m, alertname: TokengateTokenExpired, exp_alerts: [] }
      - { eval_time: 5m, alertname: TokengateUpstreamSaturated, exp_alerts: [] }
  - interval: 15s
    input_series:
      - { series: 'tokengate_token_expires_in_seconds{instance="gw"}', values: '${failing}' }
      - { series: 'tokengate_token_refresh_overdue_seconds{instance="gw"}', values: '${overdue}' }
      - { series: 'tokengate_upstream_requests_waiting{instance="gw"}', values: '4x20' }
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
      - eval_time: 3m
        alertname: TokengateUpstreamSaturated
        exp_alerts:
          - exp_labels: { severity: warning, instance: gw }
            exp_annotations: { summary: 'tokengate gw: 4 requests wait for an upstream connection (UPSTREAM_MAX_CONNECTIONS in use); past UPSTREAM_TIMEOUT they get 503 upstream_busy' }
`)
  const output = promtool('test', 'rules', join(folder, 'tests.yml'))
  t.match(output, /SUCCESS/, output)
})

t.test('every expression of the dashboard is valid PromQL', { skip }, async (t) => {
  t.same(new Set(dashboard.panels.map((panel) => panel.id)).size, dashboard.panels.length, 'panel ids are unique')
  const folder = mkdtempSync(join(tmpdir(), 'tokengate-dashboard-'))
  const recorded = dashboardExprs.map((expr, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(filled(expr))}`).join('\n')
  writeFileSync(join(folder, 'dashboard.yml'), `groups:\n  - name: dashboard\n    rules:\n${recorded}\n`)
  t.match(promtool('check', 'rules', join(folder, 'dashboard.yml')), new RegExp(`SUCCESS: ${dashboardExprs.length} rules found`))
})
