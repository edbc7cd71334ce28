// Secrets: generated once, kept across upgrades (lookup), replaced by existingSecret, never in plain
// config; pods roll when a Secret or ConfigMap they use changes (checksum annotations).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HELM_VERSIONS, NAMESPACE, RELEASE, findObject, renderChart, type HelmVersion, type K8sObject } from '../helpers/k8s-render.ts'
import { startFakeApi, type FakeApi } from '../helpers/k8s-fake-api.ts'
import { tmpDir } from '../helpers/tmp.ts'

const GENERATED = {
  'owp-openwebui': ['webui-secret-key'], 'owp-postgres': ['password'], 'owp-redis': ['password'],
  'owp-qdrant': ['api-key'], 'owp-neo4j': ['password'], 'owp-graphrag-processor': ['api-key'],
}
const secretsOf = (objs: K8sObject[]) => Object.fromEntries(objs.filter((o) => o.kind === 'Secret').map((s) => [s.metadata.name, s]))
const decoded = (s: K8sObject, key: string) => Buffer.from(s.data[key], 'base64').toString()
const checksum = (objs: K8sObject[], deployment: string) => findObject(objs, 'Deployment', deployment)!.spec.template.metadata.annotations

describe('without a cluster (helm template)', () => {
  it.each(HELM_VERSIONS)('generates every credential, random and strong (helm %s)', async (v) => {
    const [a, b] = await Promise.all([renderChart(v), renderChart(v)])
    const sa = secretsOf(a)
    const sb = secretsOf(b)
    for (const [name, keys] of Object.entries(GENERATED)) {
      for (const key of keys) {
        expect(decoded(sa[name], key)).toMatch(/^[A-Za-z0-9]{32,}$/)
        expect(decoded(sa[name], key)).not.toBe(decoded(sb[name], key))
      }
    }
    expect(decoded(sa['owp-llm'], 'api-key')).toBe('none')
  })

  it('marks generated Secrets keep, so a reinstall finds the password the data volume was initialised with', async () => {
    const s = secretsOf(await renderChart('v4'))
    for (const name of Object.keys(GENERATED)) expect(s[name].metadata.annotations['helm.sh/resource-policy'], name).toBe('keep')
  })

  it('uses an explicit value instead of generating one', async () => {
    const s = secretsOf(await renderChart('v4', { set: ['postgres.password=from-values-0123456789'] }))
    expect(decoded(s['owp-postgres'], 'password')).toBe('from-values-0123456789')
  })

  it('renders no Secret for a component with existingSecret, and points the pods at it', async () => {
    const objs = await renderChart('v4', { set: ['redis.existingSecret=my-redis', 'openwebui.existingSecret=my-webui'] })
    expect(secretsOf(objs)['owp-redis']).toBeUndefined()
    expect(secretsOf(objs)['owp-openwebui']).toBeUndefined()
    const env = findObject(objs, 'Deployment', 'owp-openwebui')!.spec.template.spec.containers[0].env
    expect(env.find((e: { name: string }) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef).toEqual({ name: 'my-redis', key: 'password' })
    expect(env.find((e: { name: string }) => e.name === 'WEBUI_SECRET_KEY').valueFrom.secretKeyRef).toEqual({ name: 'my-webui', key: 'webui-secret-key' })
    const sts = findObject(objs, 'StatefulSet', 'owp-redis')!.spec.template.spec.containers[0].env
    expect(sts.find((e: { name: string }) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef.name).toBe('my-redis')
  })

  it('rolls pods when a ConfigMap they read changes (checksum/config)', async () => {
    const [a, b] = await Promise.all([renderChart('v4'), renderChart('v4', { set: ['lightllm.model.name=other-model'] })])
    expect(checksum(a, 'owp-graphrag-processor')['checksum/config']).not.toBe(checksum(b, 'owp-graphrag-processor')['checksum/config'])
  })
})

// A second render against a cluster that holds the first install's Secrets, as `helm upgrade` sees it.
describe.each(HELM_VERSIONS)('upgrade against a cluster (helm %s, --dry-run=server, lookup)', (v: HelmVersion) => {
  const tmp = tmpDir('owp-chart-lookup-')
  let api: FakeApi
  let first: K8sObject[]
  const againstCluster = (set: string[] = []) => renderChart(v, {
    set, env: { KUBECONFIG: api.kubeconfig },
    // helm 4 validates against the server's OpenAPI, which this API does not serve
    extraArgs: ['--dry-run=server', ...(v === 'v4' ? ['--disable-openapi-validation'] : [])],
  })

  beforeAll(async () => {
    api = await startFakeApi(tmp.path, NAMESPACE)
    first = await renderChart(v)
    for (const s of first.filter((o) => o.kind === 'Secret')) api.putSecret(s, RELEASE)
  })
  afterAll(async () => { await api.close(); tmp.remove() })

  it('keeps every generated credential and the pods do not roll', async () => {
    const [a, b] = await Promise.all([againstCluster(), againstCluster()])
    expect(api.requests).toContain(`GET /api/v1/namespaces/${NAMESPACE}/secrets/owp-postgres`)
    const before = secretsOf(first)
    for (const [name, keys] of Object.entries(GENERATED)) {
      for (const key of keys) expect(secretsOf(a)[name].data[key], `${name}.${key}`).toBe(before[name].data[key])
    }
    expect(checksum(a, 'owp-openwebui')['checksum/secrets']).toBe(checksum(b, 'owp-openwebui')['checksum/secrets'])
  })

  it('rotates a credential when a new value is set explicitly, and the pods roll', async () => {
    const [kept, rotated] = await Promise.all([againstCluster(), againstCluster(['openwebui.secretKey=rotated-key-0123456789abcdef0123456789'])])
    expect(decoded(secretsOf(rotated)['owp-openwebui'], 'webui-secret-key')).toBe('rotated-key-0123456789abcdef0123456789')
    expect(checksum(rotated, 'owp-openwebui')['checksum/secrets']).not.toBe(checksum(kept, 'owp-openwebui')['checksum/secrets'])
  })
})
