// The Prometheus targets check after a deploy: a target whose container was just replaced is down
// in Prometheus' last scrape (its old address no longer resolves) and up on the next one. The check
// judges every target down at the first look by a newer scrape; one still down then fails. A target
// nothing answered at (or never scraped) may be judged by a scrape of its URL from Prometheus' place.
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

describe("a target nothing answered at is scraped once from Prometheus' place instead of waiting for its turn", () => {
  const METRICS = '# HELP nginx_up Status of the last metric scrape\n# TYPE nginx_up gauge\nnginx_up 1\n'
  const scraper = (answers: Record<string, string | null>) => {
    const asked: string[] = []
    return { asked, scrape: async (url: string) => { asked.push(url); return answers[url] ?? null } }
  }

  it('started after Prometheus last tried it (no such host), answers metrics now: ok at once, saying so', async () => {
    const p = prometheus(body(target('prometheus', 'up', 'T1'), target('nginx', 'down', 'T1', 'dial tcp: lookup nginx on 127.0.0.11:53: no such host')))
    const s = scraper({ 'http://nginx:9113/metrics': METRICS })
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10, scrape: s.scrape })
    expect(out).toEqual({ status: 'ok', detail: "2 targets up (1 answered a scrape from Prometheus' place before Prometheus' own next one)" })
    expect(p.calls()).toBe(1)
    expect(s.asked).toEqual(['http://nginx:9113/metrics'])
  })

  it('never scraped yet (unknown): scraped the same way', async () => {
    const p = prometheus(body(target('nginx', 'unknown', '0001-01-01T00:00:00Z')))
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10, scrape: scraper({ 'http://nginx:9113/metrics': METRICS }).scrape })
    expect(out.status).toBe('ok')
    expect(p.calls()).toBe(1)
  })

  it('our scrape gets no metrics (an HTML page, nothing): waits for Prometheus, which still finds it down: fails', async () => {
    const p = prometheus(
      body(target('a', 'down', 'T1', 'connection refused'), target('b', 'down', 'T1', 'connection refused')),
      body(target('a', 'down', 'T2', 'connection refused'), target('b', 'down', 'T2', 'connection refused')),
    )
    const s = scraper({ 'http://a:9113/metrics': '<html>bad gateway</html>', 'http://b:9113/metrics': null })
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10, scrape: s.scrape })
    expect(out).toMatchObject({ status: 'fail', detail: '2/2 targets down: a, b' })
    expect(s.asked.sort()).toEqual(['http://a:9113/metrics', 'http://b:9113/metrics'])
    expect(p.calls()).toBe(2)
  })

  it('down for another reason (it answered too slowly, or wrongly): never judged by our scrape (the broken fixture)', async () => {
    const p = prometheus(
      body(target('celery', 'down', 'T1', 'context deadline exceeded')),
      body(target('celery', 'down', 'T2', 'context deadline exceeded')),
    )
    const s = scraper({ 'http://celery:9113/metrics': METRICS })
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10, scrape: s.scrape })
    expect(out).toMatchObject({ status: 'fail', detail: '1/1 targets down: celery' })
    expect(s.asked).toEqual([])
  })

  it("Prometheus' own newer scrape wins over ours: answered ours, then down in Prometheus' next: fails", async () => {
    const p = prometheus(
      body(target('nginx', 'down', 'T1', 'no such host'), target('redis', 'down', 'T1', 'context deadline exceeded')),
      body(target('nginx', 'down', 'T2', 'server returned HTTP status 500'), target('redis', 'up', 'T2')),
    )
    const out = await freshTargetsOutcome(p.fetch, () => true, { pollMs: 10, scrape: scraper({ 'http://nginx:9113/metrics': METRICS }).scrape })
    expect(out).toMatchObject({ status: 'fail', detail: '1/2 targets down: nginx' })
  })
})
