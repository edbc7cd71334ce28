// The weekly restore drill on Kubernetes (drill.enabled): its CronJob, ServiceAccount and rights,
// rendered by the real helm (v4 and v3) and put through the same checkers as every scenario; and
// postgres.cnpg.bootstrapFrom, the scratch Cluster the drill recovers from production's backups.
import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { drillValues, DRILL_NO_LLM } from '../../scripts/lib/backup/drill-k8s.ts'
import type { PlatformRef } from '../../scripts/lib/backup/platform.ts'
import { findObject, renderChart, runHelm, templateArgs, HELM_VERSIONS, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'
import { checkAll } from '../helpers/k8s-policy.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

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
      const prod = parseYaml(readFileSync(full, 'utf8')) as Record<string, any>
      expect(prod.lightllm?.enabled ?? true).not.toBe(false) // production runs LightLLM, and has no external endpoint
      const values = drillValues(prod, { release: 'owp', set: { id: 's', time: new Date('2026-12-01T02:05:00Z') } as PlatformRef })
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
