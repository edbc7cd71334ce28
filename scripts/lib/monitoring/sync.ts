// One source for rules, dashboards and the Alertmanager routes: config/ is edited, the chart gets byte-identical copies
// in files/monitoring/ (Helm can only read files inside the chart).
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { CHART_DIR, ROOT } from '../core/paths.ts'
import { ALERTMANAGER_BASE, DASHBOARDS_DIR, RULES_DIR } from './config.ts'
import type { Ctx } from '../core/context.ts'

export interface SyncLayout {
  rulesDir: string
  dashboardsDir: string
  /** config/alertmanager: its routes and inhibitions become the chart's AlertmanagerConfig */
  alertmanagerDir?: string
  /** helm/openwebui-platform/files/monitoring */
  chartMonitoringDir: string
}

export const DEFAULT_LAYOUT: SyncLayout = {
  rulesDir: RULES_DIR,
  dashboardsDir: DASHBOARDS_DIR,
  alertmanagerDir: dirname(ALERTMANAGER_BASE),
  chartMonitoringDir: join(CHART_DIR, 'files', 'monitoring'),
}

interface Pair { src: string; dest: string }
const KINDS = [
  { name: 'rules', ext: '.yml', src: (l: SyncLayout) => l.rulesDir },
  { name: 'dashboards', ext: '.json', src: (l: SyncLayout) => l.dashboardsDir },
  { name: 'alertmanager', ext: '.yml', src: (l: SyncLayout) => l.alertmanagerDir ?? '' },
] as const

const list = (dir: string, ext: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(ext)).sort() : [])
const shown = (p: string) => (p.startsWith(ROOT) ? relative(ROOT, p) : p)

export interface Drift {
  /** Sources without a copy in the chart. */
  missing: string[]
  /** Copies that differ from their source. */
  changed: string[]
  /** Copies whose source is gone. */
  extra: string[]
}

function plan(layout: SyncLayout): { pairs: Pair[]; extra: string[] } {
  const pairs: Pair[] = []
  const extra: string[] = []
  for (const kind of KINDS) {
    const srcDir = kind.src(layout)
    const destDir = join(layout.chartMonitoringDir, kind.name)
    const sources = list(srcDir, kind.ext)
    for (const f of sources) pairs.push({ src: join(srcDir, f), dest: join(destDir, f) })
    for (const f of list(destDir, kind.ext)) if (!sources.includes(f)) extra.push(join(destDir, f))
  }
  return { pairs, extra }
}

export function monitoringDrift(layout: SyncLayout = DEFAULT_LAYOUT): Drift {
  const { pairs, extra } = plan(layout)
  const missing: string[] = []
  const changed: string[] = []
  for (const { src, dest } of pairs) {
    if (!existsSync(dest)) missing.push(shown(dest))
    else if (!readFileSync(src).equals(readFileSync(dest))) changed.push(shown(dest))
  }
  return { missing, changed, extra: extra.map(shown) }
}

export const driftCount = (d: Drift) => d.missing.length + d.changed.length + d.extra.length

export function describeDrift(d: Drift): string[] {
  return [
    ...d.missing.map((f) => `missing in the chart: ${f}`),
    ...d.changed.map((f) => `differs from its source in config/: ${f}`),
    ...d.extra.map((f) => `has no source in config/ any more: ${f}`),
  ]
}

export interface SyncResult { copied: string[]; removed: string[]; unchanged: number }

/** Copy what differs, remove copies without a source; under --dry-run only print the plan. */
export function syncMonitoring(ctx: Ctx, layout: SyncLayout = DEFAULT_LAYOUT): SyncResult {
  const { pairs, extra } = plan(layout)
  const result: SyncResult = { copied: [], removed: [], unchanged: 0 }
  const act = (line: string, fn: () => void) => {
    if (ctx.dryRun) {
      ctx.plan.push(line)
      if (!ctx.json) ctx.out(`[dry-run] ${line}`)
    } else {
      fn()
      ctx.log.info(line)
    }
  }
  for (const { src, dest } of pairs) {
    if (existsSync(dest) && readFileSync(src).equals(readFileSync(dest))) { result.unchanged++; continue }
    act(`copy ${shown(src)} -> ${shown(dest)}`, () => {
      mkdirSync(join(dest, '..'), { recursive: true })
      copyFileSync(src, dest)
    })
    result.copied.push(shown(dest))
  }
  for (const dest of extra) {
    act(`remove ${shown(dest)}`, () => rmSync(dest))
    result.removed.push(shown(dest))
  }
  return result
}
