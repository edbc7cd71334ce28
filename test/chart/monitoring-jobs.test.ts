// The alert rules and dashboards match on `job` and `component` (config/prometheus/rules,
// config/grafana/dashboards). On compose those come from prometheus.prod.yml; on Kubernetes from the
// chart's ServiceMonitors, PodMonitor and Probes, read here the way the Prometheus Operator turns them
// into scrape configs. A selector that nothing on Kubernetes produces is an alert that never fires.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { dashboardExpressions, ruleExpressions } from '../../scripts/lib/monitoring/promql.ts'
import { findObject, renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { labelMatchers, producedValues, relabel, scrapeModel, unproducedSelectors, type SelectorUse } from '../helpers/k8s-scrape.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

/** Compose scrape jobs with no Kubernetes producer in the chart, and why (docs/monitoring.md says the same). */
export const COMPOSE_ONLY_JOBS: Record<string, string> = {
  prometheus: 'kube-prometheus-stack scrapes its own Prometheus (job kube-prometheus-stack-prometheus)',
  alertmanager: 'kube-prometheus-stack scrapes its own Alertmanager',
  grafana: 'kube-prometheus-stack scrapes its own Grafana',
  'node-exporter': 'kube-prometheus-stack runs node-exporter (its job is node-exporter too; the host rules match no job)',
  dcgm: 'the NVIDIA GPU operator runs dcgm-exporter with its own ServiceMonitor (the GPU panels match no job)',
  nginx: 'the chart has no NGINX: the Ingress or Gateway controller is monitored by its own chart (NginxDown stays silent)',
}
/** Kubernetes jobs that compose does not have, and why. */
export const K8S_ONLY_JOBS: Record<string, string> = {
  pushgateway: 'the backup CronJobs push backup_* here; on compose node-exporter reads them from a textfile',
}

const uses = (): SelectorUse[] => [...ruleExpressions(), ...dashboardExpressions()].map((e) => ({ where: e.where, promql: e.promql }))
const composeJobs = (): string[] => {
  const cfg = parse(readFileSync(join(ROOT, 'config', 'prometheus', 'prometheus.prod.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] }
  return cfg.scrape_configs.map((j) => j.job_name)
}

let full: K8sObject[]
let ha: K8sObject[]
let external: K8sObject[]
beforeAll(async () => {
  const file = (n: string) => scenarioFile(SCENARIOS.find((s) => s.name === n)!)
  ;[full, ha, external] = await Promise.all(['full', 'ha', 'external'].map((n) => renderChart('v4', { valuesFiles: [file(n)] })))
})

const jobs = (objs: K8sObject[]) => [...producedValues(scrapeModel(objs).targets, 'job').keys()].sort()
const without = (objs: K8sObject[], kind: string, name: string) => structuredClone(objs.filter((o) => !(o.kind === kind && o.metadata.name === name)))

describe('job names on Kubernetes', () => {
  it('the ServiceMonitors and Probes of the full platform yield the compose job names, each pod scraped once', () => {
    const model = scrapeModel(full)
    expect(model.problems).toEqual([])
    expect(jobs(full)).toEqual(['blackbox-exporter', 'blackbox-http', 'blackbox-tcp', 'blackbox-tls', 'celery-exporter', 'graphrag-processor',
      'lightllm', 'mcp-server', 'openwebui', 'postgres', 'pushgateway', 'qdrant', 'redis'])
    // Open WebUI's metrics come from the collector's exporter port, not from Open WebUI
    expect(model.targets.filter((t) => t.labels.job === 'openwebui').map((t) => [t.service, t.labels.endpoint])).toEqual([['owp-otel-collector', 'metrics']])
    // pushed series keep the job and store the backup job gave them
    expect(model.targets.filter((t) => t.honorLabels).map((t) => t.labels.job)).toEqual(['pushgateway'])
  })

  it('CloudNativePG instances are scraped as job postgres too (PodMonitor)', () => {
    const model = scrapeModel(ha)
    expect(model.problems).toEqual([])
    expect(model.targets.filter((t) => t.labels.job === 'postgres').map((t) => t.source)).toEqual(['PodMonitor/owp-postgres'])
  })

  it('every job and component selector of the rules and dashboards has a producer on Kubernetes', () => {
    for (const objs of [full, ha]) {
      const { targets } = scrapeModel(objs)
      expect(unproducedSelectors(uses(), 'job', producedValues(targets, 'job'), COMPOSE_ONLY_JOBS)).toEqual([])
      expect(unproducedSelectors(uses(), 'component', producedValues(targets, 'component'))).toEqual([])
    }
  })

  it('the rules do select on the jobs and components this test guards (it would notice them going away)', () => {
    const asked = new Set(uses().flatMap((u) => labelMatchers(u.promql)).filter((m) => ['job', 'component'].includes(m.label) && m.op === '=').map((m) => `${m.label}=${m.value}`))
    expect([...asked].sort()).toEqual(expect.arrayContaining(['component=neo4j', 'component=openwebui', 'job=blackbox-http', 'job=celery-exporter',
      'job=graphrag-processor', 'job=lightllm', 'job=mcp-server', 'job=openwebui', 'job=qdrant']))
  })

  it('every Kubernetes job is a compose job of the same name; the exceptions are documented and true', () => {
    const compose = composeJobs()
    const k8s = jobs(full)
    expect(k8s.filter((j) => !compose.includes(j) && !(j in K8S_ONLY_JOBS))).toEqual([])
    // the lists of exceptions stay honest: a compose-only job exists on compose and not on Kubernetes, and vice versa
    expect(Object.keys(COMPOSE_ONLY_JOBS).filter((j) => !compose.includes(j) || k8s.includes(j))).toEqual([])
    expect(Object.keys(K8S_ONLY_JOBS).filter((j) => compose.includes(j) || !k8s.includes(j))).toEqual([])
    expect(compose.filter((j) => !k8s.includes(j) && !(j in COMPOSE_ONLY_JOBS))).toEqual([])
    const doc = readFileSync(join(ROOT, 'docs', 'monitoring.md'), 'utf8')
    expect([...Object.keys(COMPOSE_ONLY_JOBS), ...Object.keys(K8S_ONLY_JOBS)].filter((j) => !doc.includes(`| ${j} |`))).toEqual([])
  })

  it('with an outside collector the chart renders no collector and no openwebui job (that collector is yours to scrape)', () => {
    expect(findObject(external, 'Deployment', 'owp-otel-collector')).toBeUndefined()
    expect(jobs(external)).not.toContain('openwebui')
    expect(unproducedSelectors(uses(), 'job', producedValues(scrapeModel(external).targets, 'job'), COMPOSE_ONLY_JOBS).join('\n')).toMatch(/\{job="openwebui"\} needs job="openwebui"/)
  })
})

describe('the checker fails on a broken chart', () => {
  const problemsOf = (objs: K8sObject[]) => {
    const { targets, problems } = scrapeModel(objs)
    return [...problems, ...unproducedSelectors(uses(), 'job', producedValues(targets, 'job'), COMPOSE_ONLY_JOBS),
      ...unproducedSelectors(uses(), 'component', producedValues(targets, 'component'))]
  }

  it('names the rules that lose their job when the collector ServiceMonitor is gone', () => {
    const problems = problemsOf(without(full, 'ServiceMonitor', 'owp-otel-collector'))
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^rules\/recording\.yml: job:openwebui_failed_logins:rate5m: \{job="openwebui"\} needs job="openwebui"/),
      expect.stringMatching(/^dashboards\/platform-overview\.json: .*\{job="openwebui"\}/),
    ]))
  })

  it('sees a ServiceMonitor whose job is the Service name (no relabeling), or a jobLabel that names the component', () => {
    const objs = structuredClone(full)
    delete findObject(objs, 'ServiceMonitor', 'owp-lightllm')!.spec.endpoints[0].relabelings
    expect(jobs(objs)).toContain('owp-lightllm')
    expect(problemsOf(objs)).toEqual(expect.arrayContaining([expect.stringMatching(/^rules\/availability\.yml: LightLLMDown: \{job="lightllm"\} needs job="lightllm"/)]))
    findObject(objs, 'ServiceMonitor', 'owp-lightllm')!.spec.jobLabel = 'app.kubernetes.io/component'
    expect(problemsOf(objs)).toEqual([])
  })

  it('sees a pod scraped twice when the headless Service is selected too', () => {
    const objs = structuredClone(full)
    delete findObject(objs, 'Service', 'owp-redis-headless')!.metadata.labels['openwebui-platform/headless']
    expect(problemsOf(objs)).toEqual(['ServiceMonitor/owp-redis: endpoint port metrics scrapes the same pods through 2 Services (Service/owp-redis, Service/owp-redis-headless): every series twice'])
  })

  it('sees a Probe without its component label, and a missing Probe', () => {
    const objs = structuredClone(full)
    delete findObject(objs, 'Probe', 'owp-blackbox-http-openwebui')!.spec.targets.staticConfig.labels
    expect(problemsOf(objs)).toEqual(expect.arrayContaining([expect.stringMatching(/^rules\/availability\.yml: OpenWebUIDown: \{component="openwebui"\} needs component="openwebui"/)]))
    const noNeo4j = without(without(full, 'Probe', 'owp-blackbox-http-neo4j'), 'Probe', 'owp-blackbox-tcp-neo4j')
    expect(problemsOf(noNeo4j)).toEqual(expect.arrayContaining([expect.stringMatching(/Neo4jDown: \{component="neo4j"\} needs component="neo4j"/)]))
  })

  it('checks regex alternatives one by one, and real regexes against what is produced', () => {
    const produced = new Map([['graphrag-processor', ['x']]])
    expect(unproducedSelectors([{ where: 'w', promql: 'up{job=~"graphrag-processor|mcp-server"}' }], 'job', produced))
      .toEqual(['w: {job=~"graphrag-processor|mcp-server"} needs job="mcp-server", which nothing on Kubernetes produces'])
    expect(unproducedSelectors([{ where: 'w', promql: 'up{job=~"graph.*"} + up{job=~"$job"} + up{job!="x"}' }], 'job', produced)).toEqual([])
    expect(unproducedSelectors([{ where: 'w', promql: 'up{job=~"mcp.*"}' }], 'job', produced)).toEqual(['w: {job=~"mcp.*"} matches no job produced on Kubernetes'])
  })

  it('models Prometheus replace relabeling (source labels, regex groups, empty result drops the label)', () => {
    expect(relabel({ service: 'owp-x', job: 'a' }, [{ sourceLabels: ['service'], regex: 'owp-(.*)', targetLabel: 'job', replacement: '${1}' }]).labels.job).toBe('x')
    expect(relabel({ job: 'a' }, [{ sourceLabels: ['nope'], targetLabel: 'job' }]).labels).toEqual({})
    expect(relabel({ job: 'a' }, [{ action: 'labeldrop', regex: 'job' }]).problems).toEqual(['relabel action labeldrop is not modelled'])
  })
})
