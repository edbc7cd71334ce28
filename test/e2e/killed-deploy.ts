// The fault rows of the deploy on the real engine (faults.e2e, upgrade-killed.e2e): a deploy whose
// whole process tree is SIGKILLed at a marker, and the rerun that must converge.
import { beforeAll, expect, inject } from 'vitest'
import { kitEnv, type StackPaths } from './harness/stack.ts'
import { kit, heavySlot, json, ps, ensureStack, type Stack } from './kit.ts'
import { killWhen, startScript } from '../faults/support.ts'

/** The lane's stack, deployed or reused (ensureStack) before the file's rows run. */
export function laneStack(): { stack: Stack; paths: StackPaths } {
  const shared = {} as { stack: Stack; paths: StackPaths }
  beforeAll(async () => { Object.assign(shared, await ensureStack(inject('e2e').env)) }, 1_200_000)
  return shared
}

const APPS = ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server']
const deployArgs = (paths: StackPaths) => ['--docker-compose', '--strategy', 'recreate', '--yes', '--env-file', paths.envFile, '--timeout', '5m', '--validate-timeout', '60s', '--json']

/** Start a deploy, SIGKILL its tree `afterMs` after `marker` shows in its stderr. */
export async function killedDeploy(stack: Stack, paths: StackPaths, marker: RegExp, afterMs: number): Promise<string> {
  return heavySlot(async () => {
    const k = startScript('scripts/deploy.ts', deployArgs(paths), kitEnv(stack.engineEnv))
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
export async function convergesTo(stack: Stack, paths: StackPaths, tag: string): Promise<void> {
  const r = await heavySlot(() => kit(stack, 'scripts/deploy.ts', deployArgs(paths), 900_000))
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
