// The alert rules as data: conventions every alert keeps, and whether each one has unit tests.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parse } from 'yaml'
import { RULES_DIR, RULE_TESTS_DIR, RUNBOOKS_DIR } from './config.ts'

/** The alerts the platform promises (issue 6); a missing one is a problem. */
export const REQUIRED_ALERTS = [
  'OpenWebUIDown', 'LightLLMDown', 'GraphRAGDown', 'MCPServerDown', 'CeleryWorkerDown', 'PostgresDown',
  'RedisDown', 'QdrantDown', 'Neo4jDown', 'NginxDown', 'TargetDown', 'HostHighCpuLoad', 'HostOutOfMemory',
  'HostOutOfDiskSpace', 'HostDiskWillFillIn24Hours', 'ContainerOOMKilled', 'HighHttpErrorRate',
  'HighHttpLatencyP95', 'CeleryQueueBacklog', 'CeleryTaskFailureRate', 'LLMHighTimeToFirstToken',
  'LLMQueueSaturation', 'HighFailedLoginRate', 'CertificateExpiringSoon', 'BackupStale', 'BackupFailed', 'BackupMetricsAbsent', 'RestoreDrillStale', 'RestoreKeptCopiesLingering',
  'TokenUsageSpike', 'Watchdog', 'PostgresWalArchivingFailing', 'PostgresWalArchiveStale',
]
export const SEVERITIES = ['critical', 'warning', 'info']
/** Sections every runbook has, in this order. */
export const RUNBOOK_SECTIONS = ['## Meaning', '## First checks', '## Fixes']

export interface Rule {
  file: string
  group: string
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

export function ruleFiles(dir = RULES_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yml')).sort().map((f) => join(dir, f))
}

export function loadRules(files = ruleFiles()): Rule[] {
  const out: Rule[] = []
  for (const file of files) {
    const doc = parse(readFileSync(file, 'utf8')) as { groups?: Array<{ name: string; rules?: Array<Omit<Rule, 'file' | 'group'>> }> }
    for (const g of doc?.groups ?? []) for (const r of g.rules ?? []) out.push({ ...r, file: basename(file), group: g.name })
  }
  return out
}

export const alertRules = (rules: Rule[]) => rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string')
export const recordedNames = (rules: Rule[]) => new Set(rules.flatMap((r) => (r.record ? [r.record] : [])))

/** Prometheus duration ("1d25m", "30s") in milliseconds; NaN when malformed. */
export function parseDuration(text: string | undefined): number {
  if (text === undefined) return NaN
  const units: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8, y: 3.1536e10 }
  const parts = [...String(text).matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)]
  if (!parts.length || parts.map((p) => p[0]).join('') !== String(text)) return NaN
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0)
}

const RECORD_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+$/

/** House conventions (kube-prometheus mixins): one line per problem, naming the rule. */
export function ruleConventionProblems(rules: Rule[], o: { runbooksDir?: string; required?: string[] } = {}): string[] {
  const runbooks = o.runbooksDir ?? RUNBOOKS_DIR
  const problems: string[] = []
  const seen = new Map<string, string>()
  for (const r of rules) {
    if (r.record !== undefined) {
      if (!RECORD_NAME.test(r.record)) problems.push(`${r.file}: recording rule ${r.record} is not named level:metric:operations`)
      continue
    }
    const name = r.alert ?? '(unnamed)'
    const at = `${r.file}: ${name}`
    if (seen.has(name)) problems.push(`${at}: alert name also used in ${seen.get(name)}`)
    seen.set(name, r.file)
    const sev = r.labels?.severity
    if (!sev || !SEVERITIES.includes(sev)) problems.push(`${at}: label severity must be one of ${SEVERITIES.join('|')} (got ${sev ?? 'none'})`)
    if (!r.labels?.service) problems.push(`${at}: label service is missing (alerts inhibit by service)`)
    for (const key of ['summary', 'description', 'runbook_url']) {
      if (!r.annotations?.[key]?.trim()) problems.push(`${at}: annotation ${key} is missing`)
    }
    if (r.for === undefined) problems.push(`${at}: no explicit for (write "for: 0m" if it must fire at once)`)
    else if (Number.isNaN(parseDuration(r.for))) problems.push(`${at}: for "${r.for}" is not a duration`)
    const url = r.annotations?.runbook_url
    if (url) {
      const want = `docs/runbooks/${name}.md`
      if (!(url === want || url.endsWith(`/${want}`))) problems.push(`${at}: runbook_url ${url} should point at ${want}`)
      problems.push(...runbookProblems(join(runbooks, `${name}.md`), at))
    }
  }
  const names = new Set(alertRules(rules).map((r) => r.alert))
  for (const req of o.required ?? REQUIRED_ALERTS) if (!names.has(req)) problems.push(`required alert ${req} is not defined`)
  return problems
}

function runbookProblems(file: string, at: string): string[] {
  if (!existsSync(file)) return [`${at}: runbook ${basename(file)} is not written`]
  const text = readFileSync(file, 'utf8')
  let from = 0
  const problems: string[] = []
  for (const section of RUNBOOK_SECTIONS) {
    const i = text.indexOf(`\n${section}\n`, from)
    if (i < 0) { problems.push(`${at}: runbook ${basename(file)} lacks the section "${section}" (in this order: ${RUNBOOK_SECTIONS.join(', ')})`); continue }
    from = i + section.length
  }
  return problems
}

// --- unit-test coverage -----------------------------------------------------------------------

export interface RuleTestCase { file: string; group: string; alertname: string; evalTime: string; fires: boolean }

export function ruleTestFiles(dir = RULE_TESTS_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yml')).sort().map((f) => join(dir, f))
}

export function loadRuleTestCases(files = ruleTestFiles()): RuleTestCase[] {
  const out: RuleTestCase[] = []
  for (const file of files) {
    const doc = parse(readFileSync(file, 'utf8')) as { tests?: Array<{ name?: string; alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: unknown[] }> }> }
    ;(doc?.tests ?? []).forEach((t, i) => {
      for (const c of t.alert_rule_test ?? []) {
        out.push({ file: basename(file), group: t.name ?? `#${i + 1}`, alertname: c.alertname, evalTime: String(c.eval_time), fires: (c.exp_alerts ?? []).length > 0 })
      }
    })
  }
  return out
}

/**
 * Every alert needs a case where it fires once its `for` has passed and one where it stays
 * silent (an always-firing alert, expr vector(1), needs only the first).
 */
export function ruleTestCoverageProblems(rules: Rule[], cases: RuleTestCase[]): string[] {
  const problems: string[] = []
  const alerts = alertRules(rules)
  const known = new Set(alerts.map((a) => a.alert))
  for (const a of alerts) {
    const mine = cases.filter((c) => c.alertname === a.alert)
    const forMs = parseDuration(a.for ?? '0s') || 0
    const firing = mine.filter((c) => c.fires)
    if (!mine.length) { problems.push(`${a.alert} (${a.file}) has no unit test in config/prometheus/tests`); continue }
    if (!firing.length) problems.push(`${a.alert}: no test where it fires`)
    else if (!firing.some((c) => parseDuration(c.evalTime) >= forMs)) problems.push(`${a.alert}: no test where it fires after its for (${a.for})`)
    const always = /^\s*vector\(1\)\s*$/.test(a.expr)
    if (!always && !mine.some((c) => !c.fires)) problems.push(`${a.alert}: no test where it stays silent`)
  }
  for (const c of cases) if (!known.has(c.alertname)) problems.push(`${c.file} (${c.group}): tests an alert that does not exist: ${c.alertname}`)
  return problems
}
