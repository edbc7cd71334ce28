// Compose mirrors the chart: images and tags (values.yaml), container ports, environment names and
// commands (the chart as `helm template` renders it). Each difference is one readable line.
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { CHART_DIR, TOOLS_BIN } from '../core/paths.ts'
import type { ComposeDoc } from './env.ts'
import type { Ctx } from '../core/context.ts'

/** compose service -> where values.yaml pins its image. */
export const IMAGE_VALUES: Record<string, string> = {
  openwebui: 'openwebui.image',
  lightllm: 'lightllm.image',
  'graphrag-processor': 'graphrag.image',
  'celery-worker': 'graphrag.image',
  'celery-beat': 'graphrag.image',
  'mcp-server': 'mcp.image',
  postgres: 'postgres.image',
  'postgres-exporter': 'postgres.metrics.image',
  redis: 'redis.image',
  'redis-exporter': 'redis.metrics.image',
  qdrant: 'qdrant.image',
  neo4j: 'neo4j.image',
  'celery-exporter': 'celeryExporter.image',
  'otel-collector': 'monitoring.otelCollector.image',
  'blackbox-exporter': 'monitoring.blackboxExporter.image',
  // The chart has no NGINX of its own (Ingress/Gateway); its helm test pod runs the same image.
  nginx: 'tests.image',
}

/** Images the chart pins that compose does not run, and why. */
export const CHART_ONLY_IMAGES: Record<string, string> = {
  'backup.image': 'the ops image runs the backup CronJobs; on one host the backups run from the host',
  'monitoring.pushgateway.image': 'backup CronJobs push their metrics to it; on one host they land in the node-exporter textfile directory',
  'postgres.cnpg.pooler.image': "CloudNativePG's Pooler runs its own PgBouncer image; on one host PgBouncer is the kit's image built from Debian's package (docker/Dockerfile.pgbouncer)",
}

/** Environment only the chart sets, and why compose does not need it. */
export const CHART_ONLY_ENV: Record<string, string> = {
  POSTGRES_PASSWORD: 'the kubelet expands $(POSTGRES_PASSWORD) into DATABASE_URL; compose interpolates the URL itself',
  REDIS_PASSWORD: 'the kubelet expands $(REDIS_PASSWORD) into the redis:// URLs; compose interpolates them itself',
  NEO4J_PASSWORD: 'the kubelet expands $(NEO4J_PASSWORD) into NEO4J_AUTH; compose interpolates it itself',
  PGDATA: 'the data directory is a sub-directory of the PVC (lost+found sits at its root)',
  MAX_BODY_LOG_SIZE: "the audit log's body limit (openwebui.auditLog.maxBodySize); compose keeps Open WebUI's default",
}

/** Environment only compose sets, and why (the chart's side of these is separate work). */
export const COMPOSE_ONLY_ENV: Record<string, string> = {
  AUDIT_LOG_LEVEL: 'the .env setting WEBUI_AUDIT_LOG_LEVEL; the chart has no value for it yet',
}

/**
 * Environment compose always sets (an empty value leaves the feature off) and the chart sets only
 * when the feature is on, by the value that turns it on.
 */
export const FEATURE_ENV: Record<string, string> = Object.fromEntries([
  ...['OPENID_PROVIDER_URL', 'OAUTH_PROVIDER_NAME', 'OAUTH_CLIENT_ID', 'OAUTH_CLIENT_SECRET', 'OAUTH_SCOPES', 'OPENID_REDIRECT_URI',
    'OAUTH_ROLES_CLAIM', 'OAUTH_ALLOWED_ROLES', 'OAUTH_ADMIN_ROLES', 'OAUTH_GROUP_CLAIM'].map((n) => [n, 'openwebui.sso.oidc.enabled']),
  ...['WEBUI_AUTH_TRUSTED_EMAIL_HEADER', 'WEBUI_AUTH_TRUSTED_NAME_HEADER'].map((n) => [n, 'openwebui.sso.trustedHeader.enabled']),
  ...['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'].map((n) => [n, 'global.proxy.httpsProxy']),
])

/** Services whose start command must match the chart's word for word. */
export const SAME_COMMAND = ['lightllm', 'celery-worker', 'celery-beat']

export interface ChartContainer {
  name: string
  image: string
  command: string[]
  envNames: Set<string>
  ports: number[]
}

/** `helm template` of the chart (read-only, runs under --dry-run too). */
export async function renderChart(ctx: Ctx, o: { valuesFiles?: string[]; release?: string; namespace?: string } = {}): Promise<string> {
  const r = await ctx.exec([join(TOOLS_BIN, 'helm'), 'template', o.release ?? 'owp', CHART_DIR, '-n', o.namespace ?? 'openwebui-prod',
    ...(o.valuesFiles ?? []).flatMap((f) => ['-f', f])], { timeout: 60_000, title: 'helm template' })
  return r.stdout
}

/** The containers of the workloads a rendered chart runs (helm test pods left out), by name. */
export function chartContainers(rendered: string): Map<string, ChartContainer> {
  const docs = parseAllDocuments(rendered, { version: '1.1' }).map((d) => d.toJS()).filter(Boolean) as any[]
  const configMaps = new Map<string, string[]>(docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata.name, Object.keys(d.data ?? {})]))
  const out = new Map<string, ChartContainer>()
  for (const d of docs) {
    if (d.kind === 'Pod') continue
    const spec = d.kind === 'CronJob' ? d.spec?.jobTemplate?.spec?.template?.spec : d.spec?.template?.spec
    for (const c of (spec?.containers ?? []) as any[]) {
      const envNames = new Set<string>((c.env ?? []).map((e: { name: string }) => e.name))
      for (const ef of c.envFrom ?? []) for (const k of configMaps.get(ef.configMapRef?.name ?? '') ?? []) envNames.add(k)
      out.set(c.name, {
        name: c.name,
        image: c.image,
        command: [...(c.command ?? []), ...(c.args ?? [])].map(String),
        envNames,
        ports: (c.ports ?? []).map((p: { containerPort: number }) => p.containerPort),
      })
    }
  }
  return out
}

export interface ChartComparison {
  compose: ComposeDoc
  values: Record<string, unknown>
  containers: Map<string, ChartContainer>
  /** Other configuration compose runs that names host:port (the Prometheus config). */
  extraText?: string
}

/** Every difference between the compose stack and the chart, one line each. */
export function compareComposeWithChart(c: ChartComparison): string[] {
  const problems: string[] = []
  const at = (path: string): any => path.split('.').reduce((o: any, k) => o?.[k], c.values)

  // Images and tags
  for (const [service, path] of Object.entries(IMAGE_VALUES)) {
    const v = at(path)
    const svc = c.compose.services[service]
    if (!v || !svc) { problems.push(`${service}: ${!svc ? 'not a compose service' : `values.yaml has no ${path}`}`); continue }
    const expected = `${v.repository}:${v.tag}`
    if (svc.image !== expected) problems.push(`${service}: image ${svc.image} in compose, ${expected} in the chart (${path})`)
  }
  const pinned: string[] = []
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== 'object') return
    const o = node as Record<string, unknown>
    if (typeof o.repository === 'string' && 'tag' in o) pinned.push(path)
    for (const [k, v] of Object.entries(o)) walk(v, path ? `${path}.${k}` : k)
  }
  walk(c.values, '')
  const covered = new Set([...Object.values(IMAGE_VALUES), ...Object.keys(CHART_ONLY_IMAGES)])
  for (const p of pinned) if (!covered.has(p)) problems.push(`values.yaml pins ${p}, which no compose service runs`)

  const text = JSON.stringify(c.compose) + (c.extraText ?? '')
  for (const [service, ctr] of c.containers) {
    const svc = c.compose.services[service]
    if (!svc) continue
    // Environment names
    const mine = new Set(Object.keys((svc.environment as Record<string, unknown> | undefined) ?? {}))
    const onlyCompose = [...mine].filter((n) => !ctr.envNames.has(n) && !(n in FEATURE_ENV) && !(n in COMPOSE_ONLY_ENV))
    const onlyChart = [...ctr.envNames].filter((n) => !mine.has(n) && !(n in CHART_ONLY_ENV))
    if (onlyCompose.length) problems.push(`${service}: only compose sets ${onlyCompose.sort().join(', ')}`)
    if (onlyChart.length) problems.push(`${service}: only the chart sets ${onlyChart.sort().join(', ')}`)
    // Ports: every host:port compose (or the config it runs) uses is a containerPort of the chart
    const used = new Set([...text.matchAll(new RegExp(`(?<![\\w./-])${escape(service)}:(\\d+)(?![\\w.])`, 'g'))].map((m) => Number(m[1])))
    const port = (svc.environment as Record<string, string> | undefined)?.PORT
    if (port && ctr.ports.length) used.add(Number(port))
    for (const p of [...used].sort()) if (!ctr.ports.includes(p)) problems.push(`${service}: compose uses port ${p}, the chart declares ${ctr.ports.join(', ') || 'none'}`)
    // Commands
    if (SAME_COMMAND.includes(service) && JSON.stringify(svc.command) !== JSON.stringify(ctr.command)) {
      problems.push(`${service}: command differs\n    compose: ${JSON.stringify(svc.command)}\n    chart:   ${JSON.stringify(ctr.command)}`)
    }
  }
  return problems
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
