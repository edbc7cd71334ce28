// The chart renders PrometheusRules and Grafana dashboard ConfigMaps from files/monitoring/, which the
// monitoring sync fills from config/. Tested on a temp copy of the chart with known sample files.
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { CHART_DIR, ROOT } from '../../scripts/lib/core/paths.ts'
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

describe('the monitoring helpers on Kubernetes (kube-prometheus-stack)', () => {
  const monitoringKinds = ['ServiceMonitor', 'PodMonitor', 'Probe', 'PrometheusRule']
  let full: K8sObject[]
  beforeAll(async () => { full = await renderChart('v4', { valuesFiles: [join(CHART_DIR, 'ci', 'full-values.yaml')] }) })
  const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!
  const env = (c: { env: { name: string; value?: string }[] }, name: string) => c.env.find((e) => e.name === name)?.value

  it('labels every ServiceMonitor, PodMonitor, Probe and PrometheusRule with monitoring.labels (the release kube-prometheus-stack selects)', async () => {
    const objs = await renderChart('v4', { valuesFiles: [join(CHART_DIR, 'ci', 'ha-values.yaml')], set: ['monitoring.labels.release=kps', 'monitoring.labels.team=ai'] })
    const mon = objs.filter((o) => monitoringKinds.includes(o.kind))
    expect(new Set(mon.map((o) => o.kind))).toEqual(new Set(monitoringKinds))
    expect(mon.filter((o) => o.metadata.labels.release !== 'kps' || o.metadata.labels.team !== 'ai').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([])
    expect(full.filter((o) => monitoringKinds.includes(o.kind) && o.metadata.labels.release !== 'kube-prometheus-stack')).toEqual([])
  })

  it('runs the OpenTelemetry collector on the compose config and points Open WebUI at it (metrics only)', () => {
    expect(readFileSync(join(CHART_DIR, 'files', 'otel', 'collector.yaml'), 'utf8'), 'cp config/otel/collector.yaml helm/openwebui-platform/files/otel/collector.yaml')
      .toBe(readFileSync(join(ROOT, 'config', 'otel', 'collector.yaml'), 'utf8'))
    expect(find(full, 'ConfigMap', 'owp-otel-collector').data['config.yaml']).toBe(readFileSync(join(ROOT, 'config', 'otel', 'collector.yaml'), 'utf8').replace(/\n$/, ''))
    const ui = find(full, 'Deployment', 'owp-openwebui').spec.template.spec.containers[0]
    expect(env(ui, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://owp-otel-collector:4317')
    expect([env(ui, 'ENABLE_OTEL'), env(ui, 'ENABLE_OTEL_METRICS'), env(ui, 'ENABLE_OTEL_TRACES')]).toEqual(['true', 'true', 'false'])
    const collector = find(full, 'Deployment', 'owp-otel-collector').spec.template.spec
    expect(collector.containers[0].args).toEqual(['--config=/etc/otelcol-contrib/config.yaml'])
    expect(collector.volumes[0].configMap.name).toBe('owp-otel-collector')
    const svc = find(full, 'Service', 'owp-otel-collector')
    expect(svc.spec.ports.map((p: { port: number }) => p.port)).toEqual([4317, 4318, 8889])
  })

  it('probes through an in-release blackbox exporter running the compose modules', () => {
    const modules = Object.keys(parse(readFileSync(join(ROOT, 'config', 'prometheus', 'blackbox.yml'), 'utf8')).modules)
    expect(readFileSync(join(CHART_DIR, 'files', 'blackbox', 'blackbox.yml'), 'utf8'), 'cp config/prometheus/blackbox.yml helm/openwebui-platform/files/blackbox/blackbox.yml')
      .toBe(readFileSync(join(ROOT, 'config', 'prometheus', 'blackbox.yml'), 'utf8'))
    const probes = kinds(full, 'Probe')
    expect(probes.map((p) => [p.spec.jobName, p.spec.module, p.spec.targets.staticConfig.labels.component, p.spec.targets.staticConfig.static[0]])).toEqual([
      ['blackbox-http', 'http_2xx', 'openwebui', 'http://owp-openwebui.openwebui-prod.svc:8080/health'],
      ['blackbox-http', 'http_2xx', 'lightllm', 'http://owp-lightllm.openwebui-prod.svc:8000/health'],
      ['blackbox-http', 'http_2xx', 'graphrag-processor', 'http://owp-graphrag-processor.openwebui-prod.svc:8010/health'],
      ['blackbox-http', 'http_2xx', 'mcp-server', 'http://owp-mcp-server.openwebui-prod.svc:8020/health'],
      ['blackbox-http', 'http_2xx', 'qdrant', 'http://owp-qdrant.openwebui-prod.svc:6333/readyz'],
      ['blackbox-http', 'http_2xx', 'neo4j', 'http://owp-neo4j.openwebui-prod.svc:7474/'],
      ['blackbox-tcp', 'tcp_connect', 'neo4j', 'owp-neo4j.openwebui-prod.svc:7687'],
      ['blackbox-tls', 'https_cert', 'ingress', 'https://chat.example.com/'],
    ])
    for (const p of probes) {
      expect(modules).toContain(p.spec.module)
      expect(p.spec.prober).toEqual({ url: 'owp-blackbox-exporter.openwebui-prod.svc:9115', path: '/probe' })
      // every probed host is a Service of the release (or the public name)
      const host = new URL(p.spec.targets.staticConfig.static[0].includes('://') ? p.spec.targets.staticConfig.static[0] : `tcp://${p.spec.targets.staticConfig.static[0]}`).hostname
      if (host !== 'chat.example.com') expect(find(full, 'Service', host.split('.')[0]), host).toBeDefined()
    }
    expect(find(full, 'Service', 'owp-blackbox-exporter').spec.ports[0].port).toBe(9115)
    expect(find(full, 'ConfigMap', 'owp-blackbox-exporter').data['config.yml']).toBe(readFileSync(join(ROOT, 'config', 'prometheus', 'blackbox.yml'), 'utf8').replace(/\n$/, ''))
  })

  it('gives the backup CronJobs a Pushgateway for their metrics, kept on a volume and scraped with honorLabels', () => {
    for (const j of kinds(full, 'CronJob')) {
      expect(env(j.spec.jobTemplate.spec.template.spec.containers[0], 'BACKUP_PUSHGATEWAY_URL'), j.metadata.name).toBe('http://owp-pushgateway:9091')
    }
    const pgw = find(full, 'Deployment', 'owp-pushgateway')
    expect(pgw.spec.strategy.type).toBe('Recreate')
    expect(pgw.spec.template.spec.containers[0].args).toContain('--persistence.file=/data/pushgateway.store')
    expect(pgw.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe('owp-pushgateway')
    expect(find(full, 'ServiceMonitor', 'owp-pushgateway').spec.endpoints[0].honorLabels).toBe(true)
  })

  it('without monitoring.coreos.com/v1: no prober and no Pushgateway (nothing would scrape them); the collector stays for Open WebUI', async () => {
    const objs = await renderChart('v4', { valuesFiles: [join(CHART_DIR, 'ci', 'full-values.yaml')], apiVersions: ['cert-manager.io/v1'] })
    const deployments = kinds(objs, 'Deployment').map((d) => d.metadata.name)
    expect(deployments).toContain('owp-otel-collector')
    expect(deployments.filter((d) => ['owp-blackbox-exporter', 'owp-pushgateway'].includes(d))).toEqual([])
    expect(kinds(objs, 'CronJob').flatMap((j) => j.spec.jobTemplate.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name))).not.toContain('BACKUP_PUSHGATEWAY_URL')
    expect(objs.filter((o) => monitoringKinds.includes(o.kind))).toEqual([])
  })

  it('each helper can be switched off on its own', async () => {
    const objs = await renderChart('v4', { set: ['monitoring.blackboxExporter.enabled=false', 'monitoring.pushgateway.enabled=false', 'openwebui.otel.enabled=false'] })
    expect(kinds(objs, 'Deployment').map((d) => d.metadata.name).filter((d) => /otel|blackbox|pushgateway/.test(d))).toEqual([])
    expect(kinds(objs, 'Probe')).toEqual([])
    expect(find(objs, 'Deployment', 'owp-openwebui').spec.template.spec.containers[0].env.map((e: { name: string }) => e.name)).not.toContain('ENABLE_OTEL')
  })
})
