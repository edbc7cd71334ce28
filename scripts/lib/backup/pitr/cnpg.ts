// restore --store postgres --target k8s --to TIME with CloudNativePG (postgres.mode: cnpg): a NEW
// Cluster bootstrapped from the running one's backups (bootstrap.recovery, externalClusters,
// recoveryTarget.targetTime), created beside it through the chart's values, waited for, checked,
// and only then the applications switched to it (postgres.cnpg.recovery.active). The running
// Cluster is never written to and stays rendered (its data, backups and WAL are kept).
import { KitError, UsageError } from '../../core/errors.ts'
import { CHART_DIR } from '../../core/paths.ts'
import { confirm, type Ctx } from '../../core/context.ts'
import { helmBin } from '../../tools/helm.ts'
import { oneLine } from '../../core/exec.ts'

export interface CnpgRestoreOptions {
  release: string
  namespace: string
  kubeContext?: string
  target: Date
  timeoutMs: number
  chart?: string
}

export interface CnpgStep { title: string; argv: string[]; mutates: boolean }

export interface CnpgPlan {
  source: string
  name: string
  firstRecoverable: string | null
  steps: CnpgStep[]
  /** Run when the recovered Cluster does not become ready: it is removed again (it is only the copy). */
  undo: CnpgStep
}

interface ReleaseValues { postgres?: { mode?: string; cnpg?: { recovery?: { name?: string; active?: boolean } } } }
interface ClusterJson { spec?: { backup?: { barmanObjectStore?: unknown } }; status?: { firstRecoverabilityPoint?: string; phase?: string; readyInstances?: number } }

/** The recovered Cluster's name: <source>-pitr-<target, compact> (a DNS label). */
export function recoveredName(source: string, target: Date): string {
  return `${source}-pitr-${target.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '').toLowerCase()}`
}

/** Decide from the release's values and the running Cluster; refuse what cannot be recovered. */
export function planCnpgRestore(o: CnpgRestoreOptions & { helm: string; values: ReleaseValues; cluster: ClusterJson; source: string }): CnpgPlan {
  const pg = o.values.postgres ?? {}
  if (pg.mode !== 'cnpg') throw new UsageError(`release ${o.release} runs PostgreSQL in mode ${pg.mode ?? 'internal'}: restore --to on Kubernetes recovers CloudNativePG clusters (postgres.mode: cnpg); restore a dump set with --from instead`)
  const active = pg.cnpg?.recovery
  if (active?.name) {
    throw new KitError(`release ${o.release} already has a recovered Cluster (${active.name}${active.active ? ', in use' : ''}): one recovery at a time`, 1,
      'keep it (make it the chart\'s own) or drop it (postgres.cnpg.recovery.name="") with helm upgrade first')
  }
  if (!o.cluster.spec?.backup?.barmanObjectStore) throw new KitError(`Cluster ${o.source} has no backups (spec.backup.barmanObjectStore): nothing to recover from`, 1, 'enable postgres.cnpg.backup with an S3 backup.destination')
  const first = o.cluster.status?.firstRecoverabilityPoint ?? null
  if (!first) throw new KitError(`Cluster ${o.source} has no completed backup yet (status.firstRecoverabilityPoint is empty): nothing to recover from`)
  if (o.target.getTime() < new Date(first).getTime()) {
    throw new KitError(`refusing to recover to ${o.target.toISOString()}: it is before the first backup of Cluster ${o.source}; the earliest moment it can recover to is ${first}`)
  }
  const name = recoveredName(o.source, o.target)
  const kube = (...a: string[]) => ['kubectl', ...(o.kubeContext ? ['--context', o.kubeContext] : []), ...a]
  const upgrade = (...set: string[]) => [o.helm, 'upgrade', o.release, o.chart ?? CHART_DIR, '-n', o.namespace, ...(o.kubeContext ? ['--kube-context', o.kubeContext] : []), '--reuse-values', ...set]
  const secs = `${Math.ceil(o.timeoutMs / 1000)}s`
  return {
    source: o.source, name, firstRecoverable: first,
    steps: [
      { title: `create Cluster ${name} beside ${o.source}, recovered to ${o.target.toISOString()}`, mutates: true, argv: upgrade(
        '--set', `postgres.cnpg.recovery.name=${name}`, '--set', `postgres.cnpg.recovery.source=${o.source}`,
        '--set-string', `postgres.cnpg.recovery.targetTime=${o.target.toISOString()}`, '--set', 'postgres.cnpg.recovery.active=false') },
      { title: `wait until Cluster ${name} has replayed to the target and is ready`, mutates: true, argv: kube('wait', '--for=condition=Ready', `cluster.postgresql.cnpg.io/${name}`, '-n', o.namespace, `--timeout=${secs}`) },
      { title: `check Cluster ${name}`, mutates: false, argv: kube('get', `cluster.postgresql.cnpg.io/${name}`, '-n', o.namespace, '-o', 'json') },
      { title: `switch the applications to ${name}-rw (Secret ${name}-app)`, mutates: true, argv: upgrade('--set', 'postgres.cnpg.recovery.active=true') },
    ],
    undo: { title: `remove the unfinished Cluster ${name} (${o.source} was never touched)`, mutates: true, argv: upgrade('--set', 'postgres.cnpg.recovery.name=', '--set', 'postgres.cnpg.recovery.active=false') },
  }
}

export interface CnpgRestoreResult { ok: true; target: string; source: string; recovered: string; firstRecoverable: string | null; steps: string[] }

export async function runCnpgRestore(ctx: Ctx, o: CnpgRestoreOptions): Promise<CnpgRestoreResult> {
  const helm = helmBin(ctx)
  const kube = (...a: string[]) => ['kubectl', ...(o.kubeContext ? ['--context', o.kubeContext] : []), ...a]
  const values = JSON.parse((await ctx.exec([helm, 'get', 'values', o.release, '-n', o.namespace, ...(o.kubeContext ? ['--kube-context', o.kubeContext] : []), '-o', 'json'], { timeout: 60_000 })).stdout || '{}') as ReleaseValues | null
  const source = `${o.release}-postgres`
  const cluster = JSON.parse((await ctx.exec(kube('get', `cluster.postgresql.cnpg.io/${source}`, '-n', o.namespace, '-o', 'json'), { timeout: 60_000 })).stdout) as ClusterJson
  const plan = planCnpgRestore({ ...o, helm, values: values ?? {}, cluster, source })
  ctx.log.info(`postgres: recovering Cluster ${source} to ${o.target.toISOString()} into a new Cluster ${plan.name} (earliest recoverable ${plan.firstRecoverable})`)
  await confirm(ctx, `Create Cluster ${plan.name} from the backups of ${source} and switch the applications to it? ${source} is kept as it is`)
  const [create, wait, check, sw] = plan.steps as [CnpgStep, CnpgStep, CnpgStep, CnpgStep]
  const run = (s: CnpgStep, timeout = o.timeoutMs + 60_000) => ctx.exec(s.argv, { mutates: s.mutates, timeout, title: s.title })
  await run(create, 600_000)
  try {
    await run(wait)
    const got = await run(check, 60_000)
    if (!got.skipped) {
      const c = JSON.parse(got.stdout) as ClusterJson
      if (!c.status?.readyInstances) throw new KitError(`Cluster ${plan.name} reports no ready instance (phase ${c.status?.phase ?? 'unknown'}): not switching`)
    }
  } catch (e) {
    ctx.log.error(`postgres: Cluster ${plan.name} did not become ready: ${plan.undo.title}`)
    await run(plan.undo, 600_000).catch((u) => ctx.log.error(`undo failed: ${oneLine((u as Error).message)}`))
    throw e
  }
  await run(sw, 600_000)
  return { ok: true, target: o.target.toISOString(), source, recovered: plan.name, firstRecoverable: plan.firstRecoverable, steps: plan.steps.map((s) => s.title) }
}

export function renderCnpgRestore(r: CnpgRestoreResult, dryRun: boolean): string {
  return [`postgres: ${dryRun ? 'would recover' : 'recovered'} Cluster ${r.source} to ${r.target} into Cluster ${r.recovered}; the applications use ${r.recovered}-rw`,
    `  ${r.source} is kept as it was (drop it later with postgres.cnpg.recovery and a values change)`].join('\n')
}
