// What every target's checks share: the public edge (Open WebUI's /health through the URL users
// open, and its certificate), the TLS trust, extra --check URLs, and how services map to
// components. Compose (compose.ts) and Kubernetes (k8s.ts) build on it; neither imports the other.
import { rootCertificates } from 'node:tls'
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from '../core/errors.ts'
import { httpCheck, tlsCheck, httpRequest, chatBody, chatOutcome, type TlsTrust } from './probes.ts'
import type { Ctx } from '../core/context.ts'
import type { HealthCheck, ValidateOptions, Attempt, TargetChecks } from './types.ts'

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

/** A CA bundle of the system roots plus the given PEM: a self-signed pair and public certificates both verify. */
export function withRoots(file: string): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'owp-ca-'))
  const path = join(dir, 'ca.pem')
  writeFileSync(path, [...rootCertificates, readFileSync(file, 'utf8')].join('\n'))
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export function extraChecks(o: ValidateOptions): HealthCheck[] {
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

export function urlChecks(o: ValidateOptions): TargetChecks {
  if (!o.url && !o.extra?.length) throw new UsageError('--target url needs --url URL (and/or --check NAME=URL)')
  return { checks: o.url ? edgeChecks(o, o.url, o.host, true) : [], cleanup: async () => {} }
}

/**
 * The chat check of a deployment whose chats go to an external OpenAI-compatible endpoint
 * (OPENAI_API_BASE_URL), or, with none, a failing check: a deployment that cannot answer chats is not valid.
 */
export function externalChatCheck(ctx: Ctx, env: Record<string, string | undefined>, o: { timeoutMs?: number; none: string }): HealthCheck {
  const baseUrl = env.OPENAI_API_BASE_URL
  if (!baseUrl) {
    return { name: 'chat completion', component: 'llm', critical: true, async run() { return { status: 'fail', detail: `nothing answers chats: ${o.none}` } } }
  }
  const base = baseUrl.replace(/\/+$/, '')
  const key = env.OPENAI_API_KEY
  return {
    name: `chat completion (${new URL(base).host})`,
    component: 'llm',
    critical: true,
    timeoutMs: Math.max(o.timeoutMs ?? 0, 60_000),
    async run(a: Attempt) {
      ctx.secrets.add(key)
      const r = await httpRequest({
        url: `${base}/chat/completions`, method: 'POST', body: JSON.stringify(chatBody(env.LLM_MODEL_NAME || 'default')), expect: () => true,
        headers: { 'content-type': 'application/json', ...(key && key !== 'none' ? { authorization: `Bearer ${key}` } : {}) },
      }, a)
      return chatOutcome(r.status, r.body, r.ms)
    },
  }
}
