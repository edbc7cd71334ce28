import { describe, it, expect } from 'vitest'
import { join } from 'node:path'
import { checkMetricNames, loadCatalog } from '../../scripts/lib/monitoring/catalog.ts'
import { metricNames, substituteMacros, type Expression } from '../../scripts/lib/monitoring/promql.ts'

const FIX = join(import.meta.dirname, 'fixtures', 'catalog')
const expr = (where: string, promql: string): Expression => ({ where, source: promql, promql })

describe('metric names in expressions', () => {
  it('are the selectors and __name__ matchers, not functions, labels or keywords', () => {
    expect(metricNames('sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / on (job) group_left job:http_requests:rate5m')).toEqual(['http_requests_total', 'job:http_requests:rate5m'])
    expect(metricNames('{__name__="up", job="x"} offset 1d or avg_over_time(foo[1h:5m]) > bool 1')).toEqual(['foo', 'up'])
    expect(metricNames('vector(1)')).toEqual([])
  })

  it('come out of dashboards once Grafana\'s macros and variables are substituted', () => {
    expect(substituteMacros('rate(x{job=~"$job", m="${model:regex}"}[$__rate_interval]) + increase(y[$__range]) / $__range_s'))
      .toBe('rate(x{job=~".*", m=".*"}[1m]) + increase(y[1h]) / 3600')
  })
})

describe('the catalogue check', () => {
  const catalog = loadCatalog(join(FIX, 'small.yml'))

  it('knows a histogram by its _bucket, _sum and _count series', () => {
    expect([...catalog.series.keys()]).toEqual(expect.arrayContaining(['lightllm_request_first_token_duration_bucket', 'lightllm_request_first_token_duration_sum', 'lightllm_request_first_token_duration_count']))
  })

  it('fails a typo, with a guess at what was meant', () => {
    const r = checkMetricNames([expr('dashboards/llm.json: panel 3 "Queue" A', 'sum(lightllm_queue_sise)')], catalog, new Set())
    expect(r.unknown).toEqual(['dashboards/llm.json: panel 3 "Queue" A: lightllm_queue_sise is not in config/prometheus/metrics-catalog.yml nor a recording rule (did you mean lightllm_queue_size?)'])
  })

  it('accepts recording rule outputs, and flags catalogue entries nothing reads', () => {
    const r = checkMetricNames([expr('rules/x.yml: A', 'job:lightllm_tokens:rate5m > 1 and lightllm_queue_size > 0 and histogram_quantile(0.9, rate(lightllm_request_first_token_duration_bucket[5m]))')], catalog, new Set(['job:lightllm_tokens:rate5m']))
    expect(r.unknown).toEqual([])
    expect(r.unused).toEqual(['old_metric_total (stale) is catalogued but no rule or dashboard reads it'])
  })

  it('refuses a catalogue with an unknown type or without help text', () => {
    expect(() => loadCatalog(join(FIX, 'bad-type.yml'))).toThrow(/demo_requests_total: type must be one of counter, gauge, info, histogram, summary[\s\S]*demo_up: no help text/)
  })

  it('the shipped catalogue says which exporter exposes each source', () => {
    const shipped = loadCatalog()
    expect(shipped.entries.length).toBeGreaterThan(50)
    expect(shipped.series.get('lightllm_request_first_token_duration_bucket')?.source).toBe('lightllm')
    expect(shipped.series.get('node_vmstat_oom_kill')?.source).toBe('node-exporter')
    expect(shipped.series.get('http_server_requests_total')?.source).toBe('openwebui')
  })
})
