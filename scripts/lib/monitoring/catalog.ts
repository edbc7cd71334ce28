// The metrics catalogue: every metric name the rules and dashboards read, with the exporter
// that exposes it. A name that is neither catalogued nor recorded is a typo until proven not.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { METRICS_CATALOG } from './config.ts'
import { metricNames, type Expression } from './promql.ts'

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'info'
export interface CatalogEntry { name: string; type: MetricType; help: string; source: string }
export interface Catalog {
  entries: CatalogEntry[]
  /** Series name (histograms expanded to _bucket/_sum/_count) -> its entry. */
  series: Map<string, CatalogEntry>
}

const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''], gauge: [''], info: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'],
}

export function loadCatalog(file = METRICS_CATALOG): Catalog {
  const doc = parse(readFileSync(file, 'utf8')) as { sources?: Record<string, { exporter?: string; metrics?: Record<string, { type?: string; help?: string }> }> }
  const entries: CatalogEntry[] = []
  const series = new Map<string, CatalogEntry>()
  const problems: string[] = []
  for (const [source, s] of Object.entries(doc?.sources ?? {})) {
    if (!s.exporter) problems.push(`source ${source} does not say which exporter or service exposes it`)
    for (const [name, m] of Object.entries(s.metrics ?? {})) {
      const type = m?.type as MetricType
      if (!(type in SUFFIXES)) { problems.push(`${name}: type must be one of ${Object.keys(SUFFIXES).join(', ')}`); continue }
      if (!m.help?.trim()) problems.push(`${name}: no help text`)
      const entry = { name, type, help: m.help ?? '', source }
      entries.push(entry)
      for (const suffix of SUFFIXES[type]) {
        const full = `${name}${suffix}`
        if (series.has(full)) problems.push(`${full} is catalogued twice (${series.get(full)!.source}, ${source})`)
        series.set(full, entry)
      }
    }
  }
  if (problems.length) throw new Error(`invalid metrics catalogue ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  return { entries, series }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

export interface CatalogReport { unknown: string[]; unused: string[] }

/**
 * Names used by the expressions that are neither catalogued nor recorded (with a guess at
 * what was meant), and catalogue entries nothing uses any more.
 */
export function checkMetricNames(expressions: Expression[], catalog: Catalog, recorded: Set<string>): CatalogReport {
  const unknown: string[] = []
  const used = new Set<CatalogEntry>()
  const known = [...catalog.series.keys(), ...recorded]
  for (const e of expressions) {
    for (const name of metricNames(e.promql)) {
      const entry = catalog.series.get(name)
      if (entry) { used.add(entry); continue }
      if (recorded.has(name)) continue
      const guess = known.map((k) => [k, distance(k, name)] as const).sort((x, y) => x[1] - y[1])[0]
      const hint = guess && guess[1] <= 3 ? ` (did you mean ${guess[0]}?)` : ''
      unknown.push(`${e.where}: ${name} is not in config/prometheus/metrics-catalog.yml nor a recording rule${hint}`)
    }
  }
  const unused = catalog.entries.filter((e) => !used.has(e)).map((e) => `${e.name} (${e.source}) is catalogued but no rule or dashboard reads it`)
  return { unknown, unused }
}
