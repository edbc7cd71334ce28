// deploy --kubernetes with Argo Rollouts: the plan shows the wait and the abort path; the deploy waits
// for each Rollout (recorded `kubectl get -o json` states), aborts only what it saw still rolling, and
// rolls the chart back.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import type { Answer, FakeBins } from '../helpers/fake-bins.ts'
import { k8sFakes, k8sOptions, sandbox, HISTORY_3, type Sandbox, type K8sScenario } from './helpers.ts'

const ROLLOUTS = join(import.meta.dirname, '..', 'fixtures', 'k8s', 'rollouts')
const state = (name: string, times?: number): Answer => ({ exitCode: 0, stdout: readFileSync(join(ROLLOUTS, `${name}.json`), 'utf8'), times })
const renamed = (name: string, as: string, times?: number): Answer => ({ ...state(name, times), stdout: state(name).stdout!.replaceAll('"owp-openwebui"', `"${as}"`) })

let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

const ARGO_CLUSTER: K8sScenario = {
  rendered: 'rollout', history: HISTORY_3, ingressClasses: ['traefik'],
  crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com', 'rollouts.argoproj.io'],
}
function setup(rollouts: Record<string, Answer[]>) {
  bins = k8sFakes({ ...ARGO_CLUSTER, rollouts })
  box = sandbox(bins)
  return { bins, box }
}
const opts = { infra: false, rolloutPollMs: 20, timeout: '2s' }
const patches = (b: FakeBins) => b.calls('kubectl').filter((c) => c[1] === 'patch')
const ABORT = (name: string) => ['kubectl', 'patch', 'rollouts.argoproj.io', name, '--namespace', 'openwebui-prod', '--subresource', 'status', '--type', 'merge', '--patch', '{"status":{"abort":true}}']
const ROLLBACK = ['helm', 'rollback', 'owp', '3', '--namespace', 'openwebui-prod']

describe('deploy --kubernetes with Argo Rollouts', () => {
  it('--dry-run shows the wait for each Rollout after the chart, and the abort that runs if it fails', async () => {
    const { box } = setup({})
    const ctx = box.ctx({ dryRun: true })
    const out = await deployK8s(ctx, k8sOptions({ infra: false }))
    expect(out.ok).toBe(true)
    const text = ctx.stdout()
    const chartAt = text.indexOf('helm upgrade --install owp')
    for (const name of ['owp-openwebui', 'owp-graphrag-processor']) {
      const at = text.indexOf(`[dry-run] kubectl get rollouts.argoproj.io ${name} --namespace openwebui-prod --output json`)
      expect(at, text).toBeGreaterThan(chartAt)
      expect(text).toContain(`[dry-run]   on failure: kubectl patch rollouts.argoproj.io ${name} --namespace openwebui-prod --subresource status --type merge --patch '{"status":{"abort":true}}'`)
    }
    expect(text).toContain('# Argo Rollouts (blue-green / canary) (in parallel)')
    expect(patches(bins!)).toEqual([])
  })

  it('waits through progressing and a timed pause step until every Rollout is healthy', async () => {
    const { bins, box } = setup({
      'owp-openwebui': [state('progressing-canary', 2), state('timed-pause-canary', 2), state('healthy-bluegreen')],
      'owp-graphrag-processor': [renamed('healthy-bluegreen', 'owp-graphrag-processor')],
    })
    const out = await deployK8s(box.ctx(), k8sOptions(opts))
    expect(out.summary).toBe('owp is deployed in openwebui-prod')
    expect(out.ok).toBe(true)
    expect(bins.calls('kubectl').filter((c) => c[1] === 'get' && c[2] === 'rollouts.argoproj.io' && c[3] === 'owp-openwebui').length).toBe(5)
    expect(out.steps.filter((s) => s.id.startsWith('rollout:')).map((s) => s.status)).toEqual(['applied', 'applied'])
    expect(patches(bins)).toEqual([])
  })

  it('stops waiting at an indefinite pause (a promotion is the operator\'s call) and says how to promote', async () => {
    const { bins, box } = setup({ 'owp-openwebui': [state('paused-canary-step')], 'owp-graphrag-processor': [renamed('healthy-bluegreen', 'owp-graphrag-processor')] })
    const ctx = box.ctx()
    const out = await deployK8s(ctx, k8sOptions(opts))
    expect(out.ok).toBe(true)
    expect(ctx.stderr()).toMatch(/Rollout owp-openwebui: Paused, step 3\/4, 5\/4 available, 2 updated, CanaryPauseStep: waiting for a promotion/)
    expect(ctx.stderr()).toContain(`Rollout owp-openwebui waits for a promotion: promote: kubectl patch rollouts.argoproj.io owp-openwebui --namespace openwebui-prod --subresource status --type merge --patch '{"status":{"pauseConditions":null}}'`)
    expect(patches(bins)).toEqual([])
  })

  it('when Argo aborted the canary (SLO analysis failed): no second abort, the chart rolls back, the report says why', async () => {
    const { bins, box } = setup({
      'owp-openwebui': [state('progressing-canary', 1), state('degraded-aborted-canary')],
      'owp-graphrag-processor': [renamed('healthy-bluegreen', 'owp-graphrag-processor')],
    })
    const out = await deployK8s(box.ctx(), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^rollout failed \(Rollout owp-openwebui aborted: Aborted, step 0\/4, 4\/4 available, 0 updated, RolloutAborted: Rollout aborted update to revision 6: Metric "http-error-ratio" assessed Failed due to failed \(2\) > failureLimit \(1\); traffic on the stable pods \(7b8d5c6f9a\)\); Rollout owp-openwebui already aborted, roll back owp to revision 3$/)
    expect(patches(bins)).toEqual([])
    expect(bins.calls('helm').find((c) => c[1] === 'rollback')?.slice(0, 6)).toEqual(ROLLBACK)
    expect(out.rollouts).toEqual([
      { name: 'owp-openwebui', action: 'already aborted', detail: expect.stringContaining('traffic on the stable pods (7b8d5c6f9a)') },
      { name: 'owp-graphrag-processor', action: 'not touched', detail: expect.stringContaining('Healthy') },
    ])
  })

  it('a Rollout still progressing at the deadline is aborted (traffic back to the stable pods), then the chart rolls back', async () => {
    const { bins, box } = setup({
      'owp-openwebui': [state('progressing-canary')],
      'owp-graphrag-processor': [renamed('healthy-bluegreen', 'owp-graphrag-processor')],
    })
    const out = await deployK8s(box.ctx(), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/did not finish in time.*Rollout owp-openwebui aborted, roll back owp to revision 3$/)
    expect(patches(bins)).toEqual([ABORT('owp-openwebui')])
    const all = bins.allCalls()
    expect(all.findIndex((c) => c[1] === 'patch')).toBeLessThan(all.findIndex((c) => c[1] === 'rollback'))
  })

  it('a Rollout the kit never read (API unreachable) is not aborted blindly: the chart rolls back and the report says so', async () => {
    const { bins, box } = setup({
      'owp-openwebui': [{ exitCode: 1, stderr: 'The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?' }],
      'owp-graphrag-processor': [renamed('healthy-bluegreen', 'owp-graphrag-processor')],
    })
    const out = await deployK8s(box.ctx(), k8sOptions(opts))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/cannot read Rollout owp-openwebui in openwebui-prod: The connection to the server/)
    expect(patches(bins)).toEqual([])
    expect(out.rollouts).toContainEqual({ name: 'owp-openwebui', action: 'not touched', detail: 'never seen: its state is unknown' })
    expect(bins.calls('helm').some((c) => c[1] === 'rollback')).toBe(true)
  })

  it('preflight asks for the Argo Rollouts CRDs the rendered Rollouts need, with the way to get them', async () => {
    bins = k8sFakes({ ...ARGO_CLUSTER, crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com'] })
    box = sandbox(bins)
    const err = await deployK8s(box.ctx(), k8sOptions(opts)).catch((e: Error) => e)
    expect(String((err as Error).message) + JSON.stringify(err)).toMatch(/Argo Rollouts CRDs/)
    expect(bins.calls('helm').some((c) => c[1] === 'upgrade')).toBe(false)
  })
})
