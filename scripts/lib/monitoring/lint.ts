// Every monitoring check in one call, each with the real tool: promtool, amtool (compose's config and
// the chart's AlertmanagerConfig as the operator merges it), blackbox, a throwaway Prometheus for
// PromQL, plus the dashboard linter, catalogue and chart drift.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import {
  ALERT_SECRET_KEYS, BLACKBOX_CONFIG, CHANNELS_BY_SEVERITY, PROMETHEUS_CONFIG, alertChannels, renderAlertmanagerConfig, type Channel, type Severity,
} from './config.ts'
import { alertmanagerYamlFromCrd, type AlertmanagerConfigSpec } from './alertmanager-crd.ts'
import { CHART_DIR, TOOLS_BIN } from '../core/paths.ts'
import {
  amtoolCheckConfig, amtoolRoutes, blackboxCheckConfig, localPrometheusConfig, prometheusAccepts,
  promtoolCheckConfig, promtoolCheckRules, promtoolTestRules, startThrowawayPrometheus,
} from './promtool.ts'
import {
  loadRuleTestCases, loadRules, recordedNames, ruleConventionProblems, ruleFiles, ruleTestCoverageProblems, ruleTestFiles,
} from './rules.ts'
import { dashboardExpressions, promqlSyntaxErrors, ruleExpressions, type Expression } from './promql.ts'
import { lintDashboards } from './dashboards.ts'
import { checkMetricNames, loadCatalog } from './catalog.ts'
import { describeDrift, monitoringDrift } from './sync.ts'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'

/** Receiver values for checking a config with every channel (never sent anywhere). */
export const SAMPLE_RECEIVER_ENV: Record<string, string> = {
  ALERT_EMAIL_TO: 'oncall@example.test',
  SMTP_SMARTHOST: 'smtp.example.test:587',
  SMTP_FROM: 'alertmanager@example.test',
  SMTP_USERNAME: 'alertmanager',
  SMTP_PASSWORD: 'sample-smtp-password',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.example.test/services/T000/B000/sample',
  ALERT_WEBHOOK_URL: 'https://alerts.example.test/hook',
}

export interface CheckOutcome { name: string; ok: boolean; problems: string[]; durationMs: number }
export interface MonitoringReport { ok: boolean; checks: CheckOutcome[] }

export interface LintOptions {
  /** A running Prometheus to judge PromQL; absent: start a throwaway one (false: skip). */
  prometheusUrl?: string | false
}

async function timed(name: string, fn: () => Promise<string[]> | string[]): Promise<CheckOutcome> {
  const started = performance.now()
  let problems: string[]
  try {
    problems = await fn()
  } catch (e) {
    const err = e as Error
    problems = [`${err.message}${e instanceof KitError && e.hint && !err.message.includes(e.hint) ? ` (hint: ${e.hint})` : ''}`]
  }
  return { name, ok: problems.length === 0, problems, durationMs: Math.round(performance.now() - started) }
}

const lines = (output: string) => output.split('\n').map((l) => l.trimEnd()).filter(Boolean)

/** Which receivers an alert of each severity must reach for a set of configured channels. */
export function expectedReceivers(severity: Severity, configured: string[]): string[] {
  const r = CHANNELS_BY_SEVERITY[severity].filter((c) => configured.includes(c))
  return r.length ? r : ['null']
}

/**
 * amtool check-config of one alertmanager.yml, then where an alert of each severity goes (the
 * channels compose sends it to) and the Watchdog (nowhere). labels: what every alert carries (a namespace).
 */
export async function amtoolProblems(ctx: Ctx, file: string, label: string, configured: string[], labels: Record<string, string> = {}): Promise<string[]> {
  const check = await amtoolCheckConfig(ctx, file)
  if (!check.ok) return [`${label}: amtool check-config failed:`, ...lines(check.output)]
  const problems: string[] = []
  for (const severity of ['critical', 'warning', 'info'] as const) {
    const got = await amtoolRoutes(ctx, file, { alertname: 'Probe', severity, service: 'probe', ...labels })
    const want = expectedReceivers(severity, configured)
    if (got.join(',') !== want.join(',')) problems.push(`${label}: severity=${severity} routes to ${got.join(',') || 'nothing'}, want ${want.join(',')}`)
  }
  const watchdog = await amtoolRoutes(ctx, file, { alertname: 'Watchdog', severity: 'info', service: 'monitoring', ...labels })
  if (watchdog.join(',') !== 'null') problems.push(`${label}: Watchdog routes to ${watchdog.join(',')}, want null`)
  return problems
}

/** Render with every channel and with none; amtool checks both and their routing. */
export async function alertmanagerProblems(ctx: Ctx, dir: string): Promise<string[]> {
  const problems: string[] = []
  for (const [label, env] of [['every channel', SAMPLE_RECEIVER_ENV], ['no channel', {}]] as const) {
    const file = join(dir, `alertmanager-${label.replace(' ', '-')}.yml`)
    writeFileSync(file, renderAlertmanagerConfig(env))
    problems.push(...await amtoolProblems(ctx, file, label, alertChannels(env).configured))
  }
  return problems
}

/** The Secret the chart's channel credentials come from when the lint renders it. */
export const CHART_CHANNEL_SECRET = 'owp-alert-channels'
const amc = 'monitoring.alertmanagerConfig'
/**
 * The chart's AlertmanagerConfig with every channel (the sample values of compose's check,
 * credentials from CHART_CHANNEL_SECRET) and with none: --set values and the channels each turns on.
 */
export const CHART_CHANNEL_CASES: ReadonlyArray<{ label: string; set: string[]; configured: Channel[] }> = [
  {
    label: 'every channel',
    set: [
      `${amc}.email.to=${SAMPLE_RECEIVER_ENV.ALERT_EMAIL_TO}`, `${amc}.email.from=${SAMPLE_RECEIVER_ENV.SMTP_FROM}`,
      `${amc}.email.smarthost=${SAMPLE_RECEIVER_ENV.SMTP_SMARTHOST}`, `${amc}.email.username=${SAMPLE_RECEIVER_ENV.SMTP_USERNAME}`,
      `${amc}.email.existingSecret=${CHART_CHANNEL_SECRET}`, `${amc}.slack.existingSecret=${CHART_CHANNEL_SECRET}`,
      `${amc}.webhook.existingSecret=${CHART_CHANNEL_SECRET}`,
    ],
    configured: ['email', 'slack', 'webhook'],
  },
  { label: 'no channel', set: [], configured: [] },
]

/** CHART_CHANNEL_SECRET as the sample values of compose's check; any other Secret or key is an error. */
export function sampleChannelSecret({ name, key }: { name: string; key: string }): string {
  const variable = (ALERT_SECRET_KEYS as Record<string, string>)[key]
  if (name !== CHART_CHANNEL_SECRET || !variable) throw new Error(`the AlertmanagerConfig names Secret ${name} key ${key}, which the chart's values do not`)
  return SAMPLE_RECEIVER_ENV[variable]!
}

/** An AlertmanagerConfig's spec as the alertmanager.yml the Prometheus Operator makes of it, checked by amtool like compose's. */
export async function alertmanagerCrdProblems(ctx: Ctx, dir: string, label: string, spec: AlertmanagerConfigSpec, namespace: string, configured: string[]): Promise<string[]> {
  let text: string
  try {
    text = alertmanagerYamlFromCrd(spec, namespace, sampleChannelSecret)
  } catch (e) {
    return [`${label}: ${(e as Error).message}`]
  }
  const file = join(dir, `alertmanager-crd-${label.replace(' ', '-')}.yml`)
  writeFileSync(file, text)
  return amtoolProblems(ctx, file, label, configured, { namespace })
}

export interface ChartRender { chartDir?: string; namespace?: string; helm?: string }

/** `helm template` of the chart with its AlertmanagerConfig on (and the operator's API served), for each channel case; each converted and checked by amtool. */
export async function chartAlertmanagerProblems(ctx: Ctx, dir: string, o: ChartRender = {}): Promise<string[]> {
  const namespace = o.namespace ?? 'openwebui-prod'
  const results = await Promise.all(CHART_CHANNEL_CASES.map(async ({ label, set, configured }) => {
    const r = await ctx.exec([o.helm ?? join(TOOLS_BIN, 'helm'), 'template', 'owp', o.chartDir ?? CHART_DIR, '--namespace', namespace,
      '--api-versions', 'monitoring.coreos.com/v1alpha1', '--set', `${amc}.enabled=true`, ...set.flatMap((s) => ['--set', s])],
    { allowFailure: true, timeout: 120_000, title: `helm template (AlertmanagerConfig, ${label})` })
    if (r.exitCode !== 0) return [`${label}: helm template failed: ${lines(r.stderr).join(' ')}`]
    const objects = parseAllDocuments(r.stdout, { version: '1.1' }).map((d) => d.toJS() as { kind?: string; metadata?: { namespace?: string }; spec?: AlertmanagerConfigSpec } | null)
    const found = objects.find((x) => x?.kind === 'AlertmanagerConfig')
    if (!found?.spec) return [`${label}: the chart renders no AlertmanagerConfig with ${amc}.enabled=true`]
    return alertmanagerCrdProblems(ctx, dir, label, found.spec, found.metadata?.namespace ?? namespace, configured)
  }))
  return results.flat()
}

/** blackbox_exporter --config.check, and every module a probe job asks for exists. */
export async function blackboxProblems(ctx: Ctx, blackbox = BLACKBOX_CONFIG, prometheus = PROMETHEUS_CONFIG): Promise<string[]> {
  const check = await blackboxCheckConfig(ctx, blackbox)
  const problems = check.ok ? [] : ['blackbox_exporter rejects its config:', ...lines(check.output)]
  const modules = new Set(Object.keys((parse(readFileSync(blackbox, 'utf8')) as { modules?: object })?.modules ?? {}))
  const jobs = (parse(readFileSync(prometheus, 'utf8')) as { scrape_configs?: Array<{ job_name: string; params?: { module?: string[] } }> }).scrape_configs ?? []
  for (const j of jobs) for (const m of j.params?.module ?? []) if (!modules.has(m)) problems.push(`job ${j.job_name} probes with module ${m}, which blackbox.yml does not define`)
  return problems
}

export async function promqlAcceptedProblems(url: string, expressions: Expression[]): Promise<string[]> {
  const verdicts = await Promise.all(expressions.map(async (e) => ({ e, v: await prometheusAccepts(url, e.promql) })))
  return verdicts.filter(({ v }) => !v.ok).map(({ e, v }) => `${e.where}: ${v.error}\n    ${e.promql}`)
}

export function syntaxProblems(expressions: Expression[]): string[] {
  return expressions.flatMap((e) => promqlSyntaxErrors(e.promql).map((s) => `${e.where}: syntax error at ${s.at} near "${s.near}"`))
}

export async function lintMonitoring(ctx: Ctx, o: LintOptions = {}): Promise<MonitoringReport> {
  const dir = mkdtempSync(join(tmpdir(), 'owp-monlint-'))
  try {
    const rules = loadRules()
    const expressions = [...ruleExpressions(rules), ...dashboardExpressions()]
    const checks = await Promise.all([
      timed('prometheus config (promtool check config)', async () => {
        const r = await promtoolCheckConfig(ctx, localPrometheusConfig(dir))
        return r.ok ? [] : lines(r.output)
      }),
      timed('rule files (promtool check rules)', async () => {
        const r = await promtoolCheckRules(ctx, ruleFiles())
        return r.ok ? [] : lines(r.output)
      }),
      timed('rule unit tests (promtool test rules)', async () => {
        const r = await promtoolTestRules(ctx, ruleTestFiles())
        return r.ok ? [] : lines(r.output)
      }),
      timed('alert conventions and runbooks', () => ruleConventionProblems(rules)),
      timed('every alert unit-tested', () => ruleTestCoverageProblems(rules, loadRuleTestCases())),
      timed('blackbox modules', () => blackboxProblems(ctx)),
      timed('alertmanager (amtool check-config, routes)', () => alertmanagerProblems(ctx, dir)),
      timed("chart's AlertmanagerConfig (helm template, amtool check-config, routes)", () => chartAlertmanagerProblems(ctx, dir)),
      timed('dashboards (lint)', () => lintDashboards()),
      timed('PromQL syntax (lezer-promql)', () => syntaxProblems(expressions)),
      timed('PromQL accepted by Prometheus', async () => {
        if (o.prometheusUrl === false) return []
        if (o.prometheusUrl) return promqlAcceptedProblems(o.prometheusUrl, expressions)
        const prom = await startThrowawayPrometheus(ctx)
        try { return await promqlAcceptedProblems(prom.url, expressions) } finally { await prom.stop() }
      }),
      timed('metric names in the catalogue', () => {
        const r = checkMetricNames(expressions, loadCatalog(), recordedNames(rules))
        return [...r.unknown, ...r.unused]
      }),
      timed('chart copies in sync', () => describeDrift(monitoringDrift()).map((l) => `${l} (run: make sync-monitoring)`)),
    ])
    if (o.prometheusUrl === false) checks.splice(checks.findIndex((c) => c.name === 'PromQL accepted by Prometheus'), 1)
    return { ok: checks.every((c) => c.ok), checks }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
