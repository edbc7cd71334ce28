// e2e globalSetup: the engine, Compose v2, the base and stand-in images (cached), a clean project;
// teardown: the project's containers, networks and volumes removed, the engine stopped by PID.
import type { TestProject } from 'vitest/node'
import { createContext, type Ctx } from '../../scripts/lib/core/context.ts'
import { acquireLock } from '../../scripts/lib/core/lock.ts'
import { formatDuration } from '../../scripts/lib/core/log.ts'
import { engineLayout, stopEngine, type Engine } from './harness/engine.ts'
import { prepareE2E } from './harness/prepare.ts'
import { removeProject, projectLeftovers, exitOnBadLane, E2E_PROJECT, SETUP_TIMINGS_FILE, SHARED_STACK_FILE } from './harness/stack.ts'
import { mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { KitError } from '../../scripts/lib/core/errors.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: { env: Record<string, string>; engine: Engine; timings: Record<string, number> }
  }
}

/** Set by harness/lanes.ts for each lane it starts: the engine it prepared and owns (and holds the lock of). */
export const PREPARED_ENV = 'OWP_E2E_PREPARED'
export interface LanePrepared { env: Record<string, string>; engine: Engine; timings: Record<string, number> }

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  exitOnBadLane() // before the engine, the lock or a project is touched
  const ctx = createContext({ verbose: Boolean(process.env.OWP_E2E_VERBOSE) })
  const lane = process.env[PREPARED_ENV]
  if (lane) return laneSetup(ctx, project, JSON.parse(lane) as LanePrepared)
  const layout = engineLayout()
  const release = acquireLock(ctx, layout.lockFile, 'e2e suite')
  let prepared
  try {
    prepared = await prepareE2E(ctx, { layout })
  } catch (e) {
    release()
    throw e
  }
  const t = prepared.timings
  mkdirSync(dirname(SETUP_TIMINGS_FILE), { recursive: true })
  writeFileSync(SETUP_TIMINGS_FILE, JSON.stringify(t))
  ctx.log.info(`e2e setup: ${formatDuration(t.total)} (engine ${formatDuration(t.engine)}, compose ${formatDuration(t.compose)}, base image ${formatDuration(t.base)}, images ${formatDuration(t.images)})`)
  if (!prepared.engine.owned) {
    // an engine the suite does not own (DOCKER_HOST, or kept by e2e-setup --keep) may run a stack
    // someone is looking at: never remove it behind their back
    const left = await projectLeftovers(ctx, prepared.env)
    if (left.containers.length || left.volumes.length) {
      release()
      throw new KitError(`the ${E2E_PROJECT} project is up on ${prepared.engine.host} (${left.containers.length} containers, ${left.volumes.length} volumes)`,
        1, `take it down first: docker compose -p ${E2E_PROJECT} --profile lightllm down --volumes (or tsx test/e2e/harness/setup.ts --stop)`)
    }
  } else {
    // a run that was killed may have left its stack behind
    await removeProject(ctx, prepared.env)
  }
  // a stack an earlier, killed run shared is gone (or going): never reuse it
  forgetSharedStack()
  project.provide('e2e', { env: prepared.env, engine: prepared.engine, timings: t })
  return async () => {
    const left = await removeProject(ctx, prepared.env, E2E_PROJECT).catch((e: Error) => { ctx.log.warn(`e2e teardown: ${e.message}`); return null })
    if (left && (left.containers.length || left.networks.length || left.volumes.length)) ctx.log.warn(`e2e teardown left: ${JSON.stringify(left)}`)
    forgetSharedStack()
    await stopEngine(ctx, layout, prepared.engine)
    release()
  }
}

/**
 * One lane of harness/lanes.ts: the runner started the engine, holds its lock and stops it; the
 * lane only cleans and finally removes its own project (E2E_PROJECT is per lane).
 */
async function laneSetup(ctx: Ctx, project: TestProject, prepared: LanePrepared): Promise<() => Promise<void>> {
  await removeProject(ctx, prepared.env)
  forgetSharedStack()
  project.provide('e2e', prepared)
  return async () => {
    const left = await removeProject(ctx, prepared.env).catch((e: Error) => { ctx.log.warn(`e2e teardown: ${e.message}`); return null })
    if (left && (left.containers.length || left.networks.length || left.volumes.length)) ctx.log.warn(`e2e teardown left: ${JSON.stringify(left)}`)
    forgetSharedStack()
  }
}

/** Remove the record of the shared stack and its files (.env, certificates, backups). */
function forgetSharedStack(): void {
  if (!existsSync(SHARED_STACK_FILE)) return
  try {
    const { paths } = JSON.parse(readFileSync(SHARED_STACK_FILE, 'utf8')) as { paths: { dir: string } }
    rmSync(paths.dir, { recursive: true, force: true })
  } catch { /* a torn record: the file goes anyway */ }
  rmSync(SHARED_STACK_FILE, { force: true })
}
