import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { fixedRateWindows, lintDashboard, lintDashboards, loadDashboards, type Dashboard } from '../../scripts/lib/monitoring/dashboards.ts'
import { GRAFANA_DIR } from '../../scripts/lib/monitoring/config.ts'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'dashboards')
const fixture = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Dashboard
const lintFixture = (name: string) => lintDashboard(fixture(name), name)

describe('the shipped dashboards', () => {
  it('are the seven the platform promises, each with a stable uid', () => {
    const byUid = Object.fromEntries(loadDashboards().map(({ json }) => [json.uid, json.title]))
    expect(byUid).toEqual({
      'owp-platform-overview': 'Platform Overview',
      'owp-service-health': 'Service Health',
      'owp-resource-usage': 'Resource Usage',
      'owp-latency-percentiles': 'Latency Percentiles',
      'owp-llm-serving': 'LLM Serving',
      'owp-data-stores': 'Data Stores',
      'owp-backups': 'Backups',
    })
  })

  it('pass the linter', () => {
    expect(lintDashboards()).toEqual([])
  })

  it('show LLM serving through TTFT, time per output token, tokens/s, the queue and DCGM GPU metrics', () => {
    const llm = loadDashboards().find((d) => d.json.uid === 'owp-llm-serving')!.json
    const exprs = JSON.stringify(llm)
    for (const name of ['lightllm_request_first_token_duration_bucket', 'lightllm_request_mean_time_per_token_duration_bucket',
      'lightllm_request_generated_tokens_sum', 'lightllm_queue_size', 'DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED']) {
      expect(exprs, name).toContain(name)
    }
  })
})

describe('the dashboard linter', () => {
  it('accepts a valid dashboard (so the rejections below mean something)', () => {
    expect(lintFixture('good.json')).toEqual([])
  })

  it.each([
    ['inputs.json', /has __inputs/],
    ['inputs.json', /references \$\{DS_\.\.\.\}/],
    ['no-datasource-variable.json', /no "datasource" template variable/],
    ['missing-unit.json', /panel 2 "Requests": no unit/],
    ['fixed-rate-window.json', /rate\(\.\.\.\[5m\]\) uses a fixed window: use \[\$__rate_interval\]/],
    ['duplicate-panel-id.json', /id 2 is also used by "Requests"/],
    ['unstable-uid.json', /uid "a8Xk2_z9" is not stable/],
    ['no-uid.json', /no uid/],
    ['no-title.json', /panel 2 "": no title/],
    ['no-description.json', /panel 2 "Requests": no description/],
    ['hardcoded-datasource.json', /panel 2 "Requests": datasource must be/],
  ])('rejects %s: %s', (file, message) => {
    const problems = lintFixture(file)
    expect(problems.some((p) => message.test(p)), problems.join('\n')).toBe(true)
  })

  it('rejects two dashboards that share a uid', () => {
    const a = fixture('good.json')
    const problems = lintDashboards([{ file: 'a.json', json: a }, { file: 'b.json', json: { ...a, title: 'Other' } }])
    expect(problems).toEqual(['b.json: uid "owp-fixture" is also used by a.json'])
  })

  it('finds fixed rate windows in the parsed query, not by text', () => {
    expect(fixedRateWindows('sum(rate(x{code=~"5[0-9]{2}"}[$__rate_interval]))')).toEqual([])
    expect(fixedRateWindows('rate(x[${__rate_interval}]) + irate(y[2m])')).toEqual(['irate(...[2m])'])
    expect(fixedRateWindows('rate(x[5m:30s])')).toEqual(['rate(...[5m:30s])'])
    expect(fixedRateWindows('increase(x[$__range]) + avg_over_time(y[1d])')).toEqual([])
  })
})

describe('Grafana provisioning', () => {
  it('defines the Prometheus datasource with a fixed uid, at the compose service', () => {
    const ds = parse(readFileSync(join(GRAFANA_DIR, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'))
    expect(ds.datasources).toEqual([expect.objectContaining({ uid: 'owp-prometheus', type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })])
  })

  it('loads the dashboards from the directory compose mounts, read-only in the UI', () => {
    const p = parse(readFileSync(join(GRAFANA_DIR, 'provisioning', 'dashboards', 'owp.yml'), 'utf8'))
    expect(p.providers).toEqual([expect.objectContaining({ type: 'file', allowUiUpdates: false, options: expect.objectContaining({ path: '/etc/grafana/dashboards' }) })])
  })
})
