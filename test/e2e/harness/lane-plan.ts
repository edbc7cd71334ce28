// Which e2e file runs on which lane (harness/lanes.ts runs three compose projects at once).
// Pure data and one pure function, shared by the vitest configs, the sequencer and the runner.

/**
 * The files of lanes b and c (each lane its own stack, deployed by ensureStack); lane a runs the
 * rest. Balance by the times `make test` prints: each lane's sum about a third of the suite's.
 * With two lanes, lane c's files run on lane b.
 */
export const LANE_B = ['test/e2e/rollback.e2e.test.ts', 'test/e2e/faults.e2e.test.ts', 'test/e2e/upgrade-killed.e2e.test.ts']
// lane a: stack, dr (the rest)
export const LANE_C = ['test/e2e/edge.e2e.test.ts', 'test/e2e/pitr.e2e.test.ts', 'test/e2e/upgrade.e2e.test.ts']

/** The file that deploys lane a's stack first, and the one that proves each lane's teardown last. */
export const E2E_FIRST = 'stack.e2e.test.ts'
export const E2E_LAST = 'teardown.e2e.test.ts'

/**
 * Files that must run before others on the same lane, in this order (the rest alphabetically after
 * them). The broken release knows only the first schema, like a real Open WebUI that cannot start on
 * a database a newer release migrated: rollback.e2e and faults.e2e (F-E2E-2) need a stack that no
 * upgrade has migrated yet; upgrade-killed.e2e (F-E2E-1) and upgrade.e2e leave one that is.
 */
export const E2E_BEFORE = ['rollback.e2e.test.ts', 'faults.e2e.test.ts']

/**
 * Which lane gets a freed heavy slot (kit.ts heavySlot) first when several wait: the lane with the
 * least time to spare first (lane b's files are all deploys), the one with the most last. The last
 * one also lets the others take the slots for their first deploys (with three lanes starting at once,
 * one first deploy waits for another to end, ~2 min).
 */
export const SLOT_ORDER: LaneName[] = ['b', 'a', 'c']
export const DEPLOYS_LAST: LaneName = SLOT_ORDER.at(-1)!

export type LaneName = 'a' | 'b' | 'c'
export interface LanePlan { lane: LaneName; files: string[] }

const base = (f: string) => f.replace(/^.*\//, '')

/**
 * Lanes b and c take their lists, lane a the rest (all of them with one lane; with two, lane c's
 * files join lane b); each lane ends with the teardown; a lane with nothing to run is not started.
 */
export function planLanes(files: string[], o: { lanes: 1 | 2 | 3; laneB?: string[]; laneC?: string[]; pick?: string[] }): LanePlan[] {
  const laneB = new Set((o.laneB ?? LANE_B).map(base))
  const laneC = new Set((o.laneC ?? LANE_C).map(base))
  const picked = files.filter((f) => base(f) !== E2E_LAST && (!o.pick?.length || o.pick.some((p) => f.includes(p))))
  const laneOf = (f: string): LaneName => {
    if (o.lanes === 1) return 'a'
    if (laneC.has(base(f))) return o.lanes === 3 ? 'c' : 'b'
    return laneB.has(base(f)) ? 'b' : 'a'
  }
  const last = files.find((f) => base(f) === E2E_LAST)
  return (['a', 'b', 'c'] as LaneName[])
    .map((lane) => ({ lane, files: picked.filter((f) => laneOf(f) === lane) }))
    .filter((p) => p.files.length > 0)
    .map((p) => ({ ...p, files: last ? [...p.files, last] : p.files }))
}
