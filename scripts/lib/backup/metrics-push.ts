// Backup metrics pushed to a Prometheus Pushgateway, for runs that have no node-exporter textfile
// directory (the chart's backup CronJobs get BACKUP_PUSHGATEWAY_URL). The same four series as the
// textfile (renderMetrics), in one group per store, /metrics/job/backup/store/<store>, replaced whole
// by each run (PUT). A failed run keeps the last success timestamp and size: the group is read back
// first and handed to renderMetrics as the previous file, exactly as writeMetrics does with the file.
import { KitError } from '../core/errors.ts'
import { renderMetrics, type RunMetrics } from './metrics.ts'
import type { StoreName } from './types.ts'

/** The job label of pushed backup series (the Pushgateway ServiceMonitor keeps it: honorLabels). */
export const PUSH_JOB = 'backup'

export function pushGroupUrl(base: string, store: StoreName, job = PUSH_JOB): string {
  return `${base.replace(/\/+$/, '')}/metrics/job/${encodeURIComponent(job)}/store/${encodeURIComponent(store)}`
}

function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1')
  return out
}

/**
 * The backup samples of one store's group in a Pushgateway's /metrics page, as textfile lines
 * (`name{store="x"} value`) that renderMetrics reads as the previous file.
 */
export function previousSamples(exposition: string, store: StoreName, job = PUSH_JOB): string {
  const lines: string[] = []
  for (const line of exposition.split('\n')) {
    const m = /^(backup_[a-z_]+)\{([^}]*)\}\s+(\S+)/.exec(line)
    if (!m) continue
    const labels = labelsOf(m[2]!)
    if (labels.job === job && labels.store === store) lines.push(`${m[1]}{store="${store}"} ${Number(m[3])}`)
  }
  return lines.join('\n')
}

export interface PushOptions {
  job?: string
  /** per request (the read and the push), default 10 s */
  timeoutMs?: number
}

async function request(url: string, init: RequestInit, timeoutMs: number): Promise<string> {
  let res: Response
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  } catch (e) {
    throw new KitError(`cannot reach the Pushgateway at ${url}: ${(e as Error).message}`, 1, 'check BACKUP_PUSHGATEWAY_URL and that the Pushgateway runs (monitoring.pushgateway.enabled in the chart)')
  }
  const body = await res.text()
  if (!res.ok) throw new KitError(`the Pushgateway refused ${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${body.trim().slice(0, 300)}`)
  return body
}

/** Push one run's metrics; returns the group URL. Throws KitError when the Pushgateway cannot be read or refuses. */
export async function pushMetrics(base: string, m: RunMetrics, o: PushOptions = {}): Promise<string> {
  const timeoutMs = o.timeoutMs ?? 10_000
  const job = o.job ?? PUSH_JOB
  const previous = m.success ? '' : previousSamples(await request(`${base.replace(/\/+$/, '')}/metrics`, { method: 'GET' }, timeoutMs), m.store, job)
  const group = pushGroupUrl(base, m.store, job)
  await request(group, { method: 'PUT', body: renderMetrics(m, previous), headers: { 'Content-Type': 'text/plain; version=0.0.4' } }, timeoutMs)
  return group
}
