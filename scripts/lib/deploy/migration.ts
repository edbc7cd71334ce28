// The way back across a database migration: Open WebUI migrates its schema when its new version
// starts, so before an upgrade that changes its image the deploy takes a verified PostgreSQL set
// (labelled pre-upgrade:<deploy>) and records alembic_version before and after. Rolling back after
// the schema moved: ask (a terminal) or need --yes, keep what was written since the upgrade in a
// pre-rollback set, stop the writers, restore the pre-upgrade set, start the writers again (never
// the new Open WebUI: it would migrate again); the caller then starts the previous version.
import { join } from 'node:path'
import { confirm } from '../core/context.ts'
import { KitError, UsageError } from '../core/errors.ts'
import { ROOT } from '../core/paths.ts'
import { heldLeaseEnv } from '../core/lock.ts'
import { composeArgv, containers, type ComposeProject } from '../tools/compose.ts'
import type { Step } from '../core/plan.ts'
import type { BlueGreenService, UpgradeReport } from './strategies.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason } from '../core/exec.ts'

/** Services that write Open WebUI's database (its DATABASE_URL): stopped while it is restored. */
export const DATABASE_WRITERS = ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat']

export interface MigrationGuard {
  project: ComposeProject
  env: Record<string, string>
  deployId: string
  openwebui: BlueGreenService
  report: UpgradeReport
  /** Set once the restore ran (both undo paths may ask for it). */
  restored?: boolean
}

export interface RollbackReport {
  /** The schema went back from `from` to `to` (the pre-upgrade set's revision). */
  schema: { from: string | null; to: string | null }
  restoredSet: string
  /** What was written between the upgrade and the rollback: not in the database any more, kept in this set. */
  writtenSinceUpgrade: { since: string; until: string; keptIn: string | null }
}

/** The kit's own scripts, run as a user would (their locks, verification, metrics, manifests). */
const script = (name: string, ...args: string[]) => [process.execPath, '--import', 'tsx', join(ROOT, 'scripts', name), ...args]
const shown = (name: string, ...args: string[]) => ['tsx', `scripts/${name}`, ...args]

function backupArgs(g: MigrationGuard, label: string): string[] {
  return ['--store', 'postgres', '--target', 'compose', '--compose-file', g.project.file, ...(g.project.envFile ? ['--env-file', g.project.envFile] : []), '--label', label, '--json']
}

/** Open WebUI's schema revision (alembic_version), null when the table is not there yet. */
export async function schemaRevision(ctx: Ctx, g: MigrationGuard): Promise<string | null> {
  const r = await ctx.exec(revisionArgv(g), { allowFailure: true, timeout: 60_000 })
  if (r.exitCode === 0) return r.stdout.trim().split('\n')[0]?.trim() || null
  if (/relation "alembic_version" does not exist/.test(r.stderr)) return null
  throw new KitError(`could not read Open WebUI's schema revision: ${failureReason(ctx, r)}`)
}

const revisionArgv = (g: MigrationGuard) => composeArgv(g.project, 'exec', '-T', 'postgres', 'psql', '-X', '-q', '-At',
  '-U', g.env.POSTGRES_USER || 'openwebui', '-d', g.env.POSTGRES_DB || 'openwebui', '-c', 'SELECT version_num FROM alembic_version')

async function backup(ctx: Ctx, g: MigrationGuard, label: string): Promise<string> {
  // under the deploy's store leases: the child takes them over from us instead of exiting 75
  const r = await ctx.exec(script('backup.ts', ...backupArgs(g, label)), { mutates: true, cwd: ROOT, env: heldLeaseEnv(), allowFailure: true, timeout: 3_600_000, title: `backup postgres (${label})` })
  let id: string | undefined
  try { id = (JSON.parse(r.stdout) as { stores: Array<{ ok: boolean; verified?: boolean; id?: string }> }).stores.find((s) => s.ok && s.verified)?.id } catch { /* not JSON: failed below */ }
  if (r.exitCode !== 0 || !id) throw new KitError(`the ${label} backup of PostgreSQL failed (nothing was changed):\n${failureReason(ctx, r, 8, '\n')}`)
  return id
}

/** A non-interactive run without --yes could not undo a migration: refuse before anything changes. */
export function checkMigrationConsent(ctx: Ctx): void {
  if (ctx.yes || ctx.interactive || ctx.dryRun) return
  throw new UsageError('this upgrade changes the Open WebUI image: rolling it back after its migration restores the pre-upgrade database, which needs consent and there is no terminal to ask on',
    'pass --yes (or run it on a terminal), or --strategy recreate --no-validate to upgrade without an automatic rollback')
}

/** The steps before Open WebUI's new version starts, and once it is healthy. */
export function migrationSteps(g: MigrationGuard): { before: Step[]; after: Step[] } {
  const label = `pre-upgrade:${g.deployId}`
  return {
    before: [
      {
        id: 'schema-before', title: "record Open WebUI's schema revision (alembic_version)", argv: revisionArgv(g), mutates: true,
        action: async (c) => { g.report.schema = { before: await schemaRevision(c, g), after: null } },
      },
      {
        id: 'pre-upgrade-backup', title: `verified PostgreSQL backup set, labelled ${label}`,
        argv: shown('backup.ts', ...backupArgs(g, label)), mutates: true, after: ['schema-before'], timeoutMs: 3_600_000,
        action: async (c) => { g.report.preUpgradeSet = await backup(c, g, label) },
      },
    ],
    after: [{
      id: 'schema-after', title: "record Open WebUI's schema revision after its new version started", argv: revisionArgv(g), mutates: true,
      action: async (c) => {
        const after = await schemaRevision(c, g)
        g.report.schema = { before: g.report.schema?.before ?? null, after }
        if (after !== g.report.schema.before) c.log.info(`Open WebUI migrated its schema ${g.report.schema.before ?? '(none)'} -> ${after}: a rollback restores ${g.report.preUpgradeSet}`)
      },
      undo: restoreStep(g),
    }],
  }
}

/** The undo that puts the pre-upgrade database back when the schema moved (once, whichever path asks first). */
export function restoreStep(g: MigrationGuard): Step {
  return {
    id: 'restore-pre-upgrade', title: 'if the schema moved: restore the pre-upgrade PostgreSQL set (asks on a terminal; --yes without one)',
    argv: shown('restore.ts', '--store', 'postgres', '--from', g.report.preUpgradeSet ?? `<pre-upgrade:${g.deployId} set>`, '--target', 'compose', '--yes'), mutates: true,
    action: async (c) => { await restoreIfMigrated(c, g) },
  }
}

export async function restoreIfMigrated(ctx: Ctx, g: MigrationGuard): Promise<void> {
  const s = g.report.schema
  if (g.restored || !s || !g.report.preUpgradeSet) return
  const now = await schemaRevision(ctx, g).catch(() => s.after)
  if (now === s.before) return
  const since = g.report.switchedAt ?? g.report.startedAt ?? new Date().toISOString()
  await confirm(ctx, `Open WebUI's schema moved ${s.before ?? '(none)'} -> ${now}: roll back by restoring PostgreSQL set ${g.report.preUpgradeSet}? What was written since ${since} leaves the database (a set keeps it)`)
  const keptIn = await backup(ctx, g, `pre-rollback:${g.deployId}`).catch((e: Error) => { ctx.log.warn(`${e.message}\nthe data written since the upgrade is NOT kept`); return null })
  const writers = ((await containers(ctx, g.project)) ?? []).filter((c) => DATABASE_WRITERS.includes(c.service) && c.state === 'running')
  if (writers.length) await ctx.exec(['docker', 'stop', ...writers.map((c) => c.id)], { mutates: true, timeout: 180_000, title: 'stop the writers of the database' })
  const restore = await ctx.exec(script('restore.ts', '--store', 'postgres', '--from', g.report.preUpgradeSet, '--target', 'compose', '--compose-file', g.project.file,
    ...(g.project.envFile ? ['--env-file', g.project.envFile] : []), '--yes', '--json'), { mutates: true, cwd: ROOT, env: heldLeaseEnv(), allowFailure: true, timeout: 3_600_000, title: 'restore the pre-upgrade set' })
  // a new Open WebUI stays stopped: started again it would migrate the restored database once more
  // (blue-green: the one beside the old; recreate: the one that replaced it, until `up` puts the old image back)
  const old = new Set(g.openwebui.old.map((c) => c.id))
  const again = writers.filter((c) => c.service !== 'openwebui' || old.has(c.id))
  if (again.length) await ctx.exec(['docker', 'start', ...again.map((c) => c.id)], { mutates: true, timeout: 180_000, title: 'start the writers again' })
  if (restore.exitCode !== 0) throw new KitError(`restoring ${g.report.preUpgradeSet} failed: ${failureReason(ctx, restore, 6, '\n')}`)
  g.restored = true
  const rollback: RollbackReport = {
    schema: { from: now, to: s.before }, restoredSet: g.report.preUpgradeSet,
    writtenSinceUpgrade: { since, until: new Date().toISOString(), keptIn },
  }
  g.report.rollback = rollback
  ctx.log.warn(`PostgreSQL restored to ${g.report.preUpgradeSet} (schema ${s.before}); what was written between ${since} and now ${keptIn ? `is kept in set ${keptIn}` : 'is lost'}`)
}
