// The e2e lanes start their stacks from nothing one at a time (kit.ts firstDeploySlot): a kernel
// flock held by a child, released when the work ends or fails.
import { describe, it, expect, afterAll } from 'vitest'
import { tmpDir } from '../../helpers/tmp.ts'
import { firstDeploySlot } from '../kit.ts'

const tmp = tmpDir('owp-e2e-slot-')
const saved = process.env.OWP_E2E_STATE
process.env.OWP_E2E_STATE = tmp.path
afterAll(() => { if (saved === undefined) delete process.env.OWP_E2E_STATE; else process.env.OWP_E2E_STATE = saved; tmp.remove() })

describe('one first deploy at a time', () => {
  it('a second holder waits until the first is done, and a failed holder lets the next in', async () => {
    const events: string[] = []
    const work = (name: string, ms: number, fail = false) => firstDeploySlot(async () => {
      events.push(`${name} in`)
      await new Promise((r) => setTimeout(r, ms))
      events.push(`${name} out`)
      if (fail) throw new Error(`${name} failed`)
      return name
    })
    const a = work('a', 400, true)
    await new Promise((r) => setTimeout(r, 100)) // a holds the slot first
    const b = work('b', 50)
    await expect(a).rejects.toThrow('a failed')
    await expect(b).resolves.toBe('b')
    expect(events).toEqual(['a in', 'a out', 'b in', 'b out'])
  })
})
