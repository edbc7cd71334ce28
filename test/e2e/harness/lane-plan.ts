// Which e2e files run, and on which lane (harness/lanes.ts runs two compose projects at once).
// Pure data and one pure function, shared by the vitest configs, the sequencer and the runner.

/** Not green yet on the real engine: excluded from `make test`, run by hand with `make e2e-pending`. */
export const PENDING = ['test/e2e/upgrade.e2e.test.ts', 'test/e2e/dr.e2e.test.ts', 'test/e2e/pitr.e2e.test.ts', 'test/e2e/faults.e2e.test.ts']

/**
 * Lane b's files (their own stack, deployed by ensureStack); lane a runs the rest. Balance by the
 * times `make test` prints: each lane's sum should be about half the suite's.
 */
export const LANE_B = ['test/e2e/rollback.e2e.test.ts', 'test/e2e/upgrade.e2e.test.ts', 'test/e2e/faults.e2e.test.ts']

/** The file that deploys lane a's stack first, and the one that proves each lane's teardown last. */
export const E2E_FIRST = 'stack.e2e.test.ts'
export const E2E_LAST = 'teardown.e2e.test.ts'

export interface LanePlan { lane: 'a' | 'b'; files: string[] }

const base = (f: string) => f.replace(/^.*\//, '')

/** Lane b takes LANE_B, lane a the rest (all of them with one lane); each lane ends with the teardown. */
export function planLanes(files: string[], o: { lanes: 1 | 2; laneB?: string[]; pick?: string[] }): LanePlan[] {
  const laneB = new Set((o.laneB ?? LANE_B).map(base))
  const picked = files.filter((f) => base(f) !== E2E_LAST && (!o.pick?.length || o.pick.some((p) => f.includes(p))))
  const b = o.lanes === 2 ? picked.filter((f) => laneB.has(base(f))) : []
  const a = picked.filter((f) => !b.includes(f))
  const last = files.find((f) => base(f) === E2E_LAST)
  return ([['a', a], ['b', b]] as Array<['a' | 'b', string[]]>)
    .filter(([, fs]) => fs.length > 0)
    .map(([lane, fs]) => ({ lane, files: last ? [...fs, last] : fs }))
}
