// The way back across Open WebUI's schema migration on Kubernetes. Planned from what the kit has seen
// before helm touched anything: the rendered chart (the internal PostgreSQL StatefulSet, the backup
// CronJob, the writers), the pre-upgrade backup Job (its log names the verified set) and the schema
// revision (alembic_version) read before and after the upgrade. When validation fails and the schema
// moved, the chart's undo asks (a terminal) or needs --yes, keeps what was written since the upgrade
// in a pre-rollback set, stops the writers (scale to 0), restores the pre-upgrade set with a Job
// made from the chart's own backup CronJob, then `helm rollback` starts the previous version (its
// replica counts come back with the previous manifests). Schema unchanged: the plain helm rollback.
import { confirm } from '../core/context.ts'
import { KitError, UsageError } from '../core/errors.ts'
import { kubectl } from '../tools/kube.ts'
import { WRITERS } from '../backup/writers.ts'
import type { PreUpgradeBackup } from './preupgrade.ts'
import type { Step } from '../core/plan.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason } from '../core/exec.ts'

interface Obj { kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; spec?: any }

export interface K8sUpgradeReport {
  /** Open WebUI's schema revision before the chart upgrade and after it (null: no alembic_version yet). */
  schema?: { before: string | null; after: string | null }
  /** The verified set the pre-upgrade Job wrote (from its log). */
  preUpgradeSet?: string
  upgradedAt?: string
  rollback?: {
    schema: { from: string | null; to: string | null }
    restoredSet: string
    restoreJob: string
    writtenSinceUpgrade: { since: string; until: string; keptIn: string | null }
  }
}

export interface K8sMigration {
  namespace: string
  release: string
  backup: PreUpgradeBackup
  /** The chart's internal PostgreSQL StatefulSet; null (external, CloudNativePG): the schema cannot be read. */
  postgres: string | null
  /** The chart renders Argo Rollouts: they are scaled with the Deployments. */
  rollouts: boolean
  timeout: string
  report: K8sUpgradeReport
  restored?: boolean
  /** The writers the rollback scaled to 0, with their replica counts. */
  stopped?: Array<{ name: string; replicas: number }>
}

/** The internal PostgreSQL StatefulSet of the rendered chart, if any. */
export function postgresStatefulSet(objects: Obj[]): string | null {
  const s = objects.find((o) => o.kind === 'StatefulSet' && (o.metadata?.labels?.['app.kubernetes.io/component'] === 'postgres' || /-postgres$/.test(o.metadata?.name ?? '')))
  return s?.metadata?.name ?? null
}

const SQL = 'SELECT version_num FROM alembic_version'
export const schemaArgv = (m: Pick<K8sMigration, 'namespace' | 'postgres'>): string[] =>
  kubectl('exec', '--namespace', m.namespace, `statefulset/${m.postgres ?? '<postgres>'}`, '-c', 'postgres', '--',
    'sh', '-c', `psql -X -q -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c '${SQL}'`)

/** Open WebUI's schema revision; null when the table is not there yet. */
export async function k8sSchemaRevision(ctx: Ctx, m: K8sMigration): Promise<string | null> {
  const r = await ctx.exec(schemaArgv(m), { allowFailure: true, timeout: 60_000 })
  if (r.exitCode === 0) return r.stdout.trim().split('\n')[0]?.trim() || null
  if (/relation "alembic_version" does not exist/.test(r.stderr)) return null
  throw new KitError(`could not read Open WebUI's schema revision: ${failureReason(ctx, r)}`)
}

/** The verified set a backup Job's log names (`backup.ts --json` prints its outcome last on stdout). */
export function setFromJobLog(log: string): string | null {
  const lines = log.split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]!.startsWith('{')) continue
    try {
      const out = JSON.parse(lines.slice(i).join('\n')) as { stores?: Array<{ ok?: boolean; verified?: boolean; id?: string }> }
      return out.stores?.find((s) => s.ok && s.verified && s.id)?.id ?? null
    } catch { /* not the whole document: an earlier line starts it */ }
  }
  return null
}

/** The backup container's command turned into a restore of `set` (same destination and target). */
export function restoreCommand(command: string[], set: string): string[] {
  const out: string[] = []
  for (let i = 0; i < command.length; i++) {
    const a = command[i]!
    if (a === '--encrypt') { i++; continue }
    if (a === '--maintenance-window') continue
    out.push(a === 'scripts/backup.ts' ? 'scripts/restore.ts' : a)
  }
  if (!out.includes('scripts/restore.ts')) throw new KitError(`the backup CronJob does not run scripts/backup.ts (${command.join(' ')}): restore the set by hand`)
  return [...out, '--from', set]
}

/** Refuse before anything changes: a rollback after a migration restores the database and needs consent. */
export function checkK8sMigrationConsent(ctx: Ctx): void {
  if (ctx.yes || ctx.interactive || ctx.dryRun) return
  throw new UsageError('this upgrade changes the Open WebUI image: rolling it back after its migration restores the pre-upgrade database, which needs consent and there is no terminal to ask on',
    'pass --yes (or run it on a terminal), or --no-validate to upgrade without an automatic rollback')
}

const writersSelector = (release: string) => `app.kubernetes.io/instance=${release},app.kubernetes.io/component in (${WRITERS.join(',')})`
const stamp = () => Math.floor(Date.now() / 1000).toString(36)

/** The read before the backup Job, and the set its log names after it. */
export function k8sMigrationBefore(m: K8sMigration): { schema: Step[]; set: Step } {
  return {
    schema: m.postgres ? [{
      id: 'schema-before', title: "record Open WebUI's schema revision (alembic_version)", argv: schemaArgv(m), mutates: true,
      action: async (c) => { m.report.schema = { before: await k8sSchemaRevision(c, m), after: null } },
    }] : [],
    set: {
      id: 'pre-upgrade-set', title: `the verified set of backup job ${m.backup.job} (its log)`,
      argv: kubectl('logs', `job/${m.backup.job}`, '--namespace', m.namespace, '-c', 'backup'), mutates: true, after: ['pre-upgrade-backup-wait'],
      action: async (c) => {
        const r = await c.exec(kubectl('logs', `job/${m.backup.job}`, '--namespace', m.namespace, '-c', 'backup'), { timeout: 60_000 })
        const set = setFromJobLog(r.stdout)
        if (!set) throw new KitError(`backup job ${m.backup.job} completed but its log names no verified set: the upgrade would have no way back (nothing was changed)`)
        m.report.preUpgradeSet = set
        m.report.upgradedAt = new Date().toISOString()
        c.log.info(`pre-upgrade PostgreSQL set: ${set}`)
      },
    },
  }
}

export function k8sMigrationAfter(m: K8sMigration): Step[] {
  return m.postgres ? [{
    id: 'schema-after', title: "record Open WebUI's schema revision after the upgrade", argv: schemaArgv(m), mutates: true,
    action: async (c) => {
      const after = await k8sSchemaRevision(c, m)
      m.report.schema = { before: m.report.schema?.before ?? null, after }
      if (after !== m.report.schema.before) c.log.info(`Open WebUI migrated its schema ${m.report.schema.before ?? '(none)'} -> ${after}: a rollback restores ${m.report.preUpgradeSet}`)
    },
  }] : []
}

/** The chart's undo, migration-aware: `rollback` is the plain `helm rollback` step it wraps. */
export function migrationAwareUndo(m: K8sMigration, rollback: Step): Step {
  const set = () => m.report.preUpgradeSet ?? `<set of job ${m.backup.job}>`
  return {
    ...rollback,
    explain: `if Open WebUI's schema moved: ask (a terminal) or need --yes, keep what was written since the upgrade in a set, scale the writers to 0, restore the pre-upgrade PostgreSQL set ${set()} with a Job from CronJob ${m.backup.cronJob}, then ${rollback.title} and scale the writers back`,
    action: async (c) => {
      await restoreIfMigratedK8s(c, m, set())
      await c.exec(rollback.argv, { mutates: true, timeout: rollback.timeoutMs, stream: true, title: rollback.title })
      // the previous version's pods: the counts the writers had (helm rollback sets those its manifests name)
      for (const w of m.stopped ?? []) await c.exec(kubectl('scale', w.name, '--namespace', m.namespace, `--replicas=${w.replicas}`), { mutates: true, timeout: 120_000, title: `start ${w.name}` })
    },
  }
}

async function runJob(ctx: Ctx, m: K8sMigration, job: object, name: string, what: string): Promise<string> {
  await ctx.exec(kubectl('create', '--namespace', m.namespace, '-f', '-'), { input: JSON.stringify(job), mutates: true, timeout: 60_000, title: `create job ${name} (${what})` })
  const w = await ctx.exec(kubectl('wait', `job/${name}`, '--for=condition=complete', '--namespace', m.namespace, `--timeout=${m.timeout}`), { mutates: true, allowFailure: true, timeout: 3_600_000, title: `wait for job ${name}` })
  if (w.exitCode !== 0) throw new KitError(`job ${name} (${what}) did not complete: ${failureReason(ctx, w)}; see kubectl logs job/${name} -n ${m.namespace}`)
  const r = await ctx.exec(kubectl('logs', `job/${name}`, '--namespace', m.namespace, '-c', 'backup'), { allowFailure: true, timeout: 60_000 })
  // the job completed: a log that cannot be read only hides which set it wrote
  if (r.exitCode !== 0) ctx.log.warn(`job ${name} (${what}) completed, but its log cannot be read (${failureReason(ctx, r)}): kubectl logs job/${name} -n ${m.namespace} names its set`)
  return r.stdout
}

/** A Job from the backup CronJob's template (same image, destination, service account), its command replaced or kept. */
function jobFrom(cron: Obj, name: string, command?: string[]): object {
  const spec = structuredClone(cron.spec?.jobTemplate?.spec ?? {})
  const container = spec.template?.spec?.containers?.[0]
  if (!container) throw new KitError(`CronJob ${cron.metadata?.name} has no container template`)
  if (command) container.command = command
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: { name, labels: { ...(cron.metadata?.labels ?? {}), 'owp.dev/purpose': command ? 'pre-upgrade-restore' : 'pre-rollback-backup' } }, spec }
}

export async function restoreIfMigratedK8s(ctx: Ctx, m: K8sMigration, set: string): Promise<void> {
  const s = m.report.schema
  if (m.restored) return
  if (!m.postgres || !s) {
    ctx.log.warn(`the kit could not read Open WebUI's schema revision: rolling the chart back only. If the new version migrated the database, restore ${set} by hand first (docs/deploy.md, Upgrades)`)
    return
  }
  const now = await k8sSchemaRevision(ctx, m).catch(() => s.after)
  if (now === s.before) return
  if (!m.report.preUpgradeSet) throw new KitError(`Open WebUI's schema moved ${s.before} -> ${now} but the pre-upgrade set is not known: nothing rolled back; restore the set of job ${m.backup.job} by hand, then helm rollback`)
  const since = m.report.upgradedAt ?? new Date().toISOString()
  await confirm(ctx, `Open WebUI's schema moved ${s.before ?? '(none)'} -> ${now}: roll back by restoring PostgreSQL set ${set}? What was written since ${since} leaves the database (a set keeps it)`)
  const cron = JSON.parse((await ctx.exec(kubectl('get', 'cronjob', m.backup.cronJob, '--namespace', m.namespace, '--output', 'json'), { timeout: 60_000 })).stdout) as Obj
  const command = (cron.spec?.jobTemplate?.spec?.template?.spec?.containers?.[0]?.command ?? []) as string[]
  if (command.includes('--encrypt')) {
    throw new KitError(`the backup sets are encrypted: a restore needs your age identity, which the cluster does not have. Nothing rolled back: scale the writers to 0, run restore.ts --store postgres --from ${set} --target k8s --identity <key>, then helm rollback (docs/deploy.md, Upgrades)`)
  }
  const restoreJob = `${m.release}-pre-upgrade-restore-${stamp()}`.slice(0, 63)
  const restoreSpec = jobFrom(cron, restoreJob, restoreCommand(command, set))
  // what was written since the upgrade: kept in a set before it leaves the database
  const keepJob = `${m.release}-pre-rollback-${stamp()}`.slice(0, 63)
  const keptIn = await runJob(ctx, m, jobFrom(cron, keepJob), keepJob, 'backup of what was written since the upgrade').then(setFromJobLog)
    .catch((e: Error) => { ctx.log.warn(`${e.message}\nthe data written since the upgrade is NOT kept`); return null })
  const sel = writersSelector(m.release)
  const kinds = m.rollouts ? ['deployment', 'rollouts.argoproj.io'] : ['deployment']
  // the replica counts, put back after helm rollback (a chart without `replicas` - an HPA - would leave them at 0)
  m.stopped = []
  for (const kind of kinds) {
    const r = await ctx.exec(kubectl('get', kind, '--namespace', m.namespace, '--selector', sel, '--output', 'json'), { allowFailure: true, timeout: 60_000 })
    if (r.exitCode !== 0) ctx.log.warn(`cannot list the ${kind} writers to stop (${failureReason(ctx, r)}): they keep running during the restore`)
    const items = r.exitCode === 0 ? (JSON.parse(r.stdout || '{"items":[]}') as { items: Array<{ metadata: { name: string }; spec?: { replicas?: number } }> }).items : []
    m.stopped.push(...items.filter((d) => (d.spec?.replicas ?? 1) > 0).map((d) => ({ name: `${kind}/${d.metadata.name}`, replicas: d.spec?.replicas ?? 1 })))
  }
  for (const w of m.stopped) await ctx.exec(kubectl('scale', w.name, '--namespace', m.namespace, '--replicas=0'), { mutates: true, timeout: 120_000, title: `stop ${w.name}` })
  const gone = await ctx.exec(kubectl('wait', '--for=delete', 'pod', '--namespace', m.namespace, '--selector', sel, `--timeout=${m.timeout}`), { mutates: true, allowFailure: true, timeout: 3_600_000, title: 'wait for the writers to stop' })
  if (gone.exitCode !== 0 && !/no matching resources found/.test(gone.stderr)) ctx.log.warn(`the writers' pods did not all go within ${m.timeout} (${failureReason(ctx, gone)}): restoring anyway`)
  await runJob(ctx, m, restoreSpec, restoreJob, `restore of ${set}`)
  m.restored = true
  m.report.rollback = { schema: { from: now, to: s.before }, restoredSet: set, restoreJob, writtenSinceUpgrade: { since, until: new Date().toISOString(), keptIn } }
  ctx.log.warn(`PostgreSQL restored to ${set} (schema ${s.before}); what was written between ${since} and now ${keptIn ? `is kept in set ${keptIn}` : 'is lost'}; the previous version starts with helm rollback`)
}
