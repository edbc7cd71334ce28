// The extension points a platform team expects (the extensions scenario): a mirror for every image,
// pull secrets, PriorityClass, pod labels and annotations, init containers held to PSS restricted,
// extra volumes, spread constraints, and VPAs in recommendation mode gated on their CRD.
import { beforeAll, describe, expect, it } from 'vitest'
import { API_VERSIONS, findObject, renderChart, runHelm, templateArgs, type K8sObject } from '../helpers/k8s-render.ts'
import { checkPodSecurity, podSources } from '../helpers/k8s-policy.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

const file = scenarioFile(SCENARIOS.find((s) => s.name === 'extensions')!)
let objs: K8sObject[]
let noVpaCrd: K8sObject[]
beforeAll(async () => {
  ;[objs, noVpaCrd] = await Promise.all([
    renderChart('v4', { valuesFiles: [file] }),
    renderChart('v4', { valuesFiles: [file], apiVersions: API_VERSIONS.filter((a) => a !== 'autoscaling.k8s.io/v1') }),
  ])
})
const pod = (kind: string, name: string): any => podSources([findObject(objs, kind, name)!])[0].pod

describe('extension points', () => {
  it('the exporters take the same scheduling and metadata keys as the applications', () => {
    expect(pod('Deployment', 'owp-celery-exporter').metadata.annotations['linkerd.io/inject']).toBe('enabled')
    expect(pod('Deployment', 'owp-celery-exporter').spec.nodeSelector).toEqual({ 'node-role.example.com/monitoring': 'true' })
    expect(pod('Deployment', 'owp-otel-collector').metadata.labels['cost-center']).toBe('observability')
    expect(pod('Deployment', 'owp-otel-collector').spec.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'monitoring', effect: 'NoSchedule' }])
    expect(pod('Deployment', 'owp-blackbox-exporter').spec.priorityClassName).toBe('platform-critical')
    expect(pod('Deployment', 'owp-pushgateway').metadata.annotations['linkerd.io/inject']).toBe('enabled')
    expect(pod('Deployment', 'owp-pushgateway').spec.imagePullSecrets).toEqual([{ name: 'corp-registry' }, { name: 'monitoring-pull' }])
    // the chart's own security context stays
    expect(pod('Deployment', 'owp-pushgateway').spec.securityContext).toMatchObject({ runAsUser: 65534, runAsNonRoot: true })
  })

  it('every image of every pod comes from the mirror, path kept and registry host replaced', () => {
    const images = podSources(objs).flatMap((p) => [...(p.pod.spec.initContainers ?? []), ...p.pod.spec.containers].map((c: { image: string }) => c.image))
    expect(images.length).toBeGreaterThan(15)
    expect(images.filter((i) => !i.startsWith('registry.corp.example.com/mirror/'))).toEqual([])
    expect(images).toEqual(expect.arrayContaining([
      'registry.corp.example.com/mirror/open-webui/open-webui:v0.8.11', 'registry.corp.example.com/mirror/openwebui-platform/postgres:0.1.0',
      'registry.corp.example.com/mirror/prometheuscommunity/postgres-exporter:v0.17.1', 'registry.corp.example.com/mirror/openwebui-platform/ops:0.1.0',
    ]))
  })

  it('pull secrets add up (global then the component\'s), PriorityClass falls back to the global one', () => {
    const ow = pod('Deployment', 'owp-openwebui')
    expect(ow.spec.imagePullSecrets).toEqual([{ name: 'corp-registry' }, { name: 'openwebui-extra-pull' }])
    expect(ow.spec.priorityClassName).toBe('platform-critical')
    const g = pod('Deployment', 'owp-graphrag-processor')
    expect(g.spec.imagePullSecrets).toEqual([{ name: 'corp-registry' }])
    expect(g.spec.priorityClassName).toBe('platform-standard')
  })

  it('pod labels and annotations pass through beside the chart\'s own; selectors are untouched', () => {
    const ow = pod('Deployment', 'owp-openwebui')
    expect(ow.metadata.labels).toMatchObject({ 'cost-center': 'ai-platform', 'app.kubernetes.io/component': 'openwebui' })
    expect(ow.metadata.annotations).toMatchObject({ 'linkerd.io/inject': 'enabled', 'config.linkerd.io/skip-outbound-ports': '5432,6379' })
    expect(Object.keys(ow.metadata.annotations)).toContain('checksum/secrets')
    expect(findObject(objs, 'Deployment', 'owp-openwebui')!.spec.selector.matchLabels['cost-center']).toBeUndefined()
    expect(pod('StatefulSet', 'owp-postgres').metadata.annotations['linkerd.io/inject']).toBe('enabled')
  })

  it('an extra init container gets the restricted security context; extra volumes and mounts land on the main container', () => {
    const ow = pod('Deployment', 'owp-openwebui')
    expect(ow.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['fetch-ca'])
    expect(ow.spec.initContainers[0].securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
    expect(checkPodSecurity([findObject(objs, 'Deployment', 'owp-openwebui')!])).toEqual([])
    expect(ow.spec.volumes.map((v: { name: string }) => v.name)).toEqual(expect.arrayContaining(['corp-ca', 'extra', 'data', 'tmp']))
    expect(ow.spec.containers[0].volumeMounts).toContainEqual({ name: 'extra', mountPath: '/extra', readOnly: true })
  })

  it('spread constraints reach the stores too, with the pod selector filled in', () => {
    expect(pod('StatefulSet', 'owp-postgres').spec.topologySpreadConstraints).toEqual([{
      maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'openwebui-platform', 'app.kubernetes.io/instance': 'owp', 'app.kubernetes.io/component': 'postgres' } },
    }])
  })

  it('one VPA per workload, recommendation only, and none where the VPA CRD is missing', () => {
    const vpas = objs.filter((o) => o.kind === 'VerticalPodAutoscaler')
    const workloads = objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    expect(vpas.map((v) => `${v.spec.targetRef.kind}/${v.spec.targetRef.name}`).sort()).toEqual(workloads.map((w) => `${w.kind}/${w.metadata.name}`).sort())
    for (const v of vpas) expect(v.spec.updatePolicy).toEqual({ updateMode: 'Off' })
    expect(noVpaCrd.filter((o) => o.kind === 'VerticalPodAutoscaler')).toEqual([])
  })

  it('refuses a hostPath extra volume and a selector label, naming the field', async () => {
    const hostPath = await runHelm('v4', templateArgs({ set: ['openwebui.extraVolumes[0].name=h', 'openwebui.extraVolumes[0].hostPath.path=/'] }))
    expect(hostPath.code).not.toBe(0)
    expect(hostPath.stderr).toMatch(/openwebui[./]extraVolumes[./]0/)
    const label = await runHelm('v4', templateArgs({ set: ['openwebui.podLabels.app\\.kubernetes\\.io/component=x'] }))
    expect(label.code).not.toBe(0)
    expect(label.stderr).toMatch(/openwebui[./]podLabels/)
  })
})
