// backup --store postgres --pitr: the base backups of continuous archiving. Checks that WAL
// archiving works (pgbackrest check), takes a full backup once a week (or when there is none)
// and a differential one otherwise; pgBackRest expires old backups and their WAL itself
// (repo1-retention-full). Writes the same backup metrics as the dumps, store="postgres-pitr".
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { KitError } from '../../core/errors.ts'
import { acquireLock } from '../../core/lock.ts'
import { storeLockPath } from '../locks.ts'
import type { Ctx } from '../../core/context.ts'
import { atomicWrite } from '../manifest.ts'
import type { Destination, Target } from '../types.ts'
import { earliestRecoverable, parseInfo, type PitrBackup } from './info.ts'
import { ensureConfig } from './setup.ts'
import type { PitrSite } from './site.ts'
import { failureReason } from '../../core/exec.ts'

export const PITR_METRICS_STORE = 'postgres-pitr'
export type PitrBackupType = 'auto' | 'full' | 'diff' | 'incr'

export interface PitrBackupOptions {
  site: PitrSite
  dest: Destination
  /** The target whose postgres store lease this run takes (the same one as every backup and restore of it). */
  store: Pick<Target, 'kind' | 'where'>
  env: Record<string, string>
  type: PitrBackupType
  timeoutMs: number
  metricsDir?: string
  /** A full backup when the newest one is older than this (auto). */
  fullEveryDays?: number
  now?: Date
}

export interface PitrBackupReport {
  ok: boolean
  store: typeof PITR_METRICS_STORE
  backup?: { label: string; type: string; finished: string; bytes: number; repoBytes: number }
  /** The window a restore --to can land in. */
  recoverableFrom?: string
  backups?: number
  error?: string
  durationMs: number
}

/** full when there is no full backup younger than `days`, else diff. */
export function pickType(backups: PitrBackup[], now: Date, days = 7): 'full' | 'diff' {
  const full = backups.filter((b) => b.type === 'full').at(-1)
  return !full || now.getTime() - full.stop.getTime() > (days - 0.5) * 86_400_000 ? 'full' : 'diff'
}

export async function runPitrBackup(ctx: Ctx, o: PitrBackupOptions): Promise<PitrBackupReport> {
  const t0 = performance.now()
  const release = ctx.dryRun ? () => {} : acquireLock(ctx, storeLockPath(o.dest, o.store, 'postgres').replace(/\.lock$/, '-pitr.lock'), 'pgBackRest backup of postgres')
  try {
    await ensureConfig(ctx, o.site, o.dest, o.env)
    await o.site.pgbackrest(ctx, ['stanza-create'], { mutates: true, timeout: 300_000 })
    const check = await o.site.pgbackrest(ctx, ['check'], { mutates: true, timeout: 300_000, allowFailure: true })
    if (check.exitCode !== 0) {
      throw new KitError(`WAL archiving does not work, no backup taken:\n${failureReason(ctx, check, 6, '\n')}`, 1,
        'the server\'s archive_command must be `pgbackrest --stanza=owp archive-push %p` and the repository writable by the server (see docs/backup.md)')
    }
    const before = parseInfo((await o.site.pgbackrest(ctx, ['--output=json', 'info'], { timeout: 300_000 })).stdout || '[]')
    const type = o.type === 'auto' ? pickType(before.backups, o.now ?? new Date(), o.fullEveryDays) : o.type
    const step = ctx.log.step(`postgres: pgBackRest ${type} backup into ${o.dest.url}`)
    await o.site.pgbackrest(ctx, [`--type=${type}`, 'backup'], { mutates: true, timeout: o.timeoutMs })
    step.ok()
    const after = parseInfo((await o.site.pgbackrest(ctx, ['--output=json', 'info'], { timeout: 300_000 })).stdout || '[]')
    const last = after.backups.at(-1)
    const report: PitrBackupReport = {
      ok: true, store: PITR_METRICS_STORE, backups: after.backups.length,
      recoverableFrom: earliestRecoverable(after)?.toISOString(),
      backup: last && { label: last.label, type: last.type, finished: last.stop.toISOString(), bytes: last.bytes, repoBytes: last.repoBytes },
      durationMs: Math.round(performance.now() - t0),
    }
    writePitrMetrics(ctx, o.metricsDir, report)
    return report
  } catch (e) {
    if (e instanceof KitError && e.exitCode !== 1) throw e
    const error = ctx.secrets.mask((e as Error).message)
    ctx.log.error(`postgres (pitr): ${error}`)
    if (e instanceof KitError && e.hint) ctx.log.info(`hint: ${e.hint}`)
    const report: PitrBackupReport = { ok: false, store: PITR_METRICS_STORE, error, durationMs: Math.round(performance.now() - t0) }
    writePitrMetrics(ctx, o.metricsDir, report)
    return report
  } finally {
    release()
  }
}

/** backup_*{store="postgres-pitr"} in the textfile directory, as the dumps write theirs. */
export function writePitrMetrics(ctx: Ctx, dir: string | undefined, r: PitrBackupReport, at = new Date()): void {
  if (!dir || ctx.dryRun) return
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `backup_${PITR_METRICS_STORE}.prom`)
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const old = (name: string) => Number(new RegExp(`^${name}\\{store="${PITR_METRICS_STORE}"\\} (\\S+)$`, 'm').exec(previous)?.[1] ?? 0)
  const values: [string, number][] = [
    ['backup_last_success_timestamp_seconds', r.ok ? Math.round(at.getTime() / 1000) : old('backup_last_success_timestamp_seconds')],
    ['backup_last_run_success', r.ok ? 1 : 0],
    ['backup_duration_seconds', r.durationMs / 1000],
    ['backup_size_bytes', r.ok ? r.backup?.repoBytes ?? 0 : old('backup_size_bytes')],
  ]
  atomicWrite(file, values.map(([n, v]) => `# TYPE ${n} gauge\n${n}{store="${PITR_METRICS_STORE}"} ${v}\n`).join(''))
}

export function renderPitrBackup(r: PitrBackupReport): string {
  if (!r.ok) return `postgres (pitr): FAILED: ${r.error}`
  return `postgres (pitr): ${r.backup?.type} backup ${r.backup?.label} finished ${r.backup?.finished}; ${r.backups} backup(s) kept, recoverable from ${r.recoverableFrom} to now`
}
