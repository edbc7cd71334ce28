// Which e2e file runs on which lane: every file exactly once, the deploying file first on lane a,
// each lane ending with the teardown, nothing pending, and the lanes' names never the same.
import { describe, it, expect } from 'vitest'
import { readdirSync } from 'node:fs'
import { planLanes, LANE_B, LANE_C, E2E_FIRST, E2E_LAST, E2E_BEFORE } from './lane-plan.ts'
import { LANE_SUBNETS, E2E_LANES, LANE_ENV } from './stack.ts'
import { e2eOrder } from './sequencer.ts'

const files = ['test/e2e/dr.e2e.test.ts', 'test/e2e/rollback.e2e.test.ts', 'test/e2e/stack.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts', 'test/e2e/upgrade.e2e.test.ts']

describe('the e2e lanes', () => {
  it('two lanes: lane b takes its list, lane a the rest, each ends with the teardown', () => {
    expect(planLanes(files, { lanes: 2, laneB: ['test/e2e/rollback.e2e.test.ts', 'test/e2e/upgrade.e2e.test.ts'] })).toEqual([
      { lane: 'a', files: ['test/e2e/dr.e2e.test.ts', 'test/e2e/stack.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] },
      { lane: 'b', files: ['test/e2e/rollback.e2e.test.ts', 'test/e2e/upgrade.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] },
    ])
  })

  it('three lanes: lanes b and c take their lists; with two lanes, lane c\'s files run on lane b', () => {
    const o = { laneB: ['test/e2e/rollback.e2e.test.ts'], laneC: ['test/e2e/upgrade.e2e.test.ts'] }
    expect(planLanes(files, { lanes: 3, ...o })).toEqual([
      { lane: 'a', files: ['test/e2e/dr.e2e.test.ts', 'test/e2e/stack.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] },
      { lane: 'b', files: ['test/e2e/rollback.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] },
      { lane: 'c', files: ['test/e2e/upgrade.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] },
    ])
    expect(planLanes(files, { lanes: 2, ...o })[1]).toEqual({ lane: 'b', files: ['test/e2e/rollback.e2e.test.ts', 'test/e2e/upgrade.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] })
  })

  it('one lane runs every file on lane a', () => {
    const [a, ...rest] = planLanes(files, { lanes: 1 })
    expect(rest).toEqual([])
    expect(a!.files).toHaveLength(files.length)
    expect(e2eOrder(a!.files)[0]).toMatch(E2E_FIRST)
    expect(e2eOrder(a!.files).at(-1)).toMatch(E2E_LAST)
  })

  it('a pick runs only the matching files, and a lane with nothing to run is not started', () => {
    expect(planLanes(files, { lanes: 2, laneB: ['rollback.e2e.test.ts'], pick: ['rollback'] })).toEqual([
      { lane: 'b', files: ['test/e2e/rollback.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'] },
    ])
  })

  it('every file of lanes b and c exists, none is on both, and the first file stays on lane a', () => {
    const present = new Set(readdirSync('test/e2e').map((f) => `test/e2e/${f}`))
    for (const f of [...LANE_B, ...LANE_C]) expect(present.has(f), f).toBe(true)
    expect([...LANE_B, ...LANE_C]).not.toContain(`test/e2e/${E2E_FIRST}`)
    expect(LANE_B.filter((f) => LANE_C.includes(f))).toEqual([])
  })

  it('the default three lanes run the upgrades on lane c, whose stack sends the database traffic through the kit\'s PgBouncer', () => {
    const c = planLanes(readdirSync('test/e2e').filter((f) => f.endsWith('.e2e.test.ts')).map((f) => `test/e2e/${f}`), { lanes: 3 }).find((p) => p.lane === 'c')
    expect(c?.files).toContain('test/e2e/upgrade.e2e.test.ts')
    expect(LANE_ENV.c).toEqual({ PGBOUNCER_ENABLED: 'true' })
  })

  it('on every lane, the files that need the first schema run before the files that migrate it', () => {
    const real = readdirSync('test/e2e').filter((f) => f.endsWith('.e2e.test.ts')).map((f) => `test/e2e/${f}`)
    for (const p of planLanes(real, { lanes: 3 })) {
      const order = e2eOrder(p.files).map((f) => f.replace(/^.*\//, ''))
      const firstMigrating = order.findIndex((f) => f.startsWith('upgrade'))
      if (firstMigrating < 0) continue
      for (const f of E2E_BEFORE.filter((b) => order.includes(b))) expect(order.indexOf(f), `${p.lane}: ${order.join(', ')}`).toBeLessThan(firstMigrating)
    }
  })

  it('the lanes never share a subnet', () => {
    const all = E2E_LANES.flatMap((l) => [LANE_SUBNETS[l].app, LANE_SUBNETS[l].monitoring])
    expect(new Set(all).size).toBe(all.length)
  })
})
