// Kubernetes validation fed whole releases as a cluster returns them (`kubectl get ... -o json`):
// a failed backup Job pod, an evicted pod already replaced, a Pending pod of an HPA scale-up are
// reported and never fail the release; a crash-looping Deployment does.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runChecks, reportOf } from '../../scripts/lib/validate/index.ts'
import { workloadChecks } from '../../scripts/lib/validate/k8s.ts'
import { fakeBins, on, ok, fails, type FakeBins } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'
import { K8S_FIXTURES } from '../deploy/helpers.ts'

let bins: FakeBins | undefined
afterEach(() => { bins?.remove(); bins = undefined })

const ARGV = '^get deployments,statefulsets,daemonsets,replicasets,pods,horizontalpodautoscalers --namespace openwebui-prod --selector app\\.kubernetes\\.io/instance=owp --output json --request-timeout [0-9]+s$'

/** validate-prod's workload rows for a recorded release, as the user reads them. */
async function validate(fixture: string) {
  bins = fakeBins({ kubectl: [on(ARGV, ok(readFileSync(join(K8S_FIXTURES, fixture), 'utf8'))), fails(1, 'error: unexpected argv')] })
  const ctx = testCtx({ path: `${bins.path}:${process.env.PATH}` })
  const results = await runChecks(ctx, workloadChecks(ctx, 'openwebui-prod', 'owp', 'app.kubernetes.io/instance=owp'), { retries: 0, timeoutMs: 60_000 })
  const [workloads, pods] = results
  return { report: reportOf('k8s', results, 0), workloads: workloads!, pods: pods! }
}

describe('k8s validation judges workloads, not pods', () => {
  it('F-K8S-1: a failed backup CronJob Job pod beside a healthy release is a warning, the release passes', async () => {
    const { report, workloads, pods } = await validate('failed-backup-job-pod.json')
    expect(report.ok).toBe(true)
    expect(workloads.status).toBe('ok')
    expect(workloads.detail).toBe('12 workloads rolled out')
    expect(pods.status).toBe('warn')
    expect(pods.detail).toMatch(/^pod\/owp-backup-postgres-29412360-x7k2q pod of Job owp-backup-postgres-29412360 failed \(Error\)/)
  })

  it('F-K8S-2: an Evicted pod its ReplicaSet already replaced is reported, the release passes', async () => {
    const { report, workloads, pods } = await validate('evicted-pod-replaced.json')
    expect(report.ok).toBe(true)
    expect(workloads.status).toBe('ok')
    expect(pods.status).toBe('ok')
    expect(pods.detail).toMatch(/^pod\/owp-openwebui-\w+-q9w4z Evicted \(The node was low on resource: memory\..*\); ReplicaSet owp-openwebui-\w+ replaced it \(owp-openwebui-\w+-\w+ Ready\)$/)
  })

  it('F-K8S-3: a Pending pod of an HPA scale-up warns (minimum available), the release passes', async () => {
    const { report, workloads } = await validate('hpa-scale-up-pending.json')
    expect(report.ok).toBe(true)
    expect(workloads.status).toBe('warn')
    expect(workloads.detail).toMatch(/^11\/12 rolled out; deployment\/owp-openwebui 2\/3 available, HPA owp-openwebui scaling up: 1 pod\(s\) Pending \(Unschedulable\)$/)
  })

  it('F-K8S-4: a crash-looping Deployment with no available replica fails the release, naming it and why', async () => {
    const { report, workloads } = await validate('crashloop-deployment.json')
    expect(report.ok).toBe(false)
    expect(workloads.status).toBe('fail')
    expect(workloads.detail).toMatch(/^1\/12 not rolled out: deployment\/owp-graphrag-processor rollout failed \(ProgressDeadlineExceeded\): ReplicaSet "owp-graphrag-processor-\w+" has timed out progressing\.: owp-graphrag-processor-\w+-\w+ CrashLoopBackOff$/)
  })
})
