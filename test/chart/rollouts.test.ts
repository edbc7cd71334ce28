// Upgrades on Kubernetes: rolling by default (never below the serving pods), blue-green and canary
// through Argo Rollouts over the chart's Deployments, analysed on the kit's own SLOs.
import { beforeAll, describe, expect, it } from 'vitest'
import { findObject, renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObject } from '../helpers/k8s-validate.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'
import { promqlSyntaxErrors } from '../../scripts/lib/monitoring/promql.ts'
import { checkMetricNames, loadCatalog } from '../../scripts/lib/monitoring/catalog.ts'
import { loadRules, recordedNames } from '../../scripts/lib/monitoring/rules.ts'

const file = (n: string) => scenarioFile(SCENARIOS.find((s) => s.name === n)!)
const WITHOUT_ARGO = ['monitoring.coreos.com/v1', 'cert-manager.io/v1', 'gateway.networking.k8s.io/v1']

let blueGreen: K8sObject[]
let canary: K8sObject[]
let canaryNoArgo: K8sObject[]
let defaults: K8sObject[]
beforeAll(async () => {
  ;[blueGreen, canary, canaryNoArgo, defaults] = await Promise.all([
    renderChart('v4', { valuesFiles: [file('rollout-bluegreen')] }),
    renderChart('v4', { valuesFiles: [file('rollout-canary')] }),
    renderChart('v4', { valuesFiles: [file('rollout-canary')], apiVersions: WITHOUT_ARGO }),
    renderChart('v4', { valuesFiles: [file('full')] }),
  ])
})

const get = (objs: K8sObject[], kind: string, name: string) => structuredClone(findObject(objs, kind, name)!)
const names = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort()
const APPS = ['owp-graphrag-processor', 'owp-mcp-server', 'owp-openwebui']

/** The analysis queries with the Rollout's arguments filled in, as Argo sends them to Prometheus. */
function analysisQueries(objs: K8sObject[], args: Record<string, string>): Array<{ where: string; promql: string }> {
  return objs.filter((o) => o.kind === 'AnalysisTemplate').flatMap((t) => t.spec.metrics.map((m: any) => ({
    where: `AnalysisTemplate/${t.metadata.name}: ${m.name}`,
    promql: (m.provider.prometheus.query as string).replace(/\{\{args\.([\w-]+)\}\}/g, (_, k: string) => args[k] ?? `<no arg ${k}>`),
  })))
}

describe('rolling (the default)', () => {
  it('never stops a serving pod before its successor is ready, and keeps GPU and singleton workloads on Recreate', () => {
    for (const d of ['owp-graphrag-processor', 'owp-mcp-server', 'owp-celery-worker']) {
      expect(get(defaults, 'Deployment', d).spec.strategy, d).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } })
    }
    expect(get(defaults, 'Deployment', 'owp-lightllm').spec.strategy).toEqual({ type: 'Recreate' })
    expect(get(defaults, 'Deployment', 'owp-celery-beat').spec.strategy).toEqual({ type: 'Recreate' })
    expect(names(defaults, 'Rollout')).toEqual([])
  })

  it('Open WebUI on its default ReadWriteOnce volume recreates; on S3 uploads or ReadWriteMany it rolls', () => {
    expect(get(defaults, 'Deployment', 'owp-openwebui').spec.strategy).toEqual({ type: 'Recreate' })
    const rolling = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }
    expect(get(canaryNoArgo, 'Deployment', 'owp-openwebui').spec.strategy).toEqual(rolling)
    expect(get(canaryNoArgo, 'PersistentVolumeClaim', 'owp-openwebui-data').spec.accessModes).toEqual(['ReadWriteMany'])
  })

  it('Open WebUI is ready only when it can serve: its readiness probe queries the database', () => {
    const c = get(defaults, 'Deployment', 'owp-openwebui').spec.template.spec.containers[0]
    expect(c.readinessProbe.httpGet.path).toBe('/health/db')
    expect(c.livenessProbe.httpGet.path).toBe('/health')
  })

  it('a cluster without Argo Rollouts gets plain rolling Deployments from the same values', () => {
    expect(names(canaryNoArgo, 'Rollout')).toEqual([])
    expect(names(canaryNoArgo, 'AnalysisTemplate')).toEqual([])
    expect(get(canaryNoArgo, 'Deployment', 'owp-openwebui').spec.replicas).toBe(2)
    expect(get(canaryNoArgo, 'HorizontalPodAutoscaler', 'owp-graphrag-processor').spec.scaleTargetRef.kind).toBe('Deployment')
    expect(get(canaryNoArgo, 'HTTPRoute', 'owp-openwebui').spec.rules[0].backendRefs).toEqual([{ name: 'owp-openwebui', port: 8080 }])
  })
})

describe('blue-green (rollout.strategy: blueGreen)', () => {
  it('renders one Rollout per stateless API, each referencing its Deployment scaled to 0', () => {
    expect(names(blueGreen, 'Rollout')).toEqual(APPS)
    for (const n of APPS) {
      const r = get(blueGreen, 'Rollout', n)
      expect(r.spec.workloadRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: n })
      expect(r.spec.selector.matchLabels).toEqual(get(blueGreen, 'Deployment', n).spec.selector.matchLabels)
      expect(get(blueGreen, 'Deployment', n).spec.replicas, n).toBe(0)
      expect(r.spec.progressDeadlineAbort).toBe(true)
    }
    expect(get(blueGreen, 'Rollout', 'owp-openwebui').spec.replicas).toBe(2)
  })

  it('switches the active Service after the SLO analysis, keeping the old pods to switch back', () => {
    const bg = get(blueGreen, 'Rollout', 'owp-openwebui').spec.strategy.blueGreen
    expect(bg).toMatchObject({ activeService: 'owp-openwebui', previewService: 'owp-openwebui-preview', autoPromotionEnabled: true, scaleDownDelaySeconds: 600 })
    expect(bg.prePromotionAnalysis).toEqual({ templates: [{ templateName: 'owp-slo' }], args: [{ name: 'job', value: 'openwebui' }] })
    expect(bg.postPromotionAnalysis).toEqual(bg.prePromotionAnalysis)
    const preview = get(blueGreen, 'Service', 'owp-openwebui-preview')
    expect(preview.spec.selector).toEqual(get(blueGreen, 'Service', 'owp-openwebui').spec.selector)
    expect(preview.spec.ports).toEqual(get(blueGreen, 'Service', 'owp-openwebui').spec.ports)
  })

  it('Prometheus never scrapes a pod twice through the preview Service', () => {
    const preview = get(blueGreen, 'Service', 'owp-mcp-server-preview')
    const sm = get(blueGreen, 'ServiceMonitor', 'owp-mcp-server')
    const selects = (svc: K8sObject) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v)
      && sm.spec.selector.matchExpressions.every((e: { key: string; operator: string }) => e.operator !== 'DoesNotExist' || !(e.key in svc.metadata.labels))
    expect(selects(get(blueGreen, 'Service', 'owp-mcp-server'))).toBe(true)
    expect(selects(preview)).toBe(false)
  })
})

describe('canary (rollout.strategy: canary)', () => {
  it('moves the HTTPRoute weights of Open WebUI through the Gateway API plugin, starting at 100/0', () => {
    const c = get(canary, 'Rollout', 'owp-openwebui').spec.strategy.canary
    expect(c).toMatchObject({ stableService: 'owp-openwebui', canaryService: 'owp-openwebui-canary', maxUnavailable: 0 })
    expect(c.trafficRouting).toEqual({ plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'owp-openwebui', namespace: 'openwebui-prod' } } })
    expect(c.steps).toEqual([{ setWeight: 10 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }])
    expect(c.analysis).toEqual({ templates: [{ templateName: 'owp-slo' }], startingStep: 1, args: [{ name: 'job', value: 'openwebui' }] })
    expect(get(canary, 'HTTPRoute', 'owp-openwebui').spec.rules[0].backendRefs).toEqual([
      { name: 'owp-openwebui', port: 8080, weight: 100 }, { name: 'owp-openwebui-canary', port: 8080, weight: 0 },
    ])
  })

  it('internal APIs (no route) split by replicas, and their HPA scales the Rollout', () => {
    expect(get(canary, 'Rollout', 'owp-graphrag-processor').spec.strategy.canary.trafficRouting).toBeUndefined()
    expect(get(canary, 'Rollout', 'owp-graphrag-processor').spec.replicas).toBeUndefined()
    expect(get(canary, 'HorizontalPodAutoscaler', 'owp-graphrag-processor').spec.scaleTargetRef)
      .toEqual({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'owp-graphrag-processor' })
  })
})

describe('the SLO analysis', () => {
  it('reads the kit\'s own recording rules with the thresholds of its alerts', () => {
    const t = get(blueGreen, 'AnalysisTemplate', 'owp-slo')
    expect(t.spec.args).toEqual([{ name: 'job' }])
    expect(t.spec.metrics.map((m: any) => [m.name, m.successCondition])).toEqual([
      ['http-error-ratio', 'result[0] <= 0.05'],
      ['http-latency-p95', 'result[0] <= 3'],
      ['llm-time-to-first-token-p95', 'result[0] <= 5'],
    ])
    expect(t.spec.metrics.every((m: any) => m.provider.prometheus.address === 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090')).toBe(true)
  })

  it.each(['openwebui', 'graphrag-processor', 'mcp-server'])('every query parses with the PromQL grammar and reads only catalogued or recorded metrics (job %s)', (job) => {
    const queries = [...analysisQueries(blueGreen, { job }), ...analysisQueries(canary, { job })]
    expect(queries.length).toBe(6)
    expect(queries.filter((q) => promqlSyntaxErrors(q.promql).length)).toEqual([])
    const { unknown } = checkMetricNames(queries.map((q) => ({ ...q, source: q.promql })), loadCatalog(), recordedNames(loadRules()))
    expect(unknown).toEqual([])
  })

  it('rejects a query with a syntax error or a metric nobody records', () => {
    const broken = [
      { where: 'typo', source: '', promql: 'sum(job:http_requests_error:ratio_rate5m{job="openwebui"} >= 0) or vector(0)' },
      { where: 'syntax', source: '', promql: 'max(job:http_request_duration_seconds:p95_rate5m{job="openwebui"} >= ) or vector(0)' },
    ]
    expect(promqlSyntaxErrors(broken[1].promql).length).toBeGreaterThan(0)
    expect(checkMetricNames([broken[0]], loadCatalog(), recordedNames(loadRules())).unknown.join('\n'))
      .toMatch(/job:http_requests_error:ratio_rate5m is not in config\/prometheus\/metrics-catalog.yml nor a recording rule \(did you mean job:http_requests_errors:ratio_rate5m\?\)/)
  })
})

describe('offline validation of the Argo Rollouts kinds (@kubernetes-models/argo-rollouts)', () => {
  it('accepts the rendered Rollout and AnalysisTemplate', async () => {
    expect(await validateObject(get(canary, 'Rollout', 'owp-openwebui'))).toEqual([])
    expect(await validateObject(get(canary, 'AnalysisTemplate', 'owp-slo'))).toEqual([])
  })

  it('rejects a misspelled field and a wrong type', async () => {
    const r = get(blueGreen, 'Rollout', 'owp-openwebui')
    r.spec.strategy.blueGreen.activeServce = r.spec.strategy.blueGreen.activeService
    r.spec.workloadRef.scaledown = 'onsuccess'
    expect((await validateObject(r)).sort()).toEqual([
      'Rollout/owp-openwebui: unknown field spec.strategy.blueGreen.activeServce',
      'Rollout/owp-openwebui: unknown field spec.workloadRef.scaledown',
    ])
    const t = get(blueGreen, 'AnalysisTemplate', 'owp-slo')
    t.spec.metrics[0].provider.prometheus.query = 42
    expect((await validateObject(t)).join('\n')).toMatch(/AnalysisTemplate\/owp-slo: .*query must be string/)
  })
})
