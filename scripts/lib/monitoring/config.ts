// Monitoring config the deploy writes before `compose up`: Alertmanager receivers from .env
// (Alertmanager does not expand env vars) and the Prometheus config of the enabled services.
import { mkdirSync, readFileSync, writeFileSync, existsSync, statSync, readdirSync, rmdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parse, parseDocument, stringify, isMap, isSeq, type YAMLMap } from 'yaml'
import { ROOT, CONFIG_DIR } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'
import { KitError } from '../core/errors.ts'

export const PROMETHEUS_DIR = join(CONFIG_DIR, 'prometheus')
export const PROMETHEUS_CONFIG = join(PROMETHEUS_DIR, 'prometheus.prod.yml')
export const RULES_DIR = join(PROMETHEUS_DIR, 'rules')
export const RULE_TESTS_DIR = join(PROMETHEUS_DIR, 'tests')
export const METRICS_CATALOG = join(PROMETHEUS_DIR, 'metrics-catalog.yml')
export const BLACKBOX_CONFIG = join(PROMETHEUS_DIR, 'blackbox.yml')
export const ALERTMANAGER_BASE = join(CONFIG_DIR, 'alertmanager', 'alertmanager.yml')
export const GRAFANA_DIR = join(CONFIG_DIR, 'grafana')
export const DASHBOARDS_DIR = join(GRAFANA_DIR, 'dashboards')
export const RUNBOOKS_DIR = join(ROOT, 'docs', 'runbooks')
/** Where the deploy keeps rendered files the compose stack mounts (git-ignored). */
export const GENERATED_DIR = join(ROOT, 'compose', '.generated')

export type Severity = 'critical' | 'warning' | 'info'
export type Channel = 'email' | 'slack' | 'webhook'

/** Which channels each severity reaches (the schema: e-mail is for critical alerts). */
export const CHANNELS_BY_SEVERITY: Record<Severity, Channel[]> = {
  critical: ['email', 'slack', 'webhook'],
  warning: ['slack', 'webhook'],
  info: ['webhook'],
}

/** The keys of the chart's alert-channel Secret (the defaults of its values) and the .env variable each holds. */
export const ALERT_SECRET_KEYS = { 'smtp-password': 'SMTP_PASSWORD', 'slack-webhook-url': 'SLACK_WEBHOOK_URL', 'alert-webhook-url': 'ALERT_WEBHOOK_URL' } as const

export interface AlertChannels {
  /** Channels whose variables are all set, in a stable order. */
  configured: Channel[]
  /** Channels asked for but incomplete: left out, with the reason. */
  skipped: Array<{ channel: Channel; reason: string }>
}

const set = (env: Record<string, string | undefined>, name: string) => (env[name] ?? '').trim() !== ''

export function alertChannels(env: Record<string, string | undefined>): AlertChannels {
  const configured: Channel[] = []
  const skipped: AlertChannels['skipped'] = []
  if (set(env, 'ALERT_EMAIL_TO')) {
    const missing = ['SMTP_SMARTHOST', 'SMTP_FROM'].filter((n) => !set(env, n))
    if (missing.length) skipped.push({ channel: 'email', reason: `ALERT_EMAIL_TO is set but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not` })
    else configured.push('email')
  }
  if (set(env, 'SLACK_WEBHOOK_URL')) configured.push('slack')
  if (set(env, 'ALERT_WEBHOOK_URL')) configured.push('webhook')
  return { configured, skipped }
}

function receiver(channel: Channel, env: Record<string, string | undefined>): Record<string, unknown> {
  switch (channel) {
    case 'email':
      return {
        name: 'email',
        email_configs: [{
          to: env.ALERT_EMAIL_TO,
          from: env.SMTP_FROM,
          smarthost: env.SMTP_SMARTHOST,
          ...(set(env, 'SMTP_USERNAME') ? { auth_username: env.SMTP_USERNAME } : {}),
          ...(set(env, 'SMTP_PASSWORD') ? { auth_password: env.SMTP_PASSWORD } : {}),
          require_tls: true,
          send_resolved: true,
        }],
      }
    case 'slack':
      return {
        name: 'slack',
        slack_configs: [{
          api_url: env.SLACK_WEBHOOK_URL,
          send_resolved: true,
          title: '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})',
          text: '{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}: {{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}',
        }],
      }
    case 'webhook':
      return { name: 'webhook', webhook_configs: [{ url: env.ALERT_WEBHOOK_URL, send_resolved: true }] }
  }
}

interface Route { receiver?: string; matchers?: string[]; routes?: Route[]; continue?: boolean; [k: string]: unknown }

/**
 * The deployed Alertmanager config: config/alertmanager/alertmanager.yml plus a receiver per
 * configured channel and, under each severity route, a child route per channel that serves
 * it. Channels without env values are left out; with none, everything goes to 'null'.
 */
export function renderAlertmanagerConfig(env: Record<string, string>, basePath = ALERTMANAGER_BASE): string {
  const config = parse(readFileSync(basePath, 'utf8')) as { route: Route; receivers: Array<{ name: string }> }
  const { configured } = alertChannels(env)
  for (const channel of configured) config.receivers.push(receiver(channel, env) as { name: string })
  for (const route of config.route.routes ?? []) {
    const severity = (route.matchers ?? []).map((m) => /^severity="(\w+)"$/.exec(m)?.[1]).find(Boolean) as Severity | undefined
    if (!severity) continue
    const channels = CHANNELS_BY_SEVERITY[severity].filter((c) => configured.includes(c))
    if (channels.length) route.routes = channels.map((c) => ({ receiver: c, continue: true }))
  }
  const header = '# Rendered by scripts/lib/monitoring/config.ts from config/alertmanager/alertmanager.yml: do not edit.\n' +
    `# Channels: ${configured.join(', ') || "none (every alert goes to 'null')"}\n`
  return header + stringify(config, { lineWidth: 0 })
}

export interface Written { path: string; detail: string }

/** Write a rendered file the way exec treats a mutation: printed, not done, under --dry-run. */
function writeRendered(ctx: Ctx, path: string, text: string, detail: string, mode = 0o644): Written {
  const shown = path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path
  if (ctx.dryRun) {
    ctx.plan.push(`write ${shown}`)
    if (!ctx.json) ctx.out(`[dry-run] write ${shown} (${detail})`)
    return { path, detail }
  }
  // The directory is private to the deploying user; the file itself stays readable because the
  // containers read their bind mounts as their own user (nobody for Prometheus/Alertmanager).
  const dir = dirname(path)
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Docker makes a directory at a bind mount's missing source path (a container of this project
  // restarted by the engine before the file was written, e.g. after the checkout moved): an empty
  // one is replaced by the file; one with content is the operator's, and refused with its name.
  if (existsSync(path) && statSync(path).isDirectory()) {
    if (readdirSync(path).length) throw new KitError(`${shown} is a directory with files in it: it must be the rendered file`, 1, `move ${shown} away; the deploy writes it`)
    rmdirSync(path)
    ctx.log.warn(`${shown} was an empty directory (Docker creates one at a missing bind-mount path): replaced by the rendered file`)
  }
  writeFileSync(path, text, { mode })
  ctx.log.info(`wrote ${shown} (${detail})`)
  return { path, detail }
}

/** Render and write the Alertmanager config; warns about channels left out. */
export function writeAlertmanagerConfig(ctx: Ctx, env: Record<string, string>, path = join(GENERATED_DIR, 'alertmanager.yml')): Written {
  const { configured, skipped } = alertChannels(env)
  for (const s of skipped) ctx.log.warn(`alert channel ${s.channel} left out: ${s.reason}`)
  for (const name of ['SMTP_PASSWORD', 'SLACK_WEBHOOK_URL', 'ALERT_WEBHOOK_URL']) ctx.secrets.add(env[name])
  return writeRendered(ctx, path, renderAlertmanagerConfig(env), `alert channels: ${configured.join(', ') || 'none'}`)
}

/** Scrape jobs and probe targets that belong to an optional service, by the env switch that disables it. */
const OPTIONAL_SERVICES = [{ flag: 'LIGHTLLM_ENABLED', job: 'lightllm', component: 'lightllm' }]

/**
 * prometheus.prod.yml without the jobs and probes of services the env turns off
 * (LIGHTLLM_ENABLED=false), so a service that is not deployed does not page as down.
 */
export function renderPrometheusConfig(env: Record<string, string>, basePath = PROMETHEUS_CONFIG): string {
  const text = readFileSync(basePath, 'utf8')
  const disabled = OPTIONAL_SERVICES.filter((s) => (env[s.flag] ?? '').toLowerCase() === 'false')
  if (!disabled.length) return text
  const doc = parseDocument(text)
  const jobs = doc.get('scrape_configs')
  if (!isSeq(jobs)) throw new Error(`${basePath}: scrape_configs is not a list`)
  jobs.items = jobs.items.filter((job) => !disabled.some((s) => isMap(job) && job.get('job_name') === s.job))
  for (const job of jobs.items) {
    const statics = isMap(job) ? job.get('static_configs') : null
    if (!isSeq(statics)) continue
    statics.items = statics.items.filter((sc) => {
      const labels = isMap(sc) ? (sc.get('labels') as YAMLMap | undefined) : undefined
      return !disabled.some((s) => isMap(labels) && labels.get('component') === s.component)
    })
  }
  const note = `# Rendered from config/prometheus/prometheus.prod.yml without: ${disabled.map((s) => s.job).join(', ')} (${disabled.map((s) => `${s.flag}=false`).join(', ')}).\n`
  return note + doc.toString({ lineWidth: 0, flowCollectionPadding: false })
}

/**
 * The monitoring files the compose stack mounts from compose/.generated: alertmanager.yml and
 * prometheus.yml (prometheus.prod.yml without the services the env turns off). The Qdrant key
 * for /run/secrets/qdrant_api_key is not written here: the Prometheus container writes it to a
 * tmpfs from QDRANT_API_KEY at start, so it never lands on the host's disk.
 */
export function writeMonitoringConfig(ctx: Ctx, env: Record<string, string>, dir = GENERATED_DIR): Written[] {
  const disabled = OPTIONAL_SERVICES.filter((s) => (env[s.flag] ?? '').toLowerCase() === 'false').map((s) => s.job)
  return [
    writeAlertmanagerConfig(ctx, env, join(dir, 'alertmanager.yml')),
    writeRendered(ctx, join(dir, 'prometheus.yml'), renderPrometheusConfig(env), disabled.length ? `without ${disabled.join(', ')}` : 'every job'),
  ]
}
