/**
 * The shipped Grafana dashboard and Prometheus alert rules are built on
 * metrics that exist: every series name they use is in a scrape of a
 * running Causeway (Node.js defaults under their standard names, Causeway's
 * own under causeway_), every label they select or group by is one of that
 * metric's labels, and every Causeway metric is on the dashboard. The files
 * themselves are well formed: the YAML a rules file needs, the JSON model
 * Grafana imports.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse } from 'yaml'
import { startCauseway } from '../helpers/causeway.js'
import { freePort } from '../helpers/ports.js'

const ROOT = new URL('../../', import.meta.url)
const dashboard = JSON.parse(readFileSync(new URL('docs/deploy/grafana-dashboard.json', ROOT), 'utf8')) as {
  uid: string
  panels: Array<{ id: number; type: string; title: string; gridPos?: unknown; datasource?: { uid: string }; targets?: Array<{ expr: string; refId: string }> }>
  templating: { list: Array<{ name: string }> }
}
const rules = parse(readFileSync(new URL('docs/deploy/prometheus-alerts.yml', ROOT), 'utf8')) as {
  groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string; description?: string } }> }>
}

/** Series Prometheus makes itself, not the target. */
const PROMETHEUS_SERIES = new Set(['up'])
/** Labels Prometheus adds to every series (target labels), and the histogram bucket label. */
const ALWAYS_LABELS = new Set(['instance', 'job', 'le'])
/** Causeway metrics deliberately left off the dashboard, with why. */
const NOT_ON_DASHBOARD: Record<string, string> = {
  causeway_upstream_connect_failures_total: 'the same failures before the stream opened, without the upstream label; the dashboard shows causeway_upstream_failures_total',
}

const METRIC = /\b((?:causeway|process|nodejs)_[a-z0-9_]+|up)\b(\{[^}]*\})?/g
const BY = /\b(?:by|without)\s*\(([^)]*)\)/g

interface Family {
  readonly type: string
  readonly labels: Set<string>
}

/** `# TYPE` lines and every label seen on a sample, by family. */
function families(exposition: string): Map<string, Family> {
  const found = new Map<string, Family>()
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type) found.set(type[1] ?? '', { type: type[2] ?? '', labels: new Set() })
  }
  return found
}

function familyOf(name: string, known: Map<string, Family>): string | undefined {
  if (known.has(name)) return name
  const base = name.replace(/_(bucket|sum|count)$/, '')
  const family = known.get(base)
  return family && (family.type === 'histogram' || family.type === 'summary') ? base : undefined
}

t.test('the dashboard and the alert rules use only metrics and labels a scrape has', async (t) => {
  const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'], adminPort: await freePort(), nodeId: 'n1' })
  t.teardown(() => cw.stop())
  const scrape = await (await fetch(`${cw.adminUrl}/metrics`)).text()
  const known = families(scrape)
  // Label names as declared (a scrape shows labels only on series that have a sample).
  for (const metric of cw.causeway.metrics.registry.getMetricsAsArray()) {
    const family = known.get(metric.name)
    const labelNames = (metric as unknown as { labelNames?: string[] }).labelNames ?? []
    for (const label of labelNames) family?.labels.add(label)
  }
  for (const match of scrape.matchAll(/^([a-z_:][a-z0-9_:]*)\{([^}]*)\}/gm)) {
    const family = known.get(familyOf(match[1] ?? '', known) ?? '')
    for (const pair of (match[2] ?? '').matchAll(/([a-z_][a-z0-9_]*)="/g)) family?.labels.add(pair[1] ?? '')
  }

  t.ok(known.has('process_cpu_seconds_total') && known.has('process_resident_memory_bytes') && known.has('nodejs_eventloop_lag_seconds'), 'Node.js defaults under their standard names')
  t.notOk([...known.keys()].some((name) => name.startsWith('causeway_process_') || name.startsWith('causeway_nodejs_')), 'not under causeway_')
  t.match(scrape, /causeway_build_info\{version="[^"]+",node="\d+\.\d+\.\d+",node_id="n1"\} 1/)
  for (const name of ['causeway_session_duration_seconds', 'causeway_login_duration_seconds']) t.equal(known.get(name)?.type, 'histogram', name)

  const expressions = [
    ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `dashboard "${panel.title}"`, expr: target.expr }))),
    ...rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr }))),
  ]
  t.ok(expressions.length > 30, `${expressions.length} expressions`)
  const used = new Set<string>()
  for (const { where, expr } of expressions) {
    const inExpr: Family[] = []
    for (const match of expr.matchAll(METRIC)) {
      const name = match[1] ?? ''
      if (PROMETHEUS_SERIES.has(name)) continue
      const familyName = familyOf(name, known)
      t.ok(familyName, `${where}: ${name} is in the scrape`)
      if (!familyName) continue
      used.add(familyName)
      const family = known.get(familyName)
      if (!family) continue
      inExpr.push(family)
      for (const selector of (match[2] ?? '').matchAll(/([a-z_][a-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
        const label = selector[1] ?? ''
        t.ok(ALWAYS_LABELS.has(label) || family.labels.has(label), `${where}: ${familyName} has the label ${label}`)
      }
    }
    for (const by of expr.matchAll(BY)) {
      for (const label of (by[1] ?? '').split(',').map((l) => l.trim()).filter(Boolean)) {
        t.ok(ALWAYS_LABELS.has(label) || inExpr.some((family) => family.labels.has(label)), `${where}: grouping by ${label}, a label of its metrics`)
      }
    }
  }
  for (const name of known.keys()) {
    if (!name.startsWith('causeway_') || NOT_ON_DASHBOARD[name]) continue
    t.ok(used.has(name), `${name} is on the dashboard or in an alert`)
  }
})

t.test('the alert rules file has what Prometheus and a pager need', async (t) => {
  t.ok(rules.groups.length > 0)
  const names = new Set<string>()
  for (const group of rules.groups) {
    t.type(group.name, 'string')
    for (const rule of group.rules) {
      t.match(rule.alert, /^Causeway[A-Za-z]+$/, 'alert name')
      t.notOk(names.has(rule.alert), `${rule.alert} is unique`)
      names.add(rule.alert)
      t.type(rule.expr, 'string', `${rule.alert}: expr`)
      if (rule.for !== undefined) t.match(rule.for, /^\d+[smh]$/, `${rule.alert}: for`)
      t.ok(['critical', 'warning', 'info'].includes(rule.labels.severity), `${rule.alert}: severity`)
      t.ok(rule.annotations.summary.length > 10, `${rule.alert}: summary`)
      t.equal((rule.expr.match(/\(/g) ?? []).length, (rule.expr.match(/\)/g) ?? []).length, `${rule.alert}: balanced parentheses`)
    }
  }
})

t.test('the dashboard is a Grafana JSON model: unique panel ids, a position each, the data source variable', async (t) => {
  t.equal(dashboard.uid, 'causeway-overview')
  t.ok(dashboard.templating.list.some((v) => v.name === 'datasource') && dashboard.templating.list.some((v) => v.name === 'instance'))
  const ids = dashboard.panels.map((panel) => panel.id)
  t.equal(new Set(ids).size, ids.length, 'unique ids')
  for (const panel of dashboard.panels) {
    t.ok(panel.gridPos, `${panel.title}: gridPos`)
    if (panel.type === 'row') continue
    t.equal(panel.datasource?.uid, '${datasource}', `${panel.title}: data source variable`)
    t.ok((panel.targets ?? []).length > 0, `${panel.title}: queries`)
    for (const target of panel.targets ?? []) t.match(target.expr, /instance=~"\$instance"/, `${panel.title}: filtered by $instance`)
  }
})
