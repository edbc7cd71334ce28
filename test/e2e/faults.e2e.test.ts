// Fault rows on the real Docker engine (docs/reliability.md, "Deploy, validate and lock"): the kit
// SIGKILLed (its whole process tree, docker compose included) during `compose up` and during a
// rollback, then run again: the stack converges to one version and validates. Reuses the lane's
// stack (ensureStack; after rollback.e2e, on a schema no upgrade migrated) and leaves it whole at
// NEXT_TAG.
import { describe, it, expect, beforeAll, inject } from 'vitest'
import { updateEnvFile, kitEnv, type StackPaths } from './harness/stack.ts'
import { BROKEN_TAG, NEXT_TAG } from './harness/images.ts'
import { kit, heavySlot, json, ps, ensureStack, type Stack } from './kit.ts'
import { killWhen, startScript } from '../faults/support.ts'

const { env: engineEnv } = inject('e2e')
let paths: StackPaths
let stack: Stack

const APPS = ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server']
const deployArgs = () => ['--docker-compose', '--strategy', 'recreate', '--yes', '--env-file', paths.envFile, '--timeout', '5m', '--validate-timeout', '60s', '--json']

/** Start a deploy, SIGKILL its tree `afterMs` after `marker` shows in its stderr. */
async function killedDeploy(marker: RegExp, afterMs: number): Promise<string> {
  return heavySlot(async () => {
  const k = startScript('scripts/deploy.ts', deployArgs(), kitEnv(engineEnv))
  let seenAt = 0
  await killWhen(k, () => {
    if (!seenAt && marker.test(k.stderr())) seenAt = Date.now()
    return seenAt > 0 && Date.now() - seenAt >= afterMs
  }, 600_000)
  if (process.env.OWP_E2E_VERBOSE) process.stderr.write(`--- killed deploy\n${k.stderr()}\n`)
  return k.stderr()
  })
}

/** The rerun converges: exit 0, every app service running one image tag, validate-prod clean. */
async function convergesTo(tag: string): Promise<void> {
  const r = await heavySlot(() => kit(stack, 'scripts/deploy.ts', deployArgs(), 900_000))
  expect(r.code, r.stderr.slice(-6000)).toBe(0)
  // the dead run's lease: its pid gone, or (the rerun waited for a heavy slot) not renewed in time
  expect(r.stderr).toMatch(/took over the stale lock .*compose-.*(pid \d+ on \S+ is gone|not renewed for \d+s)/)
  const running = (await ps(stack)).filter((c) => APPS.includes(c.Service))
  expect(running.map((c) => c.Service).sort()).toEqual([...APPS].sort()) // one container each
  for (const c of running) {
    expect(c.State, c.Service).toBe('running')
    expect(c.Image, c.Service).toMatch(new RegExp(`:${tag}$`))
  }
  const v = await kit(stack, 'scripts/validate-prod.ts', ['--target', 'compose', '--env-file', paths.envFile, '--json'])
  expect(json<{ results: Array<{ name: string; status: string }> }>(v).results.filter((c) => c.status !== 'ok'), v.stderr.slice(-3000)).toEqual([])
  expect(v.code).toBe(0)
}

beforeAll(async () => {
  ;({ stack, paths } = await ensureStack(engineEnv))
}, 1_200_000)

describe.sequential('the kit SIGKILLed on a real Docker engine, then run again', () => {
  it('F-E2E-2: killed during the rollback of a broken release: the rerun (back on the good tag) converges on one version, which validates', async () => {
    // the good tag is the one that runs now, on a schema the broken release knows (lane-plan.ts
    // E2E_BEFORE: no upgrade ran on this lane yet); F-E2E-1 migrates it after this row
    const goodTag = (await ps(stack)).find((c) => c.Service === 'mcp-server')!.Image.replace(/^.*:/, '')
    updateEnvFile(paths.envFile, { IMAGE_TAG: BROKEN_TAG })
    const killed = await killedDeploy(/› back to the images that ran before/, 2_000)
    expect(killed).toMatch(/› back to the images that ran before/) // killed inside the rollback, not before it
    updateEnvFile(paths.envFile, { IMAGE_TAG: goodTag })
    await convergesTo(goodTag)
  }, 1_500_000)

  it('F-E2E-1: killed during `compose up` of a new release: the rerun takes the lock over and converges on the new release, which validates', async () => {
    updateEnvFile(paths.envFile, { IMAGE_TAG: NEXT_TAG })
    const killed = await killedDeploy(/^› up /m, 3_000)
    expect(killed).toMatch(/^› up /m)
    await convergesTo(NEXT_TAG)
  }, 1_500_000)
})
