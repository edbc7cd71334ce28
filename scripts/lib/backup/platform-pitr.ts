// The point-in-time half of a platform set: when the PostgreSQL server archives its WAL through
// pgBackRest (archive_mode on, archive_command `pgbackrest ... archive-push`), `make backup` takes a
// pgBackRest base backup in the same run, after the dump, and the platform manifest records it (its
// label, type, finish time and the window `restore --to` can land in). A server that does not
// archive gets none and the set says so; no separate `backup --pitr` is needed.
import type { Ctx } from '../core/context.ts'
import { psql } from './stores/pg-common.ts'
import { runPitrBackup, type PitrBackupReport } from './pitr/backup.ts'
import type { PitrSite } from './pitr/site.ts'
import type { Destination, StoreSettings, Target } from './types.ts'
import { oneLine } from '../core/exec.ts'

export interface PitrWithSet {
  /** Where pgBackRest runs (built only when the server archives: a host without PGDATA never needs one). */
  site: () => PitrSite
  metricsDir?: string
}

/** What the platform manifest keeps of the base backup (or why there is none). */
export interface PlatformPitr {
  ok: boolean
  label?: string
  type?: string
  finished?: string
  recoverableFrom?: string
  error?: string
}

export const ARCHIVE_SQL = "SELECT current_setting('archive_mode') || '|' || current_setting('archive_command')"

/** archive_mode on (or always) with an archive_command that pushes through pgBackRest. */
export function archivesThroughPgbackrest(setting: string): boolean {
  const bar = setting.indexOf('|')
  const mode = setting.slice(0, bar).trim()
  const command = setting.slice(bar + 1)
  return bar > 0 && mode !== 'off' && /\bpgbackrest\b[^|;&]*\barchive-push\b/.test(command)
}

export async function archivingConfigured(ctx: Ctx, target: Target, settings: StoreSettings): Promise<boolean> {
  const run = { target, settings, dir: '', scratch: '', id: '', verify: false }
  const [line] = await psql(ctx, run, settings.env.POSTGRES_DB ?? 'postgres', ARCHIVE_SQL)
  return archivesThroughPgbackrest(line ?? '')
}

export function pitrOfReport(r: PitrBackupReport): PlatformPitr {
  return r.ok
    ? { ok: true, label: r.backup?.label, type: r.backup?.type, finished: r.backup?.finished, recoverableFrom: r.recoverableFrom }
    : { ok: false, error: r.error }
}

/** The base backup beside a platform set's dump; undefined when the server does not archive through pgBackRest. */
export async function pitrWithSet(ctx: Ctx, o: { pitr: PitrWithSet; target: Target; dest: Destination; settings: StoreSettings }): Promise<PitrBackupReport | undefined> {
  if (ctx.dryRun) {
    ctx.plan.push('postgres: a pgBackRest base backup when the server archives its WAL through pgBackRest')
    return undefined
  }
  let on: boolean
  try {
    on = await archivingConfigured(ctx, o.target, o.settings)
  } catch (e) {
    ctx.log.warn(`postgres: could not ask the server whether it archives WAL (${oneLine(ctx.secrets.mask((e as Error).message))}): no point-in-time base backup in this set`)
    return undefined
  }
  if (!on) {
    ctx.log.info('postgres: the server does not archive WAL through pgBackRest: no point-in-time base backup in this set')
    return undefined
  }
  let site: PitrSite
  try {
    site = o.pitr.site()
  } catch (e) {
    const error = ctx.secrets.mask((e as Error).message)
    ctx.log.error(`postgres (pitr): ${error}`)
    return { ok: false, store: 'postgres-pitr', error, durationMs: 0 }
  }
  return runPitrBackup(ctx, { site, dest: o.dest, store: o.target, env: o.settings.env, type: 'auto', timeoutMs: o.settings.timeoutMs, metricsDir: o.pitr.metricsDir })
}
