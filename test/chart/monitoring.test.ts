// The chart renders PrometheusRules and Grafana dashboard ConfigMaps from files/monitoring/, which the
// monitoring sync fills from config/. Tested on a temp copy of the chart with known sample files.
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { CHART_DIR } from '../../scripts/lib/paths.ts'
import { HELM_VERSIONS, runHelm, renderChart, templateArgs, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'
import { tmpDir } from '../helpers/tmp.ts'

const RULE = `# a sample rule file as the monitoring sync writes it
groups:
  - name: owp-sample
    rules:
      - alert: SampleDown
        expr: up{job="sample"} == 0
        for: 5m
        labels:
          severity: critical
          service: '{{ $labels.job }}'
        annotations:
          summary: Sample is down
          description: '{{ $labels.instance }} has been down for 5 minutes ({{ $value }}).'
          runbook_url: docs/runbooks/SampleDown.md
      - record: job:up:sum
        expr: sum by (job) (up)
`
const DASHBOARD = JSON.stringify({ title: 'Sample', uid: 'owp-sample', panels: [{ type: 'stat', targets: [{ expr: 'sum(up{job="sample"})' }] }] }, null, 2)

const tmp = tmpDir('owp-chart-monitoring-')
const chart = (name: string) => join(tmp.path, name)

/** A copy of the chart whose files/monitoring holds exactly the given files. */
function chartCopy(name: string, files: Record<string, string>): string {
  const dir = chart(name)
  cpSync(CHART_DIR, dir, { recursive: true })
  rmSync(join(dir, 'files', 'monitoring'), { recursive: true, force: true })
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, 'files', 'monitoring', path, '..'), { recursive: true })
    writeFileSync(join(dir, 'files', 'monitoring', path), text)
  }
  return dir
}

beforeAll(() => {
  chartCopy('sample', { 'rules/sample.yml': RULE, 'dashboards/sample.json': DASHBOARD })
  chartCopy('empty', {})
  chartCopy('broken', { 'rules/broken.yml': 'alerts:\n  - nope\n' })
})
afterAll(() => tmp.remove())

const kinds = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind)
const dashboards = (objs: K8sObject[]) => objs.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1')

describe.each(HELM_VERSIONS)('helm %s', (v) => {
  it('renders a PrometheusRule per rule file, groups unchanged ({{ $labels }} kept for Prometheus)', async () => {
    const objs = await renderChart(v, { chart: chart('sample') })
    const rules = kinds(objs, 'PrometheusRule')
    expect(rules.map((r) => r.metadata.name)).toEqual(['owp-sample'])
    expect(rules[0].spec.groups).toEqual(parse(RULE).groups)
    expect(rules[0].metadata.labels.release).toBe('kube-prometheus-stack')
    expect(await validateObjects(rules)).toEqual([])
  })

  it('renders a dashboard ConfigMap per JSON file, content byte for byte, labelled for the Grafana sidecar', async () => {
    const objs = await renderChart(v, { chart: chart('sample'), set: ['monitoring.dashboards.namespace=monitoring'] })
    const cms = dashboards(objs)
    expect(cms.map((c) => [c.metadata.name, c.metadata.namespace])).toEqual([['owp-dashboard-sample', 'monitoring']])
    expect(cms[0].data).toEqual({ 'sample.json': DASHBOARD })
  })
})

it('renders no ServiceMonitor or PrometheusRule when monitoring.coreos.com/v1 is not served; dashboards still', async () => {
  const objs = await renderChart('v4', { chart: chart('sample'), apiVersions: ['cert-manager.io/v1'] })
  expect(kinds(objs, 'PrometheusRule')).toEqual([])
  expect(kinds(objs, 'ServiceMonitor')).toEqual([])
  expect(dashboards(objs)).toHaveLength(1)
})

it('renders nothing for empty monitoring folders, and the rest of the chart as usual', async () => {
  const objs = await renderChart('v4', { chart: chart('empty') })
  expect(kinds(objs, 'PrometheusRule')).toEqual([])
  expect(dashboards(objs)).toEqual([])
  expect(kinds(objs, 'ServiceMonitor').length).toBeGreaterThan(0)
})

it('fails the render naming a rule file without groups', async () => {
  const r = await runHelm('v4', templateArgs({ chart: chart('broken') }))
  expect(r.code).not.toBe(0)
  expect(r.stderr).toContain('files/monitoring/rules/broken.yml is not a Prometheus rule file with groups:')
})

it('the real chart renders one object per file the monitoring sync placed in files/monitoring', async () => {
  const dir = join(CHART_DIR, 'files', 'monitoring')
  const list = (sub: string, ext: string) => { try { return readdirSync(join(dir, sub)).filter((f) => f.endsWith(ext)).sort() } catch { return [] } }
  const objs = await renderChart('v4')
  expect(kinds(objs, 'PrometheusRule').map((r) => r.metadata.name).sort()).toEqual(list('rules', '.yml').map((f) => `owp-${f.replace(/\.yml$/, '').toLowerCase().replace(/[_.]/g, '-')}`))
  const cms = dashboards(objs)
  expect(cms.flatMap((c) => Object.keys(c.data)).sort()).toEqual(list('dashboards', '.json'))
  for (const c of cms) for (const [f, text] of Object.entries(c.data)) expect(text).toBe(readFileSync(join(dir, 'dashboards', f), 'utf8').replace(/\n$/, ''))
})
