// The two hooks the scripts call: backup.ts --pitr and restore.ts --to (flags in, outcome out).
import { UsageError, EXIT } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import type { Outcome } from '../../core/cli.ts'
import { positiveInt, type Resolved } from '../settings.ts'
import { pitrSite, PITR_TYPES, type SiteFlags } from './index.ts'
import { runPitrBackup, renderPitrBackup, type PitrBackupType } from './backup.ts'
import { runPitrRestore, renderPitrRestore } from './restore.ts'
import { parseTarget } from './time.ts'
import { runCnpgRestore, renderCnpgRestore } from './cnpg.ts'

type Flags = SiteFlags & { release?: string; namespace?: string; 'kube-context'?: string; store?: string; to?: string; from?: string; list?: boolean; timeout?: string; 'pitr-type'?: string; 'metrics-dir'?: string }

function onlyPostgres(flags: Flags, what: string): void {
  if (flags.store !== 'postgres') throw new UsageError(`${what} is for PostgreSQL only: pass --store postgres`)
}

export async function restoreToTime(ctx: Ctx, flags: Flags, shared: Resolved): Promise<Outcome> {
  onlyPostgres(flags, '--to')
  if (flags.from !== undefined || flags.list) throw new UsageError('--to recovers from the WAL archive: it takes neither --from nor --list')
  const target = parseTarget(flags.to)
  const timeoutMs = positiveInt('timeout', flags.timeout, 21_600, 1) * 1000
  if (shared.target.kind === 'k8s') {
    const r = await runCnpgRestore(ctx, {
      release: flags.release ?? shared.env.HELM_RELEASE ?? 'owp', namespace: flags.namespace ?? shared.env.K8S_NAMESPACE ?? 'openwebui-prod',
      kubeContext: flags['kube-context'], target, timeoutMs,
    })
    return { exitCode: EXIT.ok, data: r, text: renderCnpgRestore(r, ctx.dryRun) }
  }
  const site = pitrSite(ctx, shared.target.kind, shared.env, flags)
  const r = await runPitrRestore(ctx, { site, dest: shared.dest, store: shared.target, env: shared.env, target, timeoutMs: positiveInt('timeout', flags.timeout, 21_600, 1) * 1000 })
  return { exitCode: EXIT.ok, data: r, text: renderPitrRestore(r, ctx.dryRun) }
}

export async function pitrBackup(ctx: Ctx, flags: Flags, shared: Resolved): Promise<Outcome> {
  onlyPostgres(flags, '--pitr')
  const type = (flags['pitr-type'] ?? 'auto') as PitrBackupType
  if (!PITR_TYPES.includes(type)) throw new UsageError(`--pitr-type must be one of ${PITR_TYPES.join(', ')}, got "${type}"`)
  const site = pitrSite(ctx, shared.target.kind, shared.env, flags)
  const r = await runPitrBackup(ctx, {
    site, dest: shared.dest, store: shared.target, env: shared.env, type,
    timeoutMs: positiveInt('timeout', flags.timeout, 21_600, 1) * 1000,
    metricsDir: flags['metrics-dir'] ?? shared.env.BACKUP_METRICS_DIR,
  })
  return { exitCode: r.ok ? EXIT.ok : EXIT.failure, data: r, text: renderPitrBackup(r) }
}
