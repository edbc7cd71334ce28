// At most HEAVY_SLOTS stack changes at once on the e2e engine (kit.ts heavySlot): kernel flocks held
// by children, freed when the work ends or fails.
import { describe, it, expect, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { tmpDir } from '../../helpers/tmp.ts'
import { heavySlot, HEAVY_SLOTS } from '../kit.ts'

const tmp = tmpDir('owp-e2e-slot-')
const saved = process.env.OWP_E2E_STATE
process.env.OWP_E2E_STATE = tmp.path
afterAll(() => { if (saved === undefined) delete process.env.OWP_E2E_STATE; else process.env.OWP_E2E_STATE = saved; tmp.remove() })

describe('at most two stacks change at once', () => {
  it('a third holder waits until one of the two is done, and a failed holder frees its slot', async () => {
    expect(HEAVY_SLOTS).toBe(2)
    const events: string[] = []
    let inside = 0
    let most = 0
    const work = (name: string, ms: number, fail = false) => heavySlot(async () => {
      events.push(`${name} in`)
      most = Math.max(most, ++inside)
      await new Promise((r) => setTimeout(r, ms))
      inside--
      events.push(`${name} out`)
      if (fail) throw new Error(`${name} failed`)
      return name
    })
    const a = work('a', 1500, true)
    const b = work('b', 3000)
    await new Promise((r) => setTimeout(r, 300)) // a and b hold both slots
    const c = work('c', 50)
    await expect(a).rejects.toThrow('a failed')
    await expect(c).resolves.toBe('c')
    await expect(b).resolves.toBe('b')
    expect(most).toBe(2)
    expect(events.indexOf('c in')).toBeGreaterThan(events.indexOf('a out'))
    expect(events.indexOf('c in')).toBeLessThan(events.indexOf('b out'))
  })
})

describe('a freed slot goes to the lane with the least time to spare (lane-plan.ts SLOT_ORDER)', () => {
  it('lane a does not take a free slot while lane b waits for one, and takes it once b no longer waits', async () => {
    const saved = process.env.OWP_E2E_LANES
    process.env.OWP_E2E_LANES = 'a,b,c' // this process is lane a (OWP_E2E_LANE unset)
    // lane b waits: its mark held by another process, as heavySlot holds it while it waits
    const b = spawn('flock', ['-n', join(tmp.path, 'heavy-want-b.lock'), 'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
    await new Promise((ok) => b.stdout!.once('data', ok))
    try {
      let entered = 0
      const a = heavySlot(async () => { entered = Date.now() })
      await new Promise((r) => setTimeout(r, 2500))
      expect(entered, 'lane a took a slot while lane b waited').toBe(0)
      const freed = Date.now()
      b.stdin!.end()
      await a
      expect(entered).toBeGreaterThanOrEqual(freed)
    } finally {
      b.stdin!.end()
      if (saved === undefined) delete process.env.OWP_E2E_LANES; else process.env.OWP_E2E_LANES = saved
    }
  })
})
