// Fault row F-E2E-1 on the real Docker engine (docs/reliability.md, "Deploy, validate and lock"):
// the kit SIGKILLed (its whole process tree, docker compose included) during `compose up` of a new
// release, then run again: the rerun takes the dead run's lease over and converges on the new
// release, which validates. Reuses the lane's stack (ensureStack) and leaves it whole at NEXT_TAG,
// a migrated schema: it runs after the files that need the first one (lane-plan.ts E2E_BEFORE).
import { describe, it, expect } from 'vitest'
import { updateEnvFile } from './harness/stack.ts'
import { NEXT_TAG } from './harness/images.ts'
import { killedDeploy, convergesTo, laneStack } from './killed-deploy.ts'

const lane = laneStack()

describe('the kit SIGKILLed on a real Docker engine during an upgrade, then run again', () => {
  it('F-E2E-1: killed during `compose up` of a new release: the rerun takes the lock over and converges on the new release, which validates', async () => {
    updateEnvFile(lane.paths.envFile, { IMAGE_TAG: NEXT_TAG })
    const killed = await killedDeploy(lane.stack, lane.paths, /^› up /m, 3_000)
    expect(killed).toMatch(/^› up /m)
    await convergesTo(lane.stack, lane.paths, NEXT_TAG)
  }, 1_500_000)
})
