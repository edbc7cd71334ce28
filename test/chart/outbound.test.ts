// Corporate networks and air-gapped sites (the airgap scenario): the CA bundle and the proxy reach
// every component that calls out, NO_PROXY keeps in-cluster traffic direct, nothing downloads.
import { beforeAll, describe, expect, it } from 'vitest'
import { findObject, renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { podSources } from '../helpers/k8s-policy.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

const OUTBOUND = ['Deployment/owp-openwebui', 'Deployment/owp-lightllm', 'Deployment/owp-graphrag-processor', 'Deployment/owp-celery-worker',
  'Deployment/owp-celery-beat', 'Deployment/owp-mcp-server', 'CronJob/owp-backup-postgres', 'CronJob/owp-backup-redis', 'CronJob/owp-backup-qdrant', 'CronJob/owp-backup-neo4j']
let objs: K8sObject[]
let plain: K8sObject[]
beforeAll(async () => {
  ;[objs, plain] = await Promise.all([
    renderChart('v4', { valuesFiles: [scenarioFile(SCENARIOS.find((s) => s.name === 'airgap')!)] }),
    renderChart('v4', { valuesFiles: [scenarioFile(SCENARIOS.find((s) => s.name === 'full')!)] }),
  ])
})
const main = (objs: K8sObject[], id: string) => {
  const [kind, name] = id.split('/')
  const pod = podSources([findObject(objs, kind!, name!)!])[0]!.pod as any
  return { pod, c: pod.spec.containers[0], env: new Map<string, string>(pod.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value])) }
}

describe('corporate network and air gap', () => {
  it.each(OUTBOUND)('%s trusts the corporate bundle, goes through the proxy and downloads nothing', (id) => {
    const { pod, c, env } = main(objs, id)
    for (const n of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS']) expect(env.get(n), n).toBe('/etc/owp/ca/ca-bundle.crt')
    expect(c.volumeMounts).toContainEqual({ name: 'ca-bundle', mountPath: '/etc/owp/ca', readOnly: true })
    expect(pod.spec.volumes).toContainEqual({ name: 'ca-bundle', configMap: { name: 'corp-ca-bundle', items: [{ key: 'ca-bundle.crt', path: 'ca-bundle.crt' }] } })
    for (const n of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']) expect(env.get(n), n).toBe('http://10.20.0.5:3128')
    const noProxy = env.get('NO_PROXY')!.split(',')
    expect(env.get('no_proxy')).toBe(env.get('NO_PROXY'))
    expect(noProxy).toEqual(expect.arrayContaining(['localhost', '127.0.0.1', '.svc', '.cluster.local', 'owp-postgres', 'owp-redis', 'owp-qdrant', 'owp-lightllm', 'owp-graphrag-processor', '.corp.example.com']))
    expect([env.get('HF_HUB_OFFLINE'), env.get('TRANSFORMERS_OFFLINE')]).toEqual(['1', '1'])
  })

  it('without those values nothing of it is rendered', () => {
    const { pod, env } = main(plain, 'Deployment/owp-openwebui')
    expect([...env.keys()].filter((n) => /PROXY|CA_BUNDLE|CERT_FILE|CA_CERTS|OFFLINE/i.test(n))).toEqual([])
    expect(pod.spec.volumes.map((v: { name: string }) => v.name)).not.toContain('ca-bundle')
  })
})
