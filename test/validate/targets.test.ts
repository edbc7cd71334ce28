// The Prometheus targets check after a deploy: a target whose container was just replaced is down
// in Prometheus' last scrape (its old address no longer resolves) and up on the next one. The check
// judges every target down at the first look by a newer scrape; one still down then fails.
import { describe, expect, it } from 'vitest'
import { freshTargetsOutcome } from '../../scripts/lib/validate/probes.ts'

const target = (job: string, health: string, lastScrape: string, lastError = '') => ({
  labels: { job, instance: `${job}:9113` }, scrapePool: job, scrapeUrl: `http://${job}:9113/metrics`, health, lastError, lastScrape, scrapeInterval: '2s',
})
const body = (...ts: ReturnType<typeof target>[]) => JSON.stringify({ data: { activeTargets: ts } })

/** Answers one body after the other (the last one again when they run out), counting the calls. */
function prometheus(...bodies: string[]) {
  let calls = 0
  return { calls: () => calls, fetch: async () => bodies[Math.min(calls++, bodies.length - 1)]! }
}

describe('the targets check judges a down target by a newer scrape', () => {
  it('down in the last scrape (the container was replaced), up in the next: ok', async () => {
    const p = prometheus(
      body(target('prometheus', 'up', 'T1'), target('nginx', 'down', 'T1', 'lookup nginx-exporter: no such host')),
      body(target('prometheus', 'up', 'T2'), target('nginx', 'down', 'T1', 'lookup nginx-exporter: no such host')), // not scraped again yet
      body(target('prometheus', 'up', 'T2'), target('nginx', 'up', 'T3')),
    )
    expect(await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10 })).toEqual({ status: 'ok', detail: '2 targets up' })
    expect(p.calls()).toBe(3)
  })

  it('still down on the scrape after the first look: fails, naming it (the broken fixture)', async () => {
    const p = prometheus(
      body(target('prometheus', 'up', 'T1'), target('nginx', 'down', 'T1', 'connection refused')),
      body(target('prometheus', 'up', 'T2'), target('nginx', 'down', 'T2', 'connection refused')),
    )
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10 })
    expect(out).toMatchObject({ status: 'fail', detail: '1/2 targets down: nginx', data: [{ job: 'nginx', error: 'connection refused' }] })
  })

  it('never scraped again within its interval plus 5 s: judged by what Prometheus last saw (down)', async () => {
    const stuck = target('nginx', 'down', 'T1', 'no such host')
    stuck.scrapeInterval = '10ms'
    const p = prometheus(body(stuck))
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 200 })
    expect(out.status).toBe('fail')
    expect(p.calls()).toBeGreaterThan(10) // it waited (about 5 s) before judging
  }, 20_000)

  it('every target up at the first look: one request', async () => {
    const p = prometheus(body(target('prometheus', 'up', 'T1'), target('nginx', 'up', 'T1')))
    expect((await freshTargetsOutcome(p.fetch)).status).toBe('ok')
    expect(p.calls()).toBe(1)
  })
})
