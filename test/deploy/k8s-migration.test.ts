// The way back across Open WebUI's migration on Kubernetes, through the fake kubectl and helm: the
// schema revision read before and after the upgrade, the pre-upgrade set named from its Job's log,
// and a validation failure after the schema moved: consent, a pre-rollback set, the writers scaled to
// 0, a restore Job made from the chart's backup CronJob, then helm rollback and the replicas back.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import { restoreCommand, setFromJobLog } from '../../scripts/lib/deploy/k8s-migration.ts'
import type { FakeBins } from '../helpers/fake-bins.ts'
import { k8sFakes, kubectlAnswers, k8sOptions, sandbox, HISTORY_3, PRE_UPGRADE_SET, PRE_ROLLBACK_SET, backupJobLog, type Sandbox, type K8sScenario } from './helpers.ts'

const HEALTHY = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'k8s', 'rollouts', 'healthy-bluegreen.json'), 'utf8')
let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

const scenario = (s: K8sScenario): K8sScenario => ({
    rendered: 'rollout', history: HISTORY_3, ingressClasses: ['traefik'], runningOpenwebui: 'ghcr.io/open-webui/open-webui:v0.8.11',
    crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com', 'rollouts.argoproj.io'],
    rollouts: { 'owp-openwebui': [{ exitCode: 0, stdout: HEALTHY }], 'owp-graphrag-processor': [{ exitCode: 0, stdout: HEALTHY.replaceAll('"owp-openwebui"', '"owp-graphrag-processor"') }] },
    ...s,
  })
function setup(s: K8sScenario) {
  bins = k8sFakes(scenario(s))
  box = sandbox(bins)
  return { bins, box }
}
const opts = { infra: false, rolloutPollMs: 20, timeout: '2s', validate: true }
const line = (c: string[]) => c.join(' ')

describe('the way back across a migration on Kubernetes', () => {
  it('the plan reads the schema, names the pre-upgrade set from its Job, and says the rollback restores it when the schema moved (asks, or --yes)', async () => {
    const { bins, box } = setup({})
    const ctx = box.ctx({ dryRun: true })
    const out = await deployK8s(ctx, k8sOptions(opts))
    expect(out.ok).toBe(true)
    const lines = ctx.stdout().split('\n')
    const at = (text: string) => { const i = lines.findIndex((l) => l.includes(text)); expect(i, `${text}\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0); return i }
    const schema = at('kubectl exec --namespace openwebui-prod statefulset/owp-postgres -c postgres -- sh -c')
    const job = at('kubectl create job owp-pre-upgrade-')
    const set = at('kubectl logs job/owp-pre-upgrade-')
    const chart = at('helm upgrade --install owp')
    expect(lines[chart + 1]).toBe('[dry-run]   on failure: helm rollback owp 3 --namespace openwebui-prod --wait=watcher --cleanup-on-fail --timeout 2s')
    const after = lines.findIndex((l, i) => i > chart && l.includes('statefulset/owp-postgres'))
    expect([schema < job, job < set, set < chart, chart < after]).toEqual([true, true, true, true])
    expect(lines[chart + 2]).toMatch(/^\[dry-run\] {5}if Open WebUI's schema moved: ask \(a terminal\) or need --yes, keep what was written since the upgrade in a set, scale the writers to 0, restore the pre-upgrade PostgreSQL set <set of job owp-pre-upgrade-[0-9a-z]+> with a Job from CronJob owp-backup-postgres, then roll back owp to revision 3 and scale the writers back$/)
    expect(bins.allCalls().filter((c) => ['create', 'scale', 'exec', 'logs'].includes(c[1]!) || ['upgrade', 'rollback'].includes(c[1]!))).toEqual([])
  })

  it('without a terminal and without --yes: refused before anything changes', async () => {
    const { bins, box } = setup({})
    const err = await deployK8s(box.ctx(), k8sOptions(opts)).catch((e: Error) => e) as Error & { exitCode: number; hint: string }
    expect(err.exitCode).toBe(2)
    expect(err.message).toMatch(/^this upgrade changes the Open WebUI image: rolling it back after its migration restores the pre-upgrade database/)
    expect(err.hint).toMatch(/--yes/)
    expect(bins.allCalls().filter((c) => ['create', 'upgrade'].includes(c[1]!))).toEqual([])
  })

  it('validation fails after the schema moved: keeps what was written, stops the writers, restores the pre-upgrade set with a Job from the backup CronJob, then helm rollback and the replicas back', async () => {
    const { bins, box } = setup({ podsReady: false, schema: ['0002_base', '0003_new'] })
    const out = await deployK8s(box.ctx({ yes: true }), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(out.rolledBack).toBe(true)
    const all = bins.allCalls().map(line)
    const i = (re: RegExp) => { const k = all.findIndex((c) => re.test(c)); expect(k, `${re}\n${all.join('\n')}`).toBeGreaterThanOrEqual(0); return k }
    const upgrade = i(/^helm upgrade --install owp /)
    const keep = i(/^kubectl create --namespace openwebui-prod -f -$/)
    const scale = i(/^kubectl scale deployment\/owp-openwebui --namespace openwebui-prod --replicas=0$/)
    const gone = i(/^kubectl wait --for=delete pod --namespace openwebui-prod --selector app.kubernetes.io\/instance=owp,app.kubernetes.io\/component in \(openwebui,/)
    const restore = all.findIndex((c, k) => k > gone && /^kubectl create --namespace openwebui-prod -f -$/.test(c))
    const restored = i(/^kubectl wait job\/owp-pre-upgrade-restore-[0-9a-z]+ --for=condition=complete/)
    const rollback = i(/^helm rollback owp 3 /)
    const back = i(/^kubectl scale deployment\/owp-openwebui --namespace openwebui-prod --replicas=2$/)
    expect([upgrade < keep, keep < scale, scale < gone, gone < restore, restore < restored, restored < rollback, rollback < back]).toEqual([true, true, true, true, true, true, true])
    // a writer already at 0 is left alone
    expect(all.filter((c) => c.includes('owp-celery-beat'))).toEqual([])
    expect(out.upgrade).toMatchObject({
      schema: { before: '0002_base', after: '0003_new' }, preUpgradeSet: PRE_UPGRADE_SET,
      rollback: { schema: { from: '0003_new', to: '0002_base' }, restoredSet: PRE_UPGRADE_SET, writtenSinceUpgrade: { keptIn: PRE_ROLLBACK_SET } },
    })
    expect(out.summary).toBe('validation failed; roll back owp to revision 3')
  })

  it('validation fails and the schema did not move: the plain helm rollback, no restore', async () => {
    const { bins, box } = setup({ podsReady: false, schema: ['0002_base'] })
    const out = await deployK8s(box.ctx({ yes: true }), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(bins.calls('helm').filter((c) => c[1] === 'rollback')).toHaveLength(1)
    expect(bins.allCalls().filter((c) => c[0] === 'kubectl' && ['scale', 'create'].includes(c[1]!) && !c.includes('job'))).toEqual([])
    expect(out.upgrade).toMatchObject({ schema: { before: '0002_base', after: '0002_base' } })
    expect((out.upgrade as { rollback?: unknown }).rollback).toBeUndefined()
  })

  it('a backup Job whose log names no verified set stops the deploy before helm: no way back, no upgrade', async () => {
    const { bins, box } = setup({})
    bins.script('kubectl', [{ match: '^logs job/owp-pre-upgrade-', exitCode: 0, stdout: 'something else\n' }, ...kubectlAnswers(scenario({}))])
    const out = await deployK8s(box.ctx({ yes: true }), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^the verified set of backup job owp-pre-upgrade-[0-9a-z]+ \(its log\) failed; the chart was not touched$/)
    expect(bins.calls('helm').filter((c) => ['upgrade', 'rollback'].includes(c[1]!))).toEqual([])
  })

  it('the restore command is the backup command turned around; the set comes from the last JSON document of the log', () => {
    expect(restoreCommand(['tsx', 'scripts/backup.ts', '--store', 'postgres', '--target', 'k8s', '--dest', 's3://b/p', '--encrypt', 'age1x', '--json', '--yes'], 'S1'))
      .toEqual(['tsx', 'scripts/restore.ts', '--store', 'postgres', '--target', 'k8s', '--dest', 's3://b/p', '--json', '--yes', '--from', 'S1'])
    expect(() => restoreCommand(['pg_dump'], 'S1')).toThrow(/does not run scripts\/backup.ts/)
    expect(setFromJobLog(backupJobLog('S2'))).toBe('S2')
    expect(setFromJobLog('{"stores":[{"ok":true,"verified":false,"id":"S3"}]}\n')).toBeNull()
    expect(setFromJobLog('no json here')).toBeNull()
  })
})
