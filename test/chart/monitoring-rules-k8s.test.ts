// The alert rules fire on Kubernetes: series carrying exactly the labels the chart's ServiceMonitors,
// Probes and Pushgateway give them (computed from the rendered chart as the Prometheus Operator does)
// go through the real promtool with the rule files the PrometheusRules carry (files/monitoring/rules).
// Annotations are left out of the copies: they only describe an alert, and promtool compares them verbatim.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { loadRules, parseDuration, ruleFiles, type Rule } from '../../scripts/lib/monitoring/rules.ts'
import { promtoolTestRules } from '../../scripts/lib/monitoring/promtool.ts'
import { testCtx } from '../helpers/context.ts'
import { renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { scrapeModel, type ScrapeTarget } from '../helpers/k8s-scrape.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

const CHART_RULES = join(CHART_DIR, 'files', 'monitoring', 'rules')
type Labels = Record<string, string>

interface Case {
  alert: string
  series: { metric: string; labels: Labels; values: string }[]
  /** labels of the alert that come from the series: all of the first series', or these */
  keep: 'all' | string[]
}

const tmp = tmpDir('owp-k8s-rules-')
let targets: ScrapeTarget[]
let rules: Rule[]
beforeAll(async () => {
  const objs: K8sObject[] = await renderChart('v4', { valuesFiles: [scenarioFile(SCENARIOS.find((s) => s.name === 'full')!)] })
  targets = scrapeModel(objs).targets
  rules = loadRules(ruleFiles(CHART_RULES))
})
afterAll(() => tmp.remove())

/** The labels Prometheus gives a scraped series: the target's (plus an instance), under the series' own when honorLabels. */
function scraped(t: ScrapeTarget, own: Labels = {}): Labels {
  const target = { instance: t.labels.instance ?? '10.42.0.7:80', ...t.labels }
  return t.honorLabels ? { ...target, ...own } : { ...own, ...target }
}
const target = (label: string, value: string) => {
  const found = targets.filter((t) => t.labels[label] === value)
  if (!found.length) throw new Error(`no Kubernetes target has ${label}="${value}"`)
  return found
}
const selector = (metric: string, labels: Labels) => `${metric}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`

function expectedLabels(rule: Rule, c: Case): Labels {
  const first = c.series[0]!.labels
  const fromSeries = c.keep === 'all' ? { ...first } : Object.fromEntries(c.keep.map((k) => [k, first[k]!]))
  const own = Object.fromEntries(Object.entries(rule.labels ?? {}).map(([k, v]) => [k, v.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, l: string) => fromSeries[l] ?? '')]))
  // an empty label is no label (the Pushgateway's instance="")
  return Object.fromEntries(Object.entries({ ...fromSeries, ...own }).filter(([, v]) => v !== ''))
}

/** promtool test files (and annotation-free rule copies) for the cases; returns the test file path. */
function writeTests(cases: Case[], name: string): string {
  const copies: string[] = []
  for (const file of ruleFiles(CHART_RULES)) {
    const doc = parse(readFileSync(file, 'utf8')) as { groups: { rules: Record<string, unknown>[] }[] }
    for (const g of doc.groups) for (const r of g.rules) delete r.annotations
    const copy = join(tmp.path, `${name}-${file.split('/').pop()}`)
    writeFileSync(copy, stringify(doc))
    copies.push(copy)
  }
  const tests = cases.map((c) => {
    const rule = rules.find((r) => r.alert === c.alert)
    if (!rule) throw new Error(`no alert ${c.alert} in ${CHART_RULES}`)
    const evalMinutes = Math.ceil(parseDuration(rule.for ?? '0m') / 60_000) + 7
    return {
      interval: '1m',
      input_series: c.series.map((s) => ({ series: selector(s.metric, s.labels), values: s.values })),
      alert_rule_test: [{ eval_time: `${evalMinutes}m`, alertname: c.alert, exp_alerts: [{ exp_labels: expectedLabels(rule, c) }] }],
    }
  })
  const path = join(tmp.path, `${name}.test.yml`)
  writeFileSync(path, stringify({ rule_files: copies.map((f) => f.split('/').pop()), evaluation_interval: '1m', tests }))
  return path
}

const down = (alert: string, job: string): Case => ({ alert, series: target('job', job).map((t) => ({ metric: 'up', labels: scraped(t), values: '0x30' })), keep: 'all' })

function cases(): Case[] {
  const openwebui = target('job', 'openwebui')[0]!
  const graphrag = target('job', 'graphrag-processor')[0]!
  const pushgateway = target('job', 'pushgateway')[0]!
  const signin = { http_method: 'POST', http_route: '/api/v1/auths/signin', http_status_code: '400' }
  return [
    down('LightLLMDown', 'lightllm'),
    down('GraphRAGDown', 'graphrag-processor'),
    down('MCPServerDown', 'mcp-server'),
    down('QdrantDown', 'qdrant'),
    { alert: 'OpenWebUIDown', series: target('component', 'openwebui').map((t) => ({ metric: 'probe_success', labels: scraped(t), values: '0x30' })), keep: 'all' },
    { alert: 'Neo4jDown', series: target('component', 'neo4j').map((t) => ({ metric: 'probe_success', labels: scraped(t), values: '0x30' })), keep: ['component'] },
    // the exporter is up and has seen no worker heartbeat
    { alert: 'CeleryWorkerDown', series: target('job', 'celery-exporter').map((t) => ({ metric: 'up', labels: scraped(t), values: '1x30' })), keep: ['job'] },
    // Open WebUI's counters arrive through the collector, as job openwebui
    {
      alert: 'HighHttpErrorRate', keep: ['job'], series: [
        { metric: 'http_server_requests_total', labels: scraped(openwebui, { http_method: 'POST', http_route: '/api/chat/completions', http_status_code: '500' }), values: '0+600x30' },
        { metric: 'http_server_requests_total', labels: scraped(openwebui, { http_method: 'GET', http_route: '/api/models', http_status_code: '200' }), values: '0+600x30' },
      ],
    },
    { alert: 'HighFailedLoginRate', keep: ['job'], series: [{ metric: 'http_server_requests_total', labels: scraped(openwebui, signin), values: '0+600x30' }] },
    {
      alert: 'HighHttpErrorRate', keep: ['job'], series: [
        { metric: 'http_requests_total', labels: scraped(graphrag, { handler: '/query', method: 'POST', status: '5xx' }), values: '0+600x30' },
      ],
    },
    // the backup CronJob's push, as the Pushgateway serves it and Prometheus keeps it (honorLabels)
    { alert: 'BackupFailed', keep: 'all', series: [{ metric: 'backup_last_run_success', labels: scraped(pushgateway, { job: 'backup', instance: '', store: 'postgres' }), values: '0x30' }] },
  ]
}

describe('the alert rules on the labels the chart produces', () => {
  it('each availability, traffic and backup alert fires on Kubernetes-labelled series (promtool)', async () => {
    const r = await promtoolTestRules(testCtx(), [writeTests(cases(), 'k8s')])
    expect(r.ok, r.output).toBe(true)
  })

  it('fails when the labels differ from what the rule needs (the check can fail)', async () => {
    const broken = cases().filter((c) => c.alert === 'LightLLMDown')
    // what the Prometheus Operator would produce without the job relabeling: job = the Service name
    for (const s of broken[0]!.series) s.labels.job = 'owp-lightllm'
    const r = await promtoolTestRules(testCtx(), [writeTests(broken, 'broken')])
    expect(r.ok).toBe(false)
    expect(r.output).toMatch(/alertname: LightLLMDown/)
  })
})
