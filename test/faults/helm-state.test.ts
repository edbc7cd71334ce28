// An undo is planned only from facts seen: helm's "release: not found" allows an uninstall; a
// cluster that does not answer or a `helm history` that fails otherwise plans none, in any plan.
import { describe, it, expect, afterEach } from 'vitest'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import { on, fails, type FakeBins } from '../helpers/fake-bins.ts'
import { k8sFakes, k8sOptions, sandbox, helmAnswers, type Sandbox, type K8sScenario } from '../deploy/helpers.ts'

let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

const FORBIDDEN = 'Error: query: failed to query with labels: secrets is forbidden: User "system:serviceaccount:ci:deployer" cannot list resource "secrets" in API group "" in the namespace "openwebui-prod"'

function setup(s: K8sScenario, historyError?: string) {
  bins = k8sFakes({ ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io'], ...s })
  // helm answers the first matching rule: a failing history goes before the scenario's answers
  if (historyError) bins.script('helm', [on('^history owp', fails(1, historyError)), ...helmAnswers(s)])
  box = sandbox(bins)
  return { bins, box }
}

const mentionsUninstall = (text: string) => /\buninstall\b/.test(text.replace(/helm uninstall only if the release did not exist before/g, ''))

describe('unknown release state: no plan contains an uninstall', () => {
  it('F-HELM-1: cluster unreachable, deploy --dry-run --skip-checks: the plan has no uninstall and says what to run instead', async () => {
    const { bins, box } = setup({ reachable: false })
    const ctx = box.ctx({ dryRun: true })
    const out = await deployK8s(ctx, k8sOptions({ skipChecks: true, validate: true }))
    expect(out.ok).toBe(true)
    expect(out.plan!.filter(mentionsUninstall)).toEqual([])
    expect(ctx.stdout()).toMatch(/\[dry-run\] {3}on failure: none: the release state was unknown before the deploy \(Error: Kubernetes cluster unreachable: dial tcp 127\.0\.0\.1:1: connect: connection refused\); nothing undone\. To undo by hand: see helm history owp --namespace openwebui-prod --max 20 --output json, then helm rollback owp REVISION --namespace openwebui-prod/)
    expect(bins.calls('helm').filter((c) => c[1] === 'uninstall')).toEqual([])
  })

  it('F-HELM-2: helm history forbidden, a real deploy whose validation fails: nothing uninstalled, exit 1 with the commands to run', async () => {
    const { bins, box } = setup({ podsReady: false }, FORBIDDEN)
    const ctx = box.ctx()
    const out = await deployK8s(ctx, k8sOptions({ infra: false, validate: true, skipChecks: true }))
    expect(out.ok).toBe(false)
    expect(bins.calls('helm').filter((c) => ['uninstall', 'rollback'].includes(c[1]!))).toEqual([])
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade')).toHaveLength(1)
    expect(out.summary).toMatch(/^validation failed; undo none: the release state was unknown before the deploy \(Error: query: failed to query with labels: secrets is forbidden.*\); nothing undone\. To undo by hand: see helm history owp/)
    expect(ctx.stderr()).not.toMatch(/helm uninstall owp --namespace/)
  })

  it('F-HELM-3: a release with only failed revisions (none deployed): a failed validation uninstalls nothing', async () => {
    const { bins, box } = setup({ podsReady: false, history: [{ revision: 1, status: 'failed', chart: 'openwebui-platform-0.1.0' }] })
    const out = await deployK8s(box.ctx(), k8sOptions({ infra: false, validate: true }))
    expect(out.ok).toBe(false)
    expect(bins.calls('helm').filter((c) => ['uninstall', 'rollback'].includes(c[1]!))).toEqual([])
    expect(out.summary).toMatch(/^validation failed; undo none: owp had no deployed revision before the deploy; nothing undone/)
  })
})
