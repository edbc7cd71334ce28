// SLO expressions, durations, SSE framing, statistics and scenario files: the parsing a user meets.
import { describe, it, expect, afterAll } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseSlo, parseSlos, parseGoodput, goodputFromSlos, sloModes, evaluateSlos } from '../../scripts/lib/load/slo.ts'
import { parseDuration } from '../../scripts/lib/load/units.ts'
import { SseParser } from '../../scripts/lib/load/sse.ts'
import { stats, percentile, sorted, histogram } from '../../scripts/lib/load/stats.ts'
import { weightedPicker } from '../../scripts/lib/load/http-engine.ts'
import { loadScenario } from '../../scripts/lib/load/scenario.ts'
import { parseStatusList } from '../../scripts/lib/load/plan.ts'
import { syntheticPrompts, readPrompts } from '../../scripts/lib/load/prompts.ts'
import { UsageError, ConfigError } from '../../scripts/lib/core/errors.ts'
import { SecretMasker } from '../../scripts/lib/core/secrets.ts'
import type { PhaseResult } from '../../scripts/lib/load/summary.ts'
import { tmpDir } from '../helpers/tmp.ts'

const tmp = tmpDir('owp-load-parse-')
afterAll(() => tmp.remove())

describe('SLO expressions', () => {
  it.each([
    ['p95<800ms', { metric: 'p95', kind: 'time', family: 'latency', stat: 'p95', op: '<', threshold: 800, phase: null }],
    ['p99 <= 1.5s', { metric: 'p99', op: '<=', threshold: 1500 }],
    ['p99.9<250ms', { stat: 'p99.9', threshold: 250 }],
    ['mean<20ms', { stat: 'mean', threshold: 20 }],
    ['max<2m', { stat: 'max', threshold: 120_000 }],
    ['p75<500us', { stat: 'p75', threshold: 0.5 }],
    ['latency_p95<1s', { family: 'latency', only: 'http', threshold: 1000 }],
    ['ttft_p95<2s', { family: 'ttft', stat: 'p95', only: 'llm', threshold: 2000 }],
    ['tpot_p50<50ms', { family: 'tpot', only: 'llm' }],
    ['itl_p99<100ms', { family: 'itl', only: 'llm' }],
    ['e2e_max<30s', { family: 'e2e', stat: 'max', threshold: 30_000 }],
    ['error_rate<1%', { metric: 'error_rate', kind: 'ratio', threshold: 0.01 }],
    ['success_rate>=99.5%', { kind: 'ratio', op: '>=', threshold: 0.995 }],
    ['timeout_rate<0.1%', { kind: 'ratio', threshold: 0.001 }],
    ['goodput_ratio>90%', { kind: 'ratio', only: 'llm', threshold: 0.9 }],
    ['rps>1000', { metric: 'rps', kind: 'rate', op: '>', threshold: 1000 }],
    ['goodput>=2/s', { kind: 'rate', only: 'llm', threshold: 2 }],
    ['output_tps>50', { kind: 'rate', only: 'llm' }],
    ['input_tps>=100tok/s', { kind: 'rate', threshold: 100 }],
    ['errors<10', { kind: 'count', threshold: 10 }],
    ['timeouts<=0', { kind: 'count', op: '<=', threshold: 0 }],
    ['http:p95<800ms', { phase: 'http', threshold: 800 }],
    ['llm:p95<10s', { phase: 'llm', family: 'latency' }],
    ['LLM:error_rate<5%', { phase: 'llm', threshold: 0.05 }],
  ])('parses %s', (expr, want) => {
    expect(parseSlo(expr)).toMatchObject(want)
  })

  it.each([
    ['p95<800', /needs a unit/],
    ['p95<800kg', /not a time unit/],
    ['error_rate<1', /as a percentage/],
    ['error_rate<101%', /above 100%/],
    ['errors<5ms', /count: no unit/],
    ['rps>5ms', /not a rate unit/],
    ['latency<1s', /"latency" is not a metric/],
    ['erorr_rate<1%', /not a metric \(did you mean error_rate\?\)/],
    ['p95=800ms', /not of the form/],
    ['p95 800ms', /not of the form/],
    ['p0<1ms', /percentile/],
    ['p101<1s', /percentile/],
    ['ttfb_p95<1s', /not a metric \(did you mean ttft_p95\?\)/],
    ['http:ttft_p95<1s', /metric of llm mode/],
    ['', /not of the form/],
  ])('rejects %j as a usage error', (expr, why) => {
    let err: unknown
    try { parseSlo(expr) } catch (e) { err = e }
    expect(err).toBeInstanceOf(UsageError)
    expect((err as UsageError).exitCode).toBe(2)
    expect((err as Error).message).toMatch(why)
  })

  it('reports every bad expression at once', () => {
    expect(() => parseSlos(['p95<1s', 'p95<1', 'bogus>1'])).toThrow(/p95<1'.*needs a unit[\s\S]*bogus>1'.*not a metric/)
  })

  it('sends each gate to the phases it can judge', () => {
    const s = (e: string) => parseSlo(e)
    expect(sloModes(s('p95<1s'), ['http', 'llm'])).toEqual(['http'])
    expect(sloModes(s('p95<1s'), ['llm'])).toEqual(['llm'])
    expect(sloModes(s('ttft_p95<1s'), ['http', 'llm'])).toEqual(['llm'])
    expect(sloModes(s('error_rate<1%'), ['http', 'llm'])).toEqual(['http', 'llm'])
    expect(() => sloModes(s('ttft_p95<1s'), ['http'])).toThrow(/no llm phase runs/)
  })

  it('evaluates gates against a summary and fails a gate without data', () => {
    const r = {
      summary: { name: 'http', mode: 'http', latency: { count: 3, min: 1, mean: 2, stdev: 1, p50: 2, p90: 3, p95: 3, p99: 3, p999: 3, max: 3 }, rps: 10, requests: { total: 100, ok: 98, failed: 2, timeouts: 1 } },
      samples: { latency: sorted([1, 2, 3]) },
    } as unknown as PhaseResult
    const v = evaluateSlos(parseSlos(['p95<5ms', 'p50<1ms', 'error_rate<1%', 'error_rate<=2%', 'p75<2.6ms', 'rps>=10', 'timeouts<1']), [r])
    expect(v.map((x) => x.pass)).toEqual([true, false, false, true, true, true, false])
    expect(v[2]!.shown).toBe('2.00%')
    const empty = { ...r, summary: { ...r.summary, latency: null } } as unknown as PhaseResult
    expect(evaluateSlos(parseSlos(['p95<5ms']), [empty])[0]).toMatchObject({ pass: false, shown: 'no data' })
  })

  it('takes goodput bounds from --goodput, else from the ttft/tpot/e2e gates', () => {
    expect(parseGoodput(['ttft<500ms', 'tpot<=50ms', 'e2e<10s'])).toEqual({ ttft_ms: 500, tpot_ms: 50, e2e_ms: 10_000 })
    expect(() => parseGoodput(['itl<5ms'])).toThrow(UsageError)
    expect(goodputFromSlos(parseSlos(['ttft_p95<2s', 'ttft_p50<1s', 'tpot_p95<80ms', 'p95<1s', 'error_rate<1%']))).toEqual({ ttft_ms: 1000, tpot_ms: 80 })
    expect(goodputFromSlos(parseSlos(['error_rate<1%']))).toBeNull()
  })
})

describe('durations and statuses', () => {
  it.each([['10s', 10_000], ['1m30s', 90_000], ['250ms', 250], ['1.5s', 1500], ['2', 2000], ['0.3', 300], ['1h', 3_600_000]])('%s is %d ms', (t, ms) => {
    expect(parseDuration(t)).toBe(ms)
  })
  it.each(['ten', '10x', '1m30', '', '-1s'])('rejects %j', (t) => {
    expect(() => parseDuration(t, '-z')).toThrow(UsageError)
  })
  it('reads status lists and ranges', () => {
    expect(parseStatusList('200,204')).toEqual([200, 204])
    expect(parseStatusList('200-203,404')).toEqual([200, 201, 202, 203, 404])
    expect(() => parseStatusList('2xx')).toThrow(UsageError)
    expect(() => parseStatusList('300-200')).toThrow(UsageError)
  })
})

describe('server-sent events', () => {
  it('joins events split anywhere, across CRLF, with comments and multi-line data', () => {
    const text = ': keep-alive\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\nevent: x\ndata:[DONE]\n\n'
    for (const size of [1, 2, 3, 7, text.length]) {
      const p = new SseParser()
      const got: string[] = []
      for (let i = 0; i < text.length; i += size) p.push(Buffer.from(text.slice(i, i + size)), (d) => got.push(d))
      p.end((d) => got.push(d))
      expect(got).toEqual(['{"a":1}', 'line1\nline2', '[DONE]'])
    }
  })
  it('keeps multi-byte characters split between chunks intact and flushes a last event', () => {
    const bytes = Buffer.from('data: {"t":"héllo ✓"}\n\ndata: tail')
    const p = new SseParser()
    const got: string[] = []
    for (const b of bytes) p.push(Buffer.from([b]), (d) => got.push(d))
    p.end((d) => got.push(d))
    expect(got).toEqual(['{"t":"héllo ✓"}', 'tail'])
  })
})

describe('statistics', () => {
  it('interpolates percentiles between ranks (numpy default)', () => {
    const s = sorted([1, 2, 3, 4])
    expect(percentile(s, 50)).toBe(2.5)
    expect(percentile(s, 0)).toBe(1)
    expect(percentile(s, 100)).toBe(4)
    const st = stats(Array.from({ length: 1001 }, (_, i) => i))!
    expect(st).toMatchObject({ count: 1001, min: 0, p50: 500, p90: 900, p99: 990, p999: 999, max: 1000, mean: 500 })
    expect(stats([])).toBeNull()
  })
  it('puts every sample in a log-spaced histogram bucket', () => {
    const s = sorted([0.5, 1, 2, 4, 8, 100, 1000])
    const h = histogram(s, 5)
    expect(h.reduce((a, b) => a + b.count, 0)).toBe(7)
    expect(h[0]!.from).toBe(0.5)
    expect(h[h.length - 1]!.to).toBe(1000)
  })
  it('spreads weighted requests in exact proportion', () => {
    const pick = weightedPicker([5, 1, 2])
    const counts = [0, 0, 0]
    for (let i = 0; i < 80; i++) counts[pick()]!++
    expect(counts).toEqual([50, 10, 20])
  })
})

describe('scenario files', () => {
  const write = (name: string, text: string) => { const f = join(tmp.path, name); writeFileSync(f, text); return f }
  const env = { API_TOKEN: 'tok-secret-abc123' }

  it('reads weighted requests, expands ${VAR} and masks secret-looking variables', () => {
    const f = write('ok.yaml', `base_url: http://127.0.0.1:9/base
headers: { Authorization: "Bearer \${API_TOKEN}" }
requests:
  - { name: health, path: /health, weight: 3 }
  - { path: /api/x?y=1, json: { q: 1 }, expect: [200, 201] }
`)
    const secrets = new SecretMasker()
    const s = loadScenario(f, { env, secrets })
    expect(s.requests.map((r) => [r.name, r.method, r.url.href, r.weight])).toEqual([
      ['health', 'GET', 'http://127.0.0.1:9/base/health', 3],
      ['POST /api/x?y=1', 'POST', 'http://127.0.0.1:9/base/api/x?y=1', 1],
    ])
    expect(s.requests[1]!.headers).toContainEqual(['Content-Type', 'application/json'])
    expect(s.requests[1]!.body!.toString()).toBe('{"q":1}')
    expect(secrets.mask('Bearer tok-secret-abc123')).toBe('Bearer ***')
  })

  it('rejects a broken scenario with every problem listed', () => {
    const f = write('bad.yaml', `requests:
  - { path: health, weight: 0 }
  - { path: /x, body: a, json: {}, colour: red }
extra: 1
`)
    let err: unknown
    try { loadScenario(f, { baseUrl: 'http://127.0.0.1:9', env, secrets: new SecretMasker() }) } catch (e) { err = e }
    expect(err).toBeInstanceOf(ConfigError)
    const msg = (err as Error).message
    expect(msg).toMatch(/\/requests\/0\/path must match pattern/)
    expect(msg).toMatch(/\/requests\/0\/weight must be > 0/)
    expect(msg).toMatch(/colour/)
    expect(msg).toMatch(/extra/)
  })

  it('needs a base URL and set variables', () => {
    const f = write('nobase.yaml', 'requests: [{ path: "/x", headers: { X: "${MISSING_VAR}" } }]\n')
    expect(() => loadScenario(f, { env, secrets: new SecretMasker() })).toThrow(/no base_url/)
    expect(() => loadScenario(f, { baseUrl: 'http://127.0.0.1:9', env, secrets: new SecretMasker() })).toThrow(/MISSING_VAR/)
  })
})

describe('prompts', () => {
  it('generates distinct prompts of about the asked length, reproducibly', () => {
    const a = syntheticPrompts(3, 100, 7)
    expect(a.map((p) => p.tokens)).toEqual([100, 100, 100])
    expect(new Set(a.map((p) => p.messages[0]!.content)).size).toBe(3)
    expect(a[0]!.messages[0]!.content.split(' ').length).toBeGreaterThan(85)
    expect(syntheticPrompts(3, 100, 7)).toEqual(a)
  })
  it('reads .txt, .jsonl and .json prompt files and rejects a malformed one', () => {
    expect(readPrompts(write('p.txt', 'hello there\n\nsecond prompt\n')).length).toBe(2)
    const jl = readPrompts(write('p.jsonl', '{"prompt":"a b c d"}\n{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]}\n'))
    expect(jl[1]!.messages).toHaveLength(2)
    expect(readPrompts(write('p.json', '["x", {"prompt": "y"}]'))).toHaveLength(2)
    expect(() => readPrompts(write('bad.json', '[{"text": 1}]'))).toThrow(/prompt 1/)
    expect(() => readPrompts(write('empty.txt', '\n'))).toThrow(/no prompts/)
  })
  function write(name: string, text: string) { const f = join(tmp.path, name); writeFileSync(f, text); return f }
})
