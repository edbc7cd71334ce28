// validate-prod --target k8s knows Argo Rollouts: recorded `kubectl get -o json` states judged as an
// operator reads them (healthy, paused for a promotion, paused for a timed step, aborted by Argo).
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { judgeRollout, rolloutsCheck, type Rollout } from '../../scripts/lib/validate/rollouts.ts'
import { fakeBins, on, ok, fails, type FakeBins } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'

const DIR = join(import.meta.dirname, '..', 'fixtures', 'k8s', 'rollouts')
const fixture = (name: string) => JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Rollout
const attempt = { signal: new AbortController().signal, timeoutMs: 5000 }

describe('judging a Rollout', () => {
  it('a promoted blue-green is done, on its stable ReplicaSet', () => {
    expect(judgeRollout(fixture('healthy-bluegreen'))).toEqual({
      name: 'owp-openwebui', strategy: 'blueGreen', verdict: 'done', stableRS: '6d9c7b8f4d', currentPodHash: '6d9c7b8f4d',
      detail: 'Healthy, 2/2 available, 2 updated, stable 6d9c7b8f4d',
    })
  })

  it('a canary at its indefinite pause step waits for a promotion; at a timed pause it resumes by itself', () => {
    expect(judgeRollout(fixture('paused-canary-step'))).toMatchObject({ verdict: 'paused', detail: 'Paused, step 3/4, 5/4 available, 2 updated, CanaryPauseStep: waiting for a promotion' })
    expect(judgeRollout(fixture('timed-pause-canary'))).toMatchObject({ verdict: 'timed-pause', detail: expect.stringContaining('step 1/4') })
  })

  it('a canary Argo aborted after a failed SLO analysis is aborted, traffic on the stable pods', () => {
    const s = judgeRollout(fixture('degraded-aborted-canary'))
    expect(s.verdict).toBe('aborted')
    expect(s.detail).toContain('Metric "http-error-ratio" assessed Failed due to failed (2) > failureLimit (1); traffic on the stable pods (7b8d5c6f9a)')
  })

  it('a status about an older spec is progressing, whatever its phase says', () => {
    const r = fixture('healthy-bluegreen')
    r.metadata.generation = 5 // helm just changed the spec; the controller has not seen it
    expect(judgeRollout(r)).toMatchObject({ verdict: 'progressing', detail: expect.stringContaining('waiting for the controller') })
  })

  it('Degraded without an abort (progress deadline) is degraded', () => {
    const r = fixture('progressing-canary')
    r.status!.phase = 'Degraded'
    r.status!.message = 'ProgressDeadlineExceeded: ReplicaSet "owp-openwebui-85f4c9d7b6" has timed out progressing.'
    expect(judgeRollout(r)).toMatchObject({ verdict: 'degraded', detail: expect.stringContaining('ProgressDeadlineExceeded') })
  })
})

describe('the validate-prod check over the release\'s Rollouts', () => {
  let bins: FakeBins | undefined
  afterEach(() => { bins?.remove(); bins = undefined })
  const list = (...names: string[]) => ok(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: names.map(fixture), metadata: { resourceVersion: '' } }))
  const run = async (answer: Parameters<typeof fakeBins>[0]['kubectl']) => {
    bins = fakeBins({ kubectl: answer })
    return rolloutsCheck(testCtx({ path: bins.path }), 'openwebui-prod', 'app.kubernetes.io/instance=owp').run(attempt)
  }

  it('passes when every Rollout is healthy, and reads them with the release selector', async () => {
    const out = await run([on('^get rollouts\\.argoproj\\.io', list('healthy-bluegreen'))])
    expect(out.status).toBe('ok')
    expect(bins!.calls('kubectl')[0]).toEqual(['kubectl', 'get', 'rollouts.argoproj.io', '--namespace', 'openwebui-prod', '--selector', 'app.kubernetes.io/instance=owp', '--output', 'json', '--request-timeout', '5s'])
  })

  it('warns on a paused Rollout, with the promote and abort commands', async () => {
    const out = await run([on('^get rollouts\\.argoproj\\.io', list('healthy-bluegreen', 'paused-canary-step'))])
    expect(out.status).toBe('warn')
    expect(out.detail).toContain('promote: kubectl patch rollouts.argoproj.io owp-openwebui --namespace openwebui-prod --subresource status --type merge --patch \'{"status":{"pauseConditions":null}}\'')
    expect(out.detail).toContain('abort: kubectl patch rollouts.argoproj.io owp-openwebui')
  })

  it('fails on an aborted Rollout', async () => {
    const out = await run([on('^get rollouts\\.argoproj\\.io', list('degraded-aborted-canary'))])
    expect(out.status).toBe('fail')
    expect(out.detail).toMatch(/^owp-openwebui: Aborted, .*the stable version serves/)
  })

  it('skips where Argo Rollouts is not installed, and fails when the cluster does not answer', async () => {
    expect((await run([fails(1, 'error: the server doesn\'t have a resource type "rollouts"')])).status).toBe('skip')
    expect((await run([on('^get rollouts\\.argoproj\\.io', ok('{"apiVersion":"v1","items":[],"kind":"List"}'))])).status).toBe('skip')
    const down = await run([fails(1, 'The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?')])
    expect(down).toMatchObject({ status: 'fail', detail: expect.stringContaining('cannot list Rollouts: The connection to the server') })
  })
})
