// A PostgreSQL backup (a run of the chart's own backup CronJob) before an upgrade that changes the
// Open WebUI image: planned from the image the release runs now, awaited before helm touches anything.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import type { FakeBins } from '../helpers/fake-bins.ts'
import { k8sFakes, k8sOptions, sandbox, HISTORY_3, type Sandbox, type K8sScenario } from './helpers.ts'

const HEALTHY = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'k8s', 'rollouts', 'healthy-bluegreen.json'), 'utf8')
let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

function setup(s: K8sScenario) {
  bins = k8sFakes({
    rendered: 'rollout', history: HISTORY_3, ingressClasses: ['traefik'],
    crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com', 'rollouts.argoproj.io'],
    rollouts: { 'owp-openwebui': [{ exitCode: 0, stdout: HEALTHY }], 'owp-graphrag-processor': [{ exitCode: 0, stdout: HEALTHY.replaceAll('"owp-openwebui"', '"owp-graphrag-processor"') }] },
    ...s,
  })
  box = sandbox(bins)
  return { bins, box }
}
const opts = { infra: false, rolloutPollMs: 20, timeout: '2s' }
const isJob = (c: string[]) => c[0] === 'kubectl' && ['create', 'wait'].includes(c[1]!)

describe('pre-upgrade backup on Kubernetes', () => {
  it('runs the PostgreSQL backup job and waits for it before helm upgrade when the Open WebUI image changes', async () => {
    const { bins, box } = setup({ runningOpenwebui: 'ghcr.io/open-webui/open-webui:v0.8.11' })
    const out = await deployK8s(box.ctx(), k8sOptions(opts))
    expect(out.ok).toBe(true)
    const all = bins.allCalls()
    const create = all.find((c) => c[1] === 'create')!
    expect(create.slice(0, 3)).toEqual(['kubectl', 'create', 'job'])
    expect(create[3]).toMatch(/^owp-pre-upgrade-[0-9a-z]+$/)
    expect(create.slice(4)).toEqual(['--from=cronjob/owp-backup-postgres', '--namespace', 'openwebui-prod'])
    expect(all.find((c) => c[1] === 'wait')).toEqual(['kubectl', 'wait', `job/${create[3]}`, '--for=condition=complete', '--namespace', 'openwebui-prod', '--timeout=2s'])
    expect(all.findIndex((c) => c[1] === 'wait')).toBeLessThan(all.findIndex((c) => c[0] === 'helm' && c[1] === 'upgrade'))
    expect(out.steps.find((s) => s.id === 'pre-upgrade-backup')?.title).toBe('pre-upgrade PostgreSQL backup (Open WebUI ghcr.io/open-webui/open-webui:v0.8.11 -> ghcr.io/open-webui/open-webui:v0.8.12)')
  })

  it('takes no backup when the image stays, or on a first install', async () => {
    const same = setup({ runningOpenwebui: 'ghcr.io/open-webui/open-webui:v0.8.12' })
    expect((await deployK8s(same.box.ctx(), k8sOptions(opts))).ok).toBe(true)
    expect(same.bins.allCalls().filter(isJob)).toEqual([])
    bins?.remove(); box?.remove()
    const first = setup({ history: 'none' })
    expect((await deployK8s(first.box.ctx(), k8sOptions(opts))).ok).toBe(true)
    expect(first.bins.allCalls().filter(isJob)).toEqual([])
  })

  it('a backup that does not complete stops the deploy: the release is not touched', async () => {
    const { bins, box } = setup({ runningOpenwebui: 'ghcr.io/open-webui/open-webui:v0.8.11', backupFails: true })
    const out = await deployK8s(box.ctx(), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^wait for backup job owp-pre-upgrade-[0-9a-z]+ failed; the chart was not touched$/)
    expect(bins.calls('helm').filter((c) => ['upgrade', 'rollback'].includes(c[1]!))).toEqual([])
  })
})
