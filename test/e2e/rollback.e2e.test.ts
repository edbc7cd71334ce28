// A broken release on the real engine: deployed with the recreate strategy, it replaces the
// running one, fails validation, and the kit rolls back to the tags that ran before; the stack
// validates again. Runs on its own lane's stack (harness/lanes.ts), deployed by ensureStack.
import { describe, it, expect, beforeAll, inject } from 'vitest'
import { updateEnvFile, type StackPaths } from './harness/stack.ts'
import { BROKEN_TAG } from './harness/images.ts'
import { kit, heavySlot, json, ps, prometheus, until, ensureStack, type Stack } from './kit.ts'

const { env: engineEnv } = inject('e2e')
let paths: StackPaths
let stack: Stack
let deployed = false
const needsStack = () => expect(deployed, 'the stack is not up: the first deploy failed').toBe(true)

interface DeployOutcome { ok: boolean; summary: string; rolledBack?: boolean }
interface CheckResult { name: string; status: string; detail?: string; critical?: boolean }

beforeAll(async () => {
  ;({ stack, paths } = await ensureStack(engineEnv))
  deployed = true
}, 1_200_000)

describe('a broken release on a real Docker engine', () => {
  it('a deploy of a broken release (--strategy recreate) fails validation and the kit rolls back to the tags that ran before', async () => {
    needsStack()
    // the tag that runs now (a fresh stack's, or the one the fault rows on this lane left)
    const goodTag = (await ps(stack)).find((c) => c.Service === 'mcp-server')!.Image.replace(/^.*:/, '')
    updateEnvFile(paths.envFile, { IMAGE_TAG: BROKEN_TAG })
    // the recreate strategy: the broken release replaces the running one (blue-green would stop
    // it at its smoke test, before any switch: test/e2e/upgrade.e2e.test.ts)
    const r = await heavySlot(() => kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--strategy', 'recreate', '--yes', '--env-file', paths.envFile, '--timeout', '5m', '--json'], 900_000))
    const outcome = json<DeployOutcome>(r)
    expect(r.code, r.stderr.slice(-6000)).toBe(1)
    expect(outcome.ok).toBe(false)
    expect(outcome.summary).toMatch(/validation failed/)
    expect(outcome.rolledBack, outcome.summary).toBe(true)
    const images = Object.fromEntries((await ps(stack)).map((c) => [c.Service, c.Image]))
    for (const s of ['graphrag-processor', 'celery-worker', 'celery-beat']) expect(images[s], s).toBe(`owp-e2e/fake-graphrag-processor:${goodTag}`)
    expect(images['mcp-server']).toBe(`owp-e2e/fake-mcp-server:${goodTag}`)
    // the stack is healthy again (the rollback recreated nginx and its exporter: give Prometheus a scrape)
    updateEnvFile(paths.envFile, { IMAGE_TAG: goodTag })
    await until('every scrape target up after the rollback', async () =>
      (await prometheus<{ activeTargets: Array<{ health: string }> }>(stack, '/api/v1/targets?state=active')).activeTargets.every((t) => t.health === 'up'), 120_000)
    const v = await kit(stack, 'scripts/validate-prod.ts', ['--target', 'compose', '--env-file', paths.envFile, '--json'])
    const report = json<{ ok: boolean; results: CheckResult[] }>(v)
    expect(report.results.filter((c) => c.status !== 'ok'), v.stderr.slice(-3000)).toEqual([])
    expect(v.code).toBe(0)
  })
})
