// Credentials and configuration from outside the chart (the cloud-identity scenario and variants):
// existing Secrets per credential, cloud identity instead of static keys, extraEnvFrom, and
// ExternalSecret objects for whichever External Secrets API the cluster serves.
import { beforeAll, describe, expect, it } from 'vitest'
import { API_VERSIONS, findObject, renderChart, runHelm, templateArgs, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObject } from '../helpers/k8s-validate.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

const file = scenarioFile(SCENARIOS.find((s) => s.name === 'cloud-identity')!)
type Env = { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }
const containers = (objs: K8sObject[]) => objs.flatMap((o) => {
  const spec = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec?.template?.spec
  return (spec?.containers ?? []).map((c: { name: string; env?: Env[]; envFrom?: unknown[] }) => ({ owner: `${o.kind}/${o.metadata.name}`, ...c }))
})

let objs: K8sObject[]
let v1beta1: K8sObject[]
beforeAll(async () => {
  ;[objs, v1beta1] = await Promise.all([
    renderChart('v4', { valuesFiles: [file] }),
    renderChart('v4', { valuesFiles: [file], apiVersions: [...API_VERSIONS.filter((a) => !a.startsWith('external-secrets.io')), 'external-secrets.io/v1beta1'] }),
  ])
})

describe('credentials from outside', () => {
  it('every LLM key reference points at the existing Secret and key; the chart makes no owp-llm Secret', () => {
    const refs = containers(objs).flatMap((c) => (c.env ?? []).filter((e: Env) => e.name === 'OPENAI_API_KEY').map((e: Env) => [c.owner, e.valueFrom?.secretKeyRef]))
    expect(refs.map(([owner]) => owner).sort()).toEqual(['Deployment/owp-celery-beat', 'Deployment/owp-celery-worker', 'Deployment/owp-graphrag-processor', 'Deployment/owp-openwebui'])
    for (const [, ref] of refs) expect(ref).toEqual({ name: 'llm-credentials', key: 'openai-api-key' })
    expect(findObject(objs, 'Secret', 'owp-llm')).toBeUndefined()
  })

  it('S3 uploads and S3 backups carry no static keys: the ServiceAccounts carry the cloud role', () => {
    const keys = containers(objs).flatMap((c) => (c.env ?? []).filter((e: Env) => /ACCESS_KEY/.test(e.name)).map((e: Env) => `${c.owner} ${e.name}`))
    expect(keys).toEqual([])
    expect(findObject(objs, 'ServiceAccount', 'owp-openwebui')!.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/owp-openwebui' })
    for (const store of ['postgres', 'redis', 'qdrant', 'neo4j']) {
      expect(findObject(objs, 'ServiceAccount', `owp-backup-${store}`)!.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/owp-backup' })
    }
    // components without annotations get none (no empty map)
    expect(findObject(objs, 'ServiceAccount', 'owp-lightllm')!.metadata.annotations).toBeUndefined()
  })

  it('extraEnvFrom follows the chart\'s own envFrom sources', () => {
    const g = containers(objs).find((c) => c.owner === 'Deployment/owp-graphrag-processor')!
    expect(g.envFrom).toEqual([{ configMapRef: { name: 'owp-graphrag-processor' } }, { secretRef: { name: 'graphrag-extra' } }])
    expect(containers(objs).find((c) => c.owner === 'Deployment/owp-openwebui')!.envFrom).toBeUndefined()
  })

  it('ExternalSecrets write the named Secrets from the store, in the API version the cluster serves', async () => {
    const es = objs.filter((o) => o.kind === 'ExternalSecret')
    expect(es.map((o) => [o.apiVersion, o.metadata.name, o.spec.target.name, o.spec.refreshInterval])).toEqual([
      ['external-secrets.io/v1', 'llm-credentials', 'llm-credentials', '1h'],
      ['external-secrets.io/v1', 'graphrag-extra', 'graphrag-extra', '15m'],
    ])
    expect(es[0].spec.secretStoreRef).toEqual({ name: 'aws-secrets-manager', kind: 'ClusterSecretStore' })
    expect(es[0].spec.data).toEqual([{ secretKey: 'openai-api-key', remoteRef: { key: 'prod/owp/llm', property: 'api-key' } }])
    expect(v1beta1.filter((o) => o.kind === 'ExternalSecret').map((o) => o.apiVersion)).toEqual(['external-secrets.io/v1beta1', 'external-secrets.io/v1beta1'])
    for (const o of [...es, ...v1beta1.filter((x) => x.kind === 'ExternalSecret')]) expect(await validateObject(o)).toEqual([])
  })

  it('the ExternalSecret model rejects a misspelled field (the check can fail)', async () => {
    const es = structuredClone(objs.find((o) => o.kind === 'ExternalSecret')!)
    es.spec.secretStoreRefs = es.spec.secretStoreRef
    es.spec.data[0].remoteRef.propery = 'x'
    expect((await validateObject(es)).sort()).toEqual([
      'ExternalSecret/llm-credentials: unknown field spec.data[0].remoteRef.propery',
      'ExternalSecret/llm-credentials: unknown field spec.secretStoreRefs',
    ])
  })

  it('refuses ExternalSecrets on a cluster without the operator, and an entry without a store, saying what to set', async () => {
    const noCrd = await runHelm('v4', templateArgs({ valuesFiles: [file], apiVersions: API_VERSIONS.filter((a) => !a.startsWith('external-secrets.io')) }))
    expect(noCrd.code).not.toBe(0)
    expect(noCrd.stderr).toContain('externalSecrets.enabled needs the External Secrets Operator')
    const noStore = await runHelm('v4', templateArgs({ valuesFiles: [file], set: ['externalSecrets.secretStoreRef.name='] }))
    expect(noStore.stderr).toContain('externalSecrets.secrets[llm-credentials] needs a store: set externalSecrets.secretStoreRef.name')
  })
})
