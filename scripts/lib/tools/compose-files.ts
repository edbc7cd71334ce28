// The site's compose override files (.env COMPOSE_EXTRA_FILES): each one must exist, and the project
// they make together with the main file must keep the house policy the main file keeps.
import { existsSync, statSync } from 'node:fs'
import { ConfigError } from '../core/errors.ts'
import { checkMergedComposePolicy } from '../stack/compose-policy.ts'
import type { ComposeDoc } from '../stack/env.ts'
import { composeConfig, type ComposeProject } from './compose.ts'
import type { Ctx } from '../core/context.ts'

/** Override files named in COMPOSE_EXTRA_FILES that are not readable files. */
export function missingExtraFiles(files: string[]): string[] {
  return files.filter((f) => !existsSync(f) || !statSync(f).isFile())
    .map((f) => `COMPOSE_EXTRA_FILES names ${f}, which is not a file`)
}

/**
 * Check the override files of a project: every missing one named, then the policy on the merged
 * `config`, every problem named with the files it came from. A ConfigError (exit 2) lists them all;
 * without override files there is nothing to check (make lint and the tests keep the main file).
 */
export async function checkExtraFiles(ctx: Ctx, p: ComposeProject, env: Record<string, string>): Promise<void> {
  const extra = p.extraFiles ?? []
  if (!extra.length) return
  const what = `compose override files (COMPOSE_EXTRA_FILES=${env.COMPOSE_EXTRA_FILES ?? extra.join(',')})`
  const missing = missingExtraFiles(extra)
  if (missing.length) throw new ConfigError(missing, what)
  const merged = await composeConfig(ctx, p, env) as ComposeDoc
  const problems = checkMergedComposePolicy({ ...merged, services: merged.services ?? {} }, [p.file, ...extra])
  if (problems.length) throw new ConfigError(problems.map((x) => `${x.message} [${x.rule}]`), `${what}: the merged project breaks the compose policy`)
  ctx.log.info(`compose override files: ${extra.join(', ')} (merged project keeps the compose policy)`)
}
