// The generator watches itself: warnings when it, not the target, limits the numbers; a progress
// line on a terminal only.
import { describe, it, expect } from 'vitest'
import { Writable } from 'node:stream'
import { judgeGenerator, progressLine, cpuMeter, monitorThread } from '../../scripts/lib/load/monitor.ts'

const calm = { elu: 0.3, lagP99Ms: 1, lagMaxMs: 3 }

describe('generator health', () => {
  it('is quiet when the generator has headroom', () => {
    expect(judgeGenerator(0.3, [calm], 0.2, 2)).toMatchObject({ bottleneck: false, warnings: [], elu: 0.3, threads: 1 })
  })

  it('warns when the event loop is saturated and suggests worker threads', () => {
    const g = judgeGenerator(0.99, [{ elu: 0.97, lagP99Ms: 2, lagMaxMs: 5 }], null, 4)
    expect(g.bottleneck).toBe(true)
    expect(g.warnings[0]).toMatch(/busy 97% .* may measure the generator, not the target \(try --workers 2; this machine has 4 cores\)/)
  })

  it('does not judge a run too short to be more than start-up', () => {
    expect(judgeGenerator(0.9, [{ elu: 1, lagP99Ms: 50, lagMaxMs: 50 }], null, 2, 200)).toMatchObject({ bottleneck: false, warnings: [] })
  })

  it('warns about event-loop lag and late sends in an open loop', () => {
    const g = judgeGenerator(0.5, [{ elu: 0.5, lagP99Ms: 45, lagMaxMs: 80 }], 12.5, 2)
    expect(g.warnings).toEqual([
      'event-loop lag p99 45ms: timings carry up to that much generator delay',
      'sends were late by 12.5ms (p99) with a connection free: the generator could not keep the rate',
    ])
  })

  it('measures its own CPU and event loop', async () => {
    const mon = monitorThread()
    await new Promise((r) => setTimeout(r, 25)) // the lag histogram starts at its first tick
    const cpu = cpuMeter()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    while (process.cpuUsage(c0).user < 60_000) { /* burn 60 ms of CPU: the loop is blocked */ }
    const cores = cpu()
    const wallS = (performance.now() - t0) / 1000
    await new Promise((r) => setTimeout(r, 30))
    const t = mon.stop()
    expect(cores).toBeGreaterThanOrEqual((0.06 / wallS) * 0.9) // at least what this thread burned
    expect(t.elu).toBeGreaterThan(0.3)
    expect(t.lagMaxMs).toBeGreaterThan(30)
  })

  it('draws a progress line (done, rps, errors, in flight) and clears it', async () => {
    let out = ''
    const sink = new Writable({ write(chunk, _e, cb) { out += String(chunk); cb() } })
    const counters = { done: 0, errors: 0, inflight: 4 }
    const stop = progressLine(sink, 'http', () => counters, 40)
    await new Promise((r) => setTimeout(r, 50))
    counters.done = 1234
    counters.errors = 2
    await new Promise((r) => setTimeout(r, 60))
    stop()
    expect(out).toMatch(/\r\x1b\[2Khttp {2}[\d.]+s {2}done 1,234 {2}rps [\d,]+ {2}errors 2 {2}in flight 4/)
    expect(out.endsWith('\r\x1b[2K')).toBe(true)
  })
})
