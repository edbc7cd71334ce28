// Grafana dashboard linter: what makes a provisioned dashboard portable and readable.
// Stable uid, a `datasource` variable instead of __inputs, titles, descriptions, units,
// unique panel ids, and rate() over $__rate_interval.
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parser } from '@prometheus-io/lezer-promql'
import { DASHBOARDS_DIR } from './config.ts'

export interface Target { refId?: string; expr?: string; datasource?: DataSourceRef; [k: string]: unknown }
export interface DataSourceRef { type?: string; uid?: string }
export interface Panel {
  id?: number
  type?: string
  title?: string
  description?: string
  datasource?: DataSourceRef | string | null
  targets?: Target[]
  fieldConfig?: { defaults?: { unit?: string; [k: string]: unknown }; [k: string]: unknown }
  gridPos?: { x?: number; y?: number; w?: number; h?: number }
  panels?: Panel[]
  collapsed?: boolean
  [k: string]: unknown
}
export interface Variable { name?: string; type?: string; query?: unknown; [k: string]: unknown }
export interface Dashboard {
  id?: number | null
  uid?: string
  title?: string
  schemaVersion?: number
  panels?: Panel[]
  templating?: { list?: Variable[] }
  __inputs?: unknown
  [k: string]: unknown
}

export const UID_PATTERN = /^owp-[a-z0-9-]{1,36}$/
export const DATASOURCE_UID = '${datasource}'
/** Panels that draw no query and carry no unit. */
const NON_DATA_PANELS = new Set(['row', 'text', 'news', 'dashlist'])

/** Every panel, including the ones inside collapsed rows. */
export function panelsOf(d: Dashboard): Panel[] {
  const out: Panel[] = []
  const walk = (ps: Panel[] | undefined) => { for (const p of ps ?? []) { out.push(p); walk(p.panels) } }
  walk(d.panels)
  return out
}

export function dashboardFiles(dir = DASHBOARDS_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f))
}

export function loadDashboards(files = dashboardFiles()): Array<{ file: string; json: Dashboard }> {
  return files.map((f) => ({ file: basename(f), json: JSON.parse(readFileSync(f, 'utf8')) as Dashboard }))
}

/** Grafana's macros, and values a running Grafana would put in (any valid one does for syntax). */
const MACROS: Array<[RegExp, string]> = [
  [/\$__rate_interval\b|\$\{__rate_interval\}/g, '__rate_interval'],
  [/\$__interval_ms\b|\$\{__interval_ms\}/g, '60000'],
  [/\$__interval\b|\$\{__interval\}/g, '1m'],
  [/\$__range_ms\b|\$\{__range_ms\}/g, '3600000'],
  [/\$__range_s\b|\$\{__range_s\}/g, '3600'],
  [/\$__range\b|\$\{__range\}/g, '1h'],
]

/** Grafana's macros and template variables replaced by values Prometheus accepts. */
export function substituteMacros(expr: string, rateInterval = '1m'): string {
  let out = expr
  for (const [re, value] of MACROS) out = out.replace(re, value === '__rate_interval' ? rateInterval : value)
  // Template variables stand in label values: ${var}, ${var:regex}, $var, [[var]].
  return out.replace(/\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*|\[\[[A-Za-z_]\w*\]\]/g, '.*')
}

// A duration nobody writes by hand: stands in for $__rate_interval while the tree is walked.
const RATE_SENTINEL = '1337ms'

/** rate()/irate() ranges that are not [$__rate_interval], found in the parsed expression. */
export function fixedRateWindows(expr: string): string[] {
  const promql = substituteMacros(expr, RATE_SENTINEL)
  const bad: string[] = []
  parser.parse(promql).iterate({
    enter: (n) => {
      if (n.name !== 'FunctionCall') return
      const fn = n.node.getChild('FunctionIdentifier')?.firstChild?.name
      if (fn !== 'Rate' && fn !== 'Irate') return
      const arg = n.node.getChild('FunctionCallBody')?.firstChild
      const text = arg ? promql.slice(arg.from, arg.to) : ''
      const range = /\[([^\]]+)\]\s*$/.exec(text)?.[1]?.trim()
      if (range && range !== RATE_SENTINEL) bad.push(`${fn.toLowerCase()}(...[${range}])`)
    },
  })
  return bad
}

function isDatasourceVar(ds: Panel['datasource']): boolean {
  if (typeof ds === 'string') return ds === '$datasource' || ds === DATASOURCE_UID
  return !!ds && ds.uid === DATASOURCE_UID
}

/** Problems of one dashboard, one line each, naming the file and panel. */
export function lintDashboard(d: Dashboard, file: string): string[] {
  const problems: string[] = []
  const p = (msg: string) => problems.push(`${file}: ${msg}`)
  if (!d.uid) p('no uid (provisioned dashboards need a stable uid)')
  else if (!UID_PATTERN.test(d.uid)) p(`uid "${d.uid}" is not stable and readable: use owp-<name> (lowercase, at most 40 characters)`)
  if (!d.title?.trim()) p('no title')
  if (d.id !== undefined && d.id !== null) p(`id ${d.id} is set: provisioned dashboards must use "id": null`)
  if (typeof d.schemaVersion !== 'number') p('no schemaVersion')
  if (d.__inputs !== undefined) p('has __inputs (an export for sharing): use the datasource variable instead')
  if (JSON.stringify(d).includes('${DS_')) p('references ${DS_...} import placeholders: use ${datasource}')

  const vars = d.templating?.list ?? []
  const dsVar = vars.find((v) => v.name === 'datasource')
  if (!dsVar) p('no "datasource" template variable')
  else if (dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') p('the "datasource" variable must be {"type": "datasource", "query": "prometheus"}')
  for (const v of vars) {
    if (v.type === 'query' && !isDatasourceVar(v.datasource as Panel['datasource'])) p(`variable ${v.name} does not query \${datasource}`)
  }

  const ids = new Map<number, string>()
  if (!(d.panels ?? []).length) p('no panels')
  for (const panel of panelsOf(d)) {
    const at = `panel ${panel.id ?? '?'} "${panel.title ?? ''}"`
    if (typeof panel.id !== 'number') p(`${at}: no numeric id`)
    else if (ids.has(panel.id)) p(`${at}: id ${panel.id} is also used by "${ids.get(panel.id)}"`)
    else ids.set(panel.id, panel.title ?? '')
    if (!panel.title?.trim()) p(`${at}: no title`)
    if (!panel.gridPos || typeof panel.gridPos.w !== 'number' || typeof panel.gridPos.h !== 'number') p(`${at}: no gridPos`)
    if (NON_DATA_PANELS.has(panel.type ?? '')) continue
    if (!panel.description?.trim()) p(`${at}: no description (say what the panel shows and what is bad)`)
    if (!panel.fieldConfig?.defaults?.unit) p(`${at}: no unit (fieldConfig.defaults.unit)`)
    if (!isDatasourceVar(panel.datasource)) p(`${at}: datasource must be {"type": "prometheus", "uid": "\${datasource}"}`)
    const targets = panel.targets ?? []
    if (!targets.length) p(`${at}: no queries`)
    const refIds = new Set<string>()
    for (const t of targets) {
      if (!t.refId) p(`${at}: a query has no refId`)
      else if (refIds.has(t.refId)) p(`${at}: refId ${t.refId} is used twice`)
      else refIds.add(t.refId)
      if (t.datasource && !isDatasourceVar(t.datasource)) p(`${at} ${t.refId}: query datasource must be \${datasource}`)
      if (!t.expr?.trim()) { p(`${at} ${t.refId ?? ''}: empty expression`); continue }
      for (const bad of fixedRateWindows(t.expr)) p(`${at} ${t.refId}: ${bad} uses a fixed window: use [$__rate_interval]`)
    }
  }
  return problems
}

/** Lint several dashboards, and that their uids and titles are unique among them. */
export function lintDashboards(dashboards = loadDashboards()): string[] {
  const problems = dashboards.flatMap(({ file, json }) => lintDashboard(json, file))
  for (const key of ['uid', 'title'] as const) {
    const seen = new Map<string, string>()
    for (const { file, json } of dashboards) {
      const v = json[key]
      if (!v) continue
      if (seen.has(v)) problems.push(`${file}: ${key} "${v}" is also used by ${seen.get(v)}`)
      else seen.set(v, file)
    }
  }
  return problems
}
