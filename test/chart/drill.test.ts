// The weekly restore drill on Kubernetes (drill.enabled): its CronJob, ServiceAccount and rights,
// rendered by the real helm (v4 and v3) and put through the same checkers as every scenario; the
// NetworkPolicies between production's drill pod and the release it installs in <namespace>-drill;
// and postgres.cnpg.bootstrapFrom, the scratch Cluster the drill recovers from production's backups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify as stringifyYaml } from 'yaml'
import { findObject, renderChart, runHelm, templateArgs, HELM_VERSIONS, NAMESPACE, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'
import { checkAll } from '../helpers/k8s-policy.ts'
import { allowed, foreignPod, reachability, releaseEndpoints, type Endpoint } from '../helpers/k8s-netpol.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { drillValues, scratchNamespace, DRILL_NO_LLM } from '../../scripts/lib/backup/drill-k8s.ts'
import type { PlatformRef } from '../../scripts/lib/backup/platform.ts'
import { SCENARIOS, scenarioFile, surroundings } from './scenarios.ts'

const full = scenarioFile(SCENARIOS.find((s) => s.name === 'full')!)
const ha = scenarioFile(SCENARIOS.find((s) => s.name === 'ha')!)
const cronOf = (objects: K8sObject[]) => findObject(objects, 'CronJob', 'owp-backup-drill') as any

describe('the restore drill CronJob (drill.enabled)', () => {
  it('is off by default', async () => {
    expect(cronOf(await renderChart('v4', { valuesFiles: [full] }))).toBeUndefined()
  })

  for (const v of HELM_VERSIONS) {
    it(`helm ${v}: runs dr-drill --target k8s weekly against the backup destination, and passes the scenario checkers`, async () => {
      // the full scenario encrypts its sets: the drill opens them with the identity from a Secret
      const objects = await renderChart(v, { valuesFiles: [full], set: ['drill.enabled=true', 'drill.ageIdentitySecret=owp-age'] })
      const cron = cronOf(objects)
      expect(cron.spec).toMatchObject({ schedule: '30 4 * * 0', concurrencyPolicy: 'Forbid', jobTemplate: { spec: { backoffLimit: 0, activeDeadlineSeconds: 7200 } } })
      const pod = cron.spec.jobTemplate.spec.template.spec
      expect(pod.containers[0].command).toEqual(['tsx', 'scripts/dr-drill.ts', '--target', 'k8s', '--dest', '/backups', '--wait', '1800', '--json', '--yes'])
      const env = Object.fromEntries(pod.containers[0].env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]))
      expect(env).toMatchObject({ K8S_NAMESPACE: 'openwebui-prod', HELM_RELEASE: 'owp' })
      expect(pod.volumes.find((x: any) => x.name === 'backups').persistentVolumeClaim.claimName).toBe('owp-backup')
      expect(pod.serviceAccountName).toBe('owp-backup-drill')
      const role = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'openwebui-prod-owp-backup-drill') as any
      expect(role.rules[0]).toEqual({ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'create', 'delete'] })
      expect(findObject(objects, 'ClusterRoleBinding', 'openwebui-prod-owp-backup-drill')).toBeDefined()
      expect(await validateObjects(objects)).toEqual([])
      expect(checkAll(objects, { writableRoot: ['neo4j'], tokenAllowed: ['backup'] })).toEqual([])
    })
  }

  it('with an S3 destination and encrypted sets: the S3 settings and the age identity from its Secret', async () => {
    const objects = await renderChart('v4', { valuesFiles: [ha], set: ['drill.enabled=true', 'backup.ageRecipient=age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq', 'drill.ageIdentitySecret=owp-age'] })
    const c = cronOf(objects).spec.jobTemplate.spec.template.spec.containers[0]
    expect(c.command.slice(4, 6)).toEqual(['--dest', 's3://owp-backups/prod'])
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'BACKUP_AGE_IDENTITY', value: '/run/age/identity' }, expect.objectContaining({ name: 'AWS_SECRET_ACCESS_KEY' })]))
    expect(await validateObjects(objects)).toEqual([])
  })

  it('refuses encrypted sets without the identity that opens them, and a bad schedule', async () => {
    const enc = await runHelm('v4', templateArgs({ valuesFiles: [full], set: ['drill.enabled=true'] }))
    expect(enc.code).not.toBe(0)
    expect(enc.stderr).toContain('drill.ageIdentitySecret')
    const cron = await runHelm('v4', templateArgs({ valuesFiles: [full], set: ['drill.enabled=true', 'drill.ageIdentitySecret=owp-age', 'drill.schedule=weekly'] }))
    expect(cron.code).not.toBe(0)
    expect(cron.stderr).toMatch(/drill\.schedule|schedule/)
  })
})

describe('NetworkPolicies of the drill: production\'s drill pod reaches the Qdrant of its scratch release, and nothing else crosses', () => {
  const SCRATCH = scratchNamespace(NAMESPACE)
  const tmp = tmpDir('owp-drill-netpol-')
  const set = { id: '2026-12-01T02-05-00Z', time: new Date('2026-12-01T02:05:00Z') } as PlatformRef
  const drillLabels = { 'app.kubernetes.io/name': 'openwebui-platform', 'app.kubernetes.io/instance': 'owp', 'app.kubernetes.io/component': 'backup', 'app.kubernetes.io/store': 'drill' }
  let prod: { on: K8sObject[]; off: K8sObject[] }
  let scratch: { on: K8sObject[]; off: K8sObject[] }
  afterAll(() => tmp.remove())
  beforeAll(async () => {
    // the scratch release gets what dr-drill installs: production's values through drillValues
    const values = drillValues(parse(readFileSync(full, 'utf8')), { release: 'owp', namespace: NAMESPACE, set })
    const file = (name: string, v: unknown) => { const f = join(tmp.path, name); writeFileSync(f, JSON.stringify(v)); return f }
    const { scratchOf: _, ...noScratchOf } = values.drill
    const [on, off, sOn, sOff] = await Promise.all([
      renderChart('v4', { valuesFiles: [full], set: ['drill.enabled=true', 'drill.ageIdentitySecret=owp-age'] }),
      renderChart('v4', { valuesFiles: [full] }),
      renderChart('v4', { valuesFiles: [file('drill.json', values)], namespace: SCRATCH }),
      renderChart('v4', { valuesFiles: [file('drill-before.json', { ...values, drill: noScratchOf })], namespace: SCRATCH }),
    ])
    prod = { on, off }
    scratch = { on: sOn, off: sOff }
  })

  const policies = (...renders: K8sObject[][]) => renders.flat().filter((o) => o.kind === 'NetworkPolicy')
  /** Both releases' pods (the drill pod from the render that has it), named prod/... and scratch/..., plus the surroundings and two impostors. */
  const endpoints = (): Endpoint[] => [
    ...releaseEndpoints(prod.on, NAMESPACE).map((e) => ({ ...e, name: `prod/${e.name}` })),
    ...releaseEndpoints(scratch.on, SCRATCH).map((e) => ({ ...e, name: `scratch/${e.name}` })),
    ...surroundings(),
    foreignPod('lookalike-elsewhere', 'default', drillLabels),
    foreignPod('lookalike-in-scratch', SCRATCH, drillLabels),
  ]
  const find = (name: string) => endpoints().find((e) => e.name === name)!
  const can = (pols: K8sObject[], src: string, dst: string, port: number) => allowed(pols, find(src), find(dst), { port, protocol: 'TCP' })

  it('opens exactly one edge: prod/drill -> scratch/qdrant:6333 (production\'s egress policy and the scratch release\'s ingress rule together)', () => {
    const before = reachability(policies(prod.off, scratch.off), endpoints())
    const after = reachability(policies(prod.on, scratch.on), endpoints())
    expect({ added: after.filter((e) => !before.includes(e)), removed: before.filter((e) => !after.includes(e)) })
      .toEqual({ added: ['prod/drill -> scratch/qdrant:6333/TCP'], removed: [] })
    // every edge between the two namespaces
    const crossing = after.filter((e) => { const [src, dst] = e.split(/ -> /); return src!.split('/')[0] !== dst!.split('/')[0] && /^(prod|scratch)\//.test(src!) && /^(prod|scratch)\//.test(dst!) })
    expect(crossing).toEqual(['prod/drill -> scratch/qdrant:6333/TCP'])
  })

  it('still denies: the drill pod to the other stores and to gRPC, the backup jobs, look-alike pods, anything from the scratch namespace into production', () => {
    const pols = policies(prod.on, scratch.on)
    expect(can(pols, 'prod/drill', 'scratch/qdrant', 6333)).toBe(true)
    for (const [src, dst, port] of [
      ['prod/drill', 'scratch/qdrant', 6334], ['prod/drill', 'scratch/postgres', 5432], ['prod/drill', 'scratch/redis', 6379], ['prod/drill', 'scratch/neo4j', 7687],
      ['prod/drill', 'scratch/openwebui', 8080], ['prod/backup', 'scratch/qdrant', 6333], ['prod/openwebui', 'scratch/qdrant', 6333], ['intruder', 'scratch/qdrant', 6333],
      ['lookalike-elsewhere', 'scratch/qdrant', 6333], ['lookalike-in-scratch', 'scratch/qdrant', 6333], ['scratch/openwebui', 'prod/qdrant', 6333],
      ['scratch/qdrant', 'prod/postgres', 5432], ['scratch/celery-worker', 'prod/redis', 6379],
    ] as const) expect(can(pols, src, dst, port), `${src} -> ${dst}:${port}`).toBe(false)
  })

  it('needs both halves: without production\'s drill egress policy, or without the scratch release\'s ingress rule, the drill pod cannot reach Qdrant', () => {
    const noEgress = policies(prod.on, scratch.on).filter((p) => p.metadata.name !== 'owp-backup-drill')
    expect(can(noEgress, 'prod/drill', 'scratch/qdrant', 6333)).toBe(false)
    const noIngress = structuredClone(policies(prod.on, scratch.on))
    const q = noIngress.find((p) => p.metadata.namespace === SCRATCH && p.metadata.name === 'owp-qdrant')!
    q.spec.ingress = q.spec.ingress.filter((r: any) => !r.from.some((f: any) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === NAMESPACE))
    expect(can(noIngress, 'prod/drill', 'scratch/qdrant', 6333)).toBe(false)
  })
})

describe('postgres.cnpg.bootstrapFrom: the scratch Cluster of the drill', () => {
  it('bootstraps the chart\'s Cluster by recovery from the named Cluster\'s backups, to the set\'s time, without backups of its own', async () => {
    const objects = await renderChart('v4', { valuesFiles: [ha], set: ['postgres.cnpg.bootstrapFrom.source=owp-postgres', 'postgres.cnpg.backup.enabled=false', 'postgres.cnpg.bootstrapFrom.targetTime=2026-12-01T02:05:00Z'] })
    const cluster = findObject(objects, 'Cluster', 'owp-postgres') as any
    expect(cluster.spec.bootstrap).toEqual({ recovery: { source: 'owp-postgres', database: 'openwebui', owner: 'openwebui', recoveryTarget: { targetTime: '2026-12-01T02:05:00Z' } } })
    expect(cluster.spec.externalClusters[0].barmanObjectStore).toMatchObject({ serverName: 'owp-postgres' })
    expect(cluster.spec.backup).toBeUndefined()
    expect(objects.filter((o) => o.kind === 'ScheduledBackup')).toEqual([])
  })

  it('refuses to recover from its own backup folder while backing up into it', async () => {
    const r = await runHelm('v4', templateArgs({ valuesFiles: [ha], set: ['postgres.cnpg.bootstrapFrom.source=owp-postgres'] }))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('postgres.cnpg.bootstrapFrom.source names this Cluster\'s own backup folder')
  })
})

describe('the scratch release the drill installs', () => {
  for (const v of HELM_VERSIONS) {
    it(`helm ${v}: production's values with LightLLM, cut down without --with-llm, pass the schema (an endpoint that never resolves, no LightLLM)`, async () => {
      const prod = parse(readFileSync(full, 'utf8')) as Record<string, any>
      expect(prod.lightllm?.enabled ?? true).not.toBe(false) // production runs LightLLM, and has no external endpoint
      const values = drillValues(prod, { release: 'owp', namespace: NAMESPACE, set: { id: 's', time: new Date('2026-12-01T02:05:00Z') } as PlatformRef })
      expect(values.openwebui.llm.baseUrl).toBe(DRILL_NO_LLM)
      const dir = mkdtempSync(join(tmpdir(), 'owp-drill-values-'))
      try {
        writeFileSync(join(dir, 'values.yaml'), stringifyYaml(values))
        const objects = await renderChart(v, { valuesFiles: [join(dir, 'values.yaml')], namespace: 'openwebui-prod-drill' })
        expect(objects.some((o) => o.kind === 'Deployment' && /lightllm/.test(o.metadata.name))).toBe(false)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
})
