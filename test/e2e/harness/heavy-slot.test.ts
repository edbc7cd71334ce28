// At most HEAVY_SLOTS stack changes at once on the e2e engine (kit.ts heavySlot): kernel flocks held
// by children, freed when the work ends or fails.
import { describe, it, expect, afterAll } from 'vitest'
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
