// Backup metrics for node-exporter's textfile collector, one file per store, written atomically
// (node-exporter must never read half a file). A failed run keeps the last success timestamp.
import { existsSync, readFileSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { atomicWrite } from './manifest.ts'
import type { KeptCopies, StoreName } from './types.ts'

export interface RunMetrics {
  store: StoreName
  success: boolean
  durationSeconds: number
  /** Bytes of the set written by this run (0 when it failed). */
  sizeBytes: number
  /** When this run finished. */
  at: Date
  /** The run could not take the store's lock (exit 75): counted as a run that did not back up. */
  locked?: boolean
  /** What earlier restores replaced and kept, as this run saw it (absent: not looked at; the last values stay). */
  kept?: KeptCopies
}

const HELP: Record<string, string> = {
  backup_last_success_timestamp_seconds: 'Unix time of the last backup of the store that completed and verified.',
  backup_last_run_success: '1 if the last backup run of the store succeeded, 0 if it failed.',
  backup_duration_seconds: 'Duration of the last backup run of the store.',
  backup_size_bytes: 'Size in bytes of the last successful backup set of the store.',
  backup_last_run_timestamp_seconds: 'Unix time the last backup run of the store ended, whatever its outcome.',
  backup_last_run_locked: '1 if the last backup run of the store could not take its lock (another run holds it).',
  backup_restore_kept_bytes: 'Bytes of what restores replaced and kept beside the store (for the operator to drop), as the last backup saw them.',
  backup_restore_kept_since_timestamp_seconds: 'Unix time the oldest copy a restore replaced and kept was set aside (0: none).',
}

export function metricsFile(dir: string, store: StoreName): string {
  return join(dir, `backup_${store}.prom`)
}

/** A sample's value from an existing textfile, or null. */
export function readSample(text: string, name: string, store: StoreName): number | null {
  const m = new RegExp(`^${name}\\{store="${store}"\\} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : null
}

export function renderMetrics(m: RunMetrics, previous = ''): string {
  const lastSuccess = m.success ? m.at.getTime() / 1000 : readSample(previous, 'backup_last_success_timestamp_seconds', m.store) ?? 0
  const size = m.success ? m.sizeBytes : readSample(previous, 'backup_size_bytes', m.store) ?? 0
  const values: Record<string, number> = {
    backup_last_success_timestamp_seconds: Math.round(lastSuccess),
    backup_last_run_success: m.success ? 1 : 0,
    backup_duration_seconds: Math.round(m.durationSeconds * 1000) / 1000,
    backup_size_bytes: size,
    backup_last_run_timestamp_seconds: Math.round(m.at.getTime() / 1000),
    backup_last_run_locked: m.locked ? 1 : 0,
  }
  // a driver that keeps what a restore replaced says what it saw; a run that did not look keeps the last values
  const keptBytes = m.kept ? m.kept.bytes : readSample(previous, 'backup_restore_kept_bytes', m.store)
  const keptSince = m.kept ? (m.kept.since ? Math.round(m.kept.since.getTime() / 1000) : 0) : readSample(previous, 'backup_restore_kept_since_timestamp_seconds', m.store)
  if (keptBytes !== null && keptSince !== null) {
    values.backup_restore_kept_bytes = keptBytes
    values.backup_restore_kept_since_timestamp_seconds = keptSince
  }
  return Object.entries(values)
    .map(([name, v]) => `# HELP ${name} ${HELP[name]}\n# TYPE ${name} gauge\n${name}{store="${m.store}"} ${v}\n`)
    .join('')
}

/**
 * Where a run's metrics go when no flag says: compose writes the textfile the compose node-exporter
 * mounts (BACKUP_METRICS_DIR, else compose/.generated/textfile beside the compose file); CronJobs
 * push to the chart's Pushgateway (BACKUP_PUSHGATEWAY_URL, set by the chart).
 */
export function defaultMetricsSinks(kind: string, composeFile: string, env: Record<string, string>): { metricsDir?: string; pushgateway?: string } {
  const metricsDir = env.BACKUP_METRICS_DIR || (kind === 'compose' ? join(dirname(resolve(composeFile)), '.generated', 'textfile') : undefined)
  return { metricsDir, pushgateway: env.BACKUP_PUSHGATEWAY_URL || undefined }
}

export function writeMetrics(dir: string, m: RunMetrics): string {
  mkdirSync(dir, { recursive: true })
  const file = metricsFile(dir, m.store)
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : ''
  atomicWrite(file, renderMetrics(m, previous))
  return file
}

