// What Prometheus would scrape from the rendered monitoring objects, computed the way the Prometheus
// Operator generates its scrape config (pkg/prometheus/promcfg.go): a ServiceMonitor's job is the
// Service name, or the Service's `jobLabel` label, then the endpoint's relabelings; a PodMonitor's is
// "<namespace>/<name>" (or the pod's jobLabel), then relabelings; a Probe's is spec.jobName (else
// "probe/<namespace>/<name>"), with staticConfig.labels and `namespace` on every target.
// And the other side of the contract: the `job` and `component` matchers of the alert rules and
// dashboards, which need a producer on Kubernetes.
import { parser } from '@prometheus-io/lezer-promql'
import type { K8sObject } from './k8s-render.ts'
import { matchesSelector } from './k8s-netpol.ts'

export interface ScrapeTarget {
  /** the object that makes Prometheus scrape it, e.g. ServiceMonitor/owp-lightllm */
  source: string
  /** target labels the chart decides (job, namespace, component, service, endpoint, instance) */
  labels: Record<string, string>
  /** the Service a ServiceMonitor endpoint reaches */
  service?: string
  honorLabels?: boolean
}

export interface ScrapeModel { targets: ScrapeTarget[]; problems: string[] }

interface Relabeling { action?: string; sourceLabels?: string[]; separator?: string; targetLabel?: string; regex?: string; replacement?: string }

/** Prometheus' relabel "replace" action (the only one the chart uses); other actions are refused. */
export function relabel(labels: Record<string, string>, rules: Relabeling[] = []): { labels: Record<string, string>; problems: string[] } {
  const out = { ...labels }
  const problems: string[] = []
  for (const r of rules) {
    const action = (r.action ?? 'replace').toLowerCase()
    if (action !== 'replace') { problems.push(`relabel action ${action} is not modelled`); continue }
    if (!r.targetLabel) { problems.push('replace without targetLabel'); continue }
    const value = (r.sourceLabels ?? []).map((l) => out[l] ?? '').join(r.separator ?? ';')
    const m = new RegExp(`^(?:${r.regex ?? '(.*)'})$`).exec(value)
    if (!m) continue
    const replaced = (r.replacement ?? '$1').replace(/\$\{(\w+)\}|\$(\d+)/g, (_, a, b) => m[Number(a ?? b)] ?? '')
    if (replaced === '') delete out[r.targetLabel]
    else out[r.targetLabel] = replaced
  }
  return { labels: out, problems }
}

const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`

/** Scrape targets of every ServiceMonitor, PodMonitor and Probe, with what would go wrong. */
export function scrapeModel(objects: K8sObject[]): ScrapeModel {
  const targets: ScrapeTarget[] = []
  const problems: string[] = []
  const services = objects.filter((o) => o.kind === 'Service')
  for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    const ns = sm.metadata.namespace ?? ''
    const namespaces: string[] = sm.spec.namespaceSelector?.matchNames ?? [ns]
    const selected = services.filter((s) => namespaces.includes(s.metadata.namespace ?? '') && matchesSelector(sm.spec.selector, s.metadata.labels ?? {}))
    for (const ep of sm.spec.endpoints ?? []) {
      const reached = selected.filter((s) => (s.spec.ports ?? []).some((p: { name?: string }) => p.name === ep.port))
      if (reached.length === 0) problems.push(`${id(sm)}: endpoint port ${ep.port} is on no selected Service (${selected.map(id).join(', ') || 'none selected'})`)
      if (reached.length > 1) problems.push(`${id(sm)}: endpoint port ${ep.port} scrapes the same pods through ${reached.length} Services (${reached.map(id).join(', ')}): every series twice`)
      for (const s of reached) {
        const base: Record<string, string> = { job: s.metadata.name, namespace: s.metadata.namespace ?? '', service: s.metadata.name, endpoint: ep.port }
        const jobLabel = sm.spec.jobLabel && s.metadata.labels?.[sm.spec.jobLabel]
        if (jobLabel) base.job = jobLabel
        const r = relabel(base, ep.relabelings)
        problems.push(...r.problems.map((p) => `${id(sm)}: ${p}`))
        targets.push({ source: id(sm), labels: r.labels, service: s.metadata.name, honorLabels: ep.honorLabels === true })
      }
    }
  }
  for (const pm of objects.filter((o) => o.kind === 'PodMonitor')) {
    const ns = pm.metadata.namespace ?? ''
    for (const ep of pm.spec.podMetricsEndpoints ?? []) {
      const r = relabel({ job: `${ns}/${pm.metadata.name}`, namespace: ns, endpoint: ep.port ?? '' }, ep.relabelings)
      problems.push(...r.problems.map((p) => `${id(pm)}: ${p}`))
      targets.push({ source: id(pm), labels: r.labels, honorLabels: ep.honorLabels === true })
    }
  }
  for (const pr of objects.filter((o) => o.kind === 'Probe')) {
    const ns = pr.metadata.namespace ?? ''
    const sc = pr.spec.targets?.staticConfig
    if (!sc?.static?.length) { problems.push(`${id(pr)}: no static targets (the operator drops such a Probe)`); continue }
    if (!pr.spec.prober?.url) problems.push(`${id(pr)}: no prober.url`)
    for (const t of sc.static as string[]) {
      const base = { namespace: ns, ...(sc.labels ?? {}), job: pr.spec.jobName || `probe/${ns}/${pr.metadata.name}`, instance: t }
      const r = relabel(base, sc.relabelingConfigs)
      problems.push(...r.problems.map((p) => `${id(pr)}: ${p}`))
      targets.push({ source: id(pr), labels: r.labels })
    }
  }
  return { targets, problems }
}

/** Every value a target label takes: label -> value -> sources. */
export function producedValues(targets: ScrapeTarget[], label: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const t of targets) {
    const v = t.labels[label]
    if (v === undefined) continue
    out.set(v, [...(out.get(v) ?? []), t.source])
  }
  return out
}

export interface Matcher { label: string; op: string; value: string }

/** The label matchers of a PromQL expression, e.g. {job="lightllm"} -> {label: job, op: "=", value: lightllm}. */
export function labelMatchers(expr: string): Matcher[] {
  const out: Matcher[] = []
  parser.parse(expr).iterate({
    enter: (n) => {
      if (n.name !== 'UnquotedLabelMatcher') return
      const name = n.node.getChild('LabelName')
      const op = n.node.getChild('MatchOp')
      const str = n.node.getChild('StringLiteral')
      if (!name || !op || !str) return
      out.push({ label: expr.slice(name.from, name.to), op: expr.slice(op.from, op.to), value: JSON.parse(expr.slice(str.from, str.to).replace(/^'(.*)'$/, '"$1"')) })
    },
  })
  return out
}

/** The values a positive matcher asks for: "a|b" -> [a, b]; a real regex or a Grafana variable -> null. */
export function literalAlternatives(m: Matcher): string[] | null {
  if (m.op === '=') return [m.value]
  if (m.op === '=~' && /^[\w.-]+(\|[\w.-]+)*$/.test(m.value)) return m.value.split('|')
  return null
}

export interface SelectorUse { where: string; promql: string }

/**
 * For each expression, every positive matcher on `label` whose value no target produces (and that
 * is not exempt, with its reason): "<where>: {job="x"} has no producer on Kubernetes".
 */
export function unproducedSelectors(uses: SelectorUse[], label: string, produced: Map<string, string[]>, exempt: Record<string, string> = {}): string[] {
  const problems: string[] = []
  for (const u of uses) {
    for (const m of labelMatchers(u.promql)) {
      if (m.label !== label || m.op.startsWith('!') || m.value.includes('$')) continue
      const values = literalAlternatives(m)
      if (values) {
        for (const v of values) if (!produced.has(v) && !(v in exempt)) problems.push(`${u.where}: {${label}${m.op}"${m.value}"} needs ${label}="${v}", which nothing on Kubernetes produces`)
      } else if (![...produced.keys()].some((v) => new RegExp(`^(?:${m.value})$`).test(v))) {
        problems.push(`${u.where}: {${label}${m.op}"${m.value}"} matches no ${label} produced on Kubernetes`)
      }
    }
  }
  return problems
}
