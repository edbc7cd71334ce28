// Bring pgBackRest's configuration where the server runs in line with the kit's settings, and
// make sure the stanza exists. Idempotent: a second run changes nothing.
import type { Ctx } from '../../core/context.ts'
import type { Destination } from '../types.ts'
import { renderConfig, repoFor } from './config.ts'
import type { PitrSite } from './site.ts'

export async function ensureConfig(ctx: Ctx, site: PitrSite, dest: Destination, env: Record<string, string>): Promise<boolean> {
  const repo = repoFor(dest.url, env, dest.kind === 'local' ? site.localRepoPath(dest.url) : undefined)
  if (repo.type === 's3') { ctx.secrets.add(repo.secret); ctx.secrets.add(repo.key) }
  const text = renderConfig(repo, site.pg, { retentionFull: Number(env.PITR_RETENTION_FULL ?? 2), lockPath: '/tmp/pgbackrest' })
  if ((await site.readConfig(ctx)) === text) return false
  ctx.log.info(`postgres: writing the pgBackRest configuration (repository ${repo.type === 's3' ? `s3://${repo.bucket}${repo.path}` : repo.path})`)
  if (repo.type === 'posix') await site.prepareRepo(ctx, dest.url)
  await site.writeConfig(ctx, text)
  return true
}
