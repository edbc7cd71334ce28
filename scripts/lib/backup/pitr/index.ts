// Point-in-time recovery of PostgreSQL: what scripts/backup.ts --pitr and scripts/restore.ts --to
// reach. Compose and this host: pgBackRest (site.ts, direct.ts, compose.ts). Kubernetes:
// CloudNativePG's own backups, and a new Cluster bootstrapped from them (cnpg.ts).
import { existsSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { UsageError } from '../../core/errors.ts'
import { COMPOSE_FILE } from '../../core/paths.ts'
import type { Ctx } from '../../core/context.ts'
import type { TargetKind } from '../types.ts'
import { directSite } from './direct.ts'
import { composeSite } from './compose.ts'
import { composeExtraFiles } from '../../tools/compose.ts'
import type { PitrSite } from './site.ts'

export { runPitrBackup, renderPitrBackup, type PitrBackupType } from './backup.ts'
export { runPitrRestore, renderPitrRestore } from './restore.ts'
export { parseTarget } from './time.ts'

export interface SiteFlags { project?: string; 'compose-file'?: string; 'env-file'?: string }

export function pitrSite(ctx: Ctx, kind: TargetKind, env: Record<string, string>, flags: SiteFlags): PitrSite {
  if (kind === 'direct') return directSite(env)
  if (kind === 'compose') {
    const envFile = flags['env-file'] ?? (existsSync(join(ctx.cwd, '.env')) ? join(ctx.cwd, '.env') : null)
    return composeSite({
      env,
      project: flags.project ?? env.COMPOSE_PROJECT_NAME ?? 'owp',
      composeFile: flags['compose-file'] ?? COMPOSE_FILE,
      extraFiles: composeExtraFiles(env, flags['compose-file'] ?? COMPOSE_FILE),
      envFile: envFile ? (isAbsolute(envFile) ? envFile : join(ctx.cwd, envFile)) : null,
    })
  }
  throw new UsageError('on Kubernetes, point-in-time recovery is CloudNativePG\'s (postgres.mode: cnpg): the chart schedules its backups; restore --to plans a new Cluster from them (see docs/backup.md)')
}

export const PITR_TYPES = ['auto', 'full', 'diff', 'incr'] as const
