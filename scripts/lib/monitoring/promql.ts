// Every PromQL expression the kit ships (rules and dashboards), Grafana macros substituted,
// parsed with Prometheus' own lezer grammar; the metric names each one reads.
import { parser } from '@prometheus-io/lezer-promql'
import { loadRules, type Rule } from './rules.ts'
import { loadDashboards, panelsOf, substituteMacros, type Dashboard } from './dashboards.ts'

export { substituteMacros }

export interface Expression {
  /** Where it lives, for messages: "rules/host.yml: HostOutOfMemory", "dashboards/x.json: panel 3 A". */
  where: string
  /** As written (with Grafana macros in dashboards). */
  source: string
  /** Plain PromQL, macros substituted. */
  promql: string
}

export function ruleExpressions(rules: Rule[] = loadRules()): Expression[] {
  return rules.map((r) => ({ where: `rules/${r.file}: ${r.alert ?? r.record}`, source: r.expr, promql: r.expr }))
}

/** label_values(expr, label) and query_result(expr) wrap PromQL; other variable queries have none. */
function variablePromQL(query: string): string | null {
  const m = /^\s*(label_values|query_result)\s*\(([\s\S]*)\)\s*$/.exec(query)
  if (!m) return null
  if (m[1] === 'query_result') return m[2]!
  const inner = m[2]!
  const comma = inner.lastIndexOf(',')
  return comma < 0 ? null : inner.slice(0, comma).trim() || null
}

export function dashboardExpressions(dashboards: Array<{ file: string; json: Dashboard }> = loadDashboards()): Expression[] {
  const out: Expression[] = []
  for (const { file, json } of dashboards) {
    for (const p of panelsOf(json)) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string' && t.expr.trim()) out.push({ where: `dashboards/${file}: panel ${p.id} "${p.title}" ${t.refId}`, source: t.expr, promql: substituteMacros(t.expr) })
      }
    }
    for (const v of json.templating?.list ?? []) {
      if (v.type !== 'query') continue
      const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query
      const promql = q ? variablePromQL(q) : null
      if (promql) out.push({ where: `dashboards/${file}: variable ${v.name}`, source: q!, promql: substituteMacros(promql) })
    }
  }
  return out
}

export interface SyntaxError { where: string; at: number; near: string }

/** Syntax errors by Prometheus' lezer grammar (the one its UI uses); empty when it parses. */
export function promqlSyntaxErrors(expr: string): Array<{ at: number; near: string }> {
  const errors: Array<{ at: number; near: string }> = []
  parser.parse(expr).iterate({
    enter: (n) => { if (n.type.isError) errors.push({ at: n.from, near: expr.slice(Math.max(0, n.from - 15), n.from + 15) }) },
  })
  return errors
}

/** Metric names an expression reads: selector names and __name__="..." matchers. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>()
  const tree = parser.parse(expr)
  tree.iterate({
    enter: (n) => {
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier')
        if (id) names.add(expr.slice(id.from, id.to))
      }
      if (n.name === 'UnquotedLabelMatcher') {
        const text = expr.slice(n.from, n.to)
        const m = /^__name__\s*=\s*"([^"]+)"$/.exec(text)
        if (m) names.add(m[1]!)
      }
    },
  })
  return [...names].sort()
}
