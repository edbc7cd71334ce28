// freePort: picks made before anything listens (parallel suites, one test asking for several) never
// get the same port; a claim is spent after a minute.
import { describe, expect, it } from 'vitest'
import { claimPort, freePort } from './net.ts'

describe('freePort', () => {
  it('hands out distinct ports to picks made before any of them listens', async () => {
    // one after the other, none listening yet (as a test that needs several ports asks for them):
    // without the claims, 300 picks among 12,000 ports repeat one with a chance of 97%
    const ports: number[] = []
    for (let i = 0; i < 300; i++) ports.push(await freePort())
    expect(new Set(ports).size).toBe(300)
  })

  it('a port is claimed once a minute: a second claim is refused, one after the minute is taken', async () => {
    const port = await freePort() // claimed by the pick
    expect(claimPort(port)).toBe(false)
    expect(claimPort(port, Date.now() + 61_000)).toBe(true)
  })
})
