// The checks of each target. Compose (validate-compose.ts): the public edge through NGINX
// (127.0.0.1:HTTPS_PORT with the Host header), and inside the stack, where nothing else publishes
// a port, `compose exec` of each service's own healthcheck and of small HTTP probes. Kubernetes
// (validate-k8s.ts): pods ready, each component's health endpoint through `kubectl port-forward`,
// the ingress URL. URL: just what is given.
import { rootCertificates } from 'node:tls'
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from './errors.ts'
import { httpCheck, tlsCheck, type TlsTrust } from './probes.ts'
import { composeChecks } from './validate-compose.ts'
import { k8sChecks } from './validate-k8s.ts'
import type { HealthCheck, ValidateOptions, Attempt } from './validate.ts'
import type { Ctx } from './context.ts'

export interface TargetChecks { checks: HealthCheck[]; cleanup(): Promise<void> }

/** Compose services that observe the platform: their failure warns, it does not fail a deploy. */
export const MONITORING_SERVICES = new Set([
  'prometheus', 'alertmanager', 'grafana', 'node-exporter', 'postgres-exporter', 'redis-exporter',
  'nginx-exporter', 'celery-exporter', 'blackbox-exporter', 'otel-collector',
])

/** Component of a compose service or chart component; the GraphRAG ones answer `--component graphrag`. */
export function componentOf(service: string): string {
  if (['graphrag-processor', 'graphrag', 'celery-worker', 'celery-beat', 'celeryWorker', 'celeryBeat'].includes(service)) return 'graphrag'
  if (MONITORING_SERVICES.has(service)) return 'monitoring'
  if (service === 'mcp-server') return 'mcp'
  return service
}

/** Data stores GraphRAG needs: their checks also run for --component graphrag. */
export const GRAPHRAG_DEPENDENCIES = new Set(['postgres', 'redis', 'qdrant', 'neo4j'])

/** The trust for TLS: --insecure, or the CA bundle file (system roots plus --ca-file). */
export function trust(o: { insecure?: boolean; caFile?: string }): TlsTrust {
  return { insecure: o.insecure, caFile: o.caFile }
}

export async function checksFor(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
  if (o.caFile && !existsSync(o.caFile)) throw new UsageError(`--ca-file ${o.caFile} not found`)
  const caFile = o.caFile ? withRoots(o.caFile) : undefined
  const opts = { ...o, caFile: caFile?.path ?? undefined }
  try {
    const built = o.target === 'compose' ? await composeChecks(ctx, opts) : o.target === 'k8s' ? await k8sChecks(ctx, opts) : urlChecks(opts)
    return { checks: [...built.checks, ...extraChecks(opts)], cleanup: async () => { await built.cleanup(); caFile?.remove() } }
  } catch (e) {
    caFile?.remove()
    throw e
  }
}

/** A CA bundle of the system roots plus the given PEM: a self-signed pair and public certificates both verify. */
export function withRoots(file: string): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'owp-ca-'))
  const path = join(dir, 'ca.pem')
  writeFileSync(path, [...rootCertificates, readFileSync(file, 'utf8')].join('\n'))
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

function extraChecks(o: ValidateOptions): HealthCheck[] {
  return (o.extra ?? []).map((spec) => {
    const eq = spec.indexOf('=')
    if (eq < 1) throw new UsageError(`--check wants NAME=URL (got "${spec}")`)
    const name = spec.slice(0, eq)
    const url = spec.slice(eq + 1)
    try { new URL(url) } catch { throw new UsageError(`--check ${name}: "${url}" is not a URL`) }
    return { name, component: name, critical: true, run: (a: Attempt) => httpCheck({ url, host: o.host, ...trust(o) }, a) }
  })
}

/** The public edge: Open WebUI's /health through the URL users open, and its certificate. */
export function edgeChecks(o: ValidateOptions, base: string, host: string | undefined, critical: boolean): HealthCheck[] {
  const url = new URL(base)
  const checks: HealthCheck[] = [{
    name: `edge ${url.origin}/health${host ? ` (Host ${host})` : ''}`,
    component: 'openwebui',
    critical,
    run: (a) => httpCheck({ url: new URL('/health', url).toString(), host, ...trust(o) }, a),
  }]
  if (url.protocol === 'https:') {
    checks.push({
      name: `tls certificate ${host ?? url.hostname}`,
      component: 'tls',
      critical,
      run: (a) => tlsCheck({ host: url.hostname, port: Number(url.port || 443), servername: host ?? (isAddress(url.hostname) ? undefined : url.hostname), warnDays: o.certWarnDays, ...trust(o) }, a),
    })
  }
  return checks
}

function isAddress(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':')
}

function urlChecks(o: ValidateOptions): TargetChecks {
  if (!o.url && !o.extra?.length) throw new UsageError('--target url needs --url URL (and/or --check NAME=URL)')
  return { checks: o.url ? edgeChecks(o, o.url, o.host, true) : [], cleanup: async () => {} }
}
