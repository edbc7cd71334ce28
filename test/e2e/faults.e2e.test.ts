// Fault row F-E2E-2 on the real Docker engine (docs/reliability.md, "Deploy, validate and lock"):
// the kit SIGKILLed (its whole process tree, docker compose included) during the rollback of a
// broken release, then run again: the stack converges to one version and validates. Reuses the
// lane's stack (ensureStack; on a schema no upgrade migrated: lane-plan.ts E2E_BEFORE) and leaves it
// whole at the tag that ran before. F-E2E-1 is upgrade-killed.e2e.test.ts.
import { describe, it, expect } from 'vitest'
import { updateEnvFile } from './harness/stack.ts'
import { BROKEN_TAG } from './harness/images.ts'
import { ps } from './kit.ts'
import { killedDeploy, convergesTo, laneStack } from './killed-deploy.ts'

const lane = laneStack()

describe('the kit SIGKILLed on a real Docker engine during a rollback, then run again', () => {
  it('F-E2E-2: killed during the rollback of a broken release: the rerun (back on the good tag) converges on one version, which validates', async () => {
    // the good tag is the one that runs now, on a schema the broken release knows
    const goodTag = (await ps(lane.stack)).find((c) => c.Service === 'mcp-server')!.Image.replace(/^.*:/, '')
    updateEnvFile(lane.paths.envFile, { IMAGE_TAG: BROKEN_TAG })
    const killed = await killedDeploy(lane.stack, lane.paths, /› back to the images that ran before/, 2_000)
    expect(killed).toMatch(/› back to the images that ran before/) // killed inside the rollback, not before it
    updateEnvFile(lane.paths.envFile, { IMAGE_TAG: goodTag })
    await convergesTo(lane.stack, lane.paths, goodTag)
  }, 1_500_000)
})
