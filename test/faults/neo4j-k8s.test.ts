// Fault rows of the Neo4j offline window on Kubernetes: a backup killed while Neo4j is scaled to 0
// leaves a marked StatefulSet; validate-prod and the next run scale it back. kubectl is a fake on
// PATH fed the recorded shape of `kubectl get statefulsets -o json`; the argv it received is checked.
import { describe, expect, it } from 'vitest'
import { fakeBins, ok, on } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'
import { repairScaledDown, scaledDownNote, SCALED_DOWN_ANNOTATION } from '../../scripts/lib/tools/kube-maintenance.ts'
import { maintenanceCheck } from '../../scripts/lib/validate/k8s-maintenance.ts'

/** What `kubectl get statefulsets -l app.kubernetes.io/instance=owp -o json` answers after a killed dump. */
function statefulsets(neo4jReplicas: number, marked: boolean): string {
  const sts = (name: string, component: string, replicas: number, annotations: Record<string, string> = {}) => ({
    apiVersion: 'apps/v1', kind: 'StatefulSet',
    metadata: {
      name, namespace: 'openwebui-prod', uid: `uid-${name}`, generation: 4, resourceVersion: '918273',
      creationTimestamp: '2026-11-30T10:00:00Z',
      labels: { 'app.kubernetes.io/instance': 'owp', 'app.kubernetes.io/component': component, 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { 'meta.helm.sh/release-name': 'owp', 'meta.helm.sh/release-namespace': 'openwebui-prod', ...annotations },
    },
    spec: { replicas, serviceName: `${name}-headless`, selector: { matchLabels: { 'app.kubernetes.io/instance': 'owp', 'app.kubernetes.io/component': component } } },
    status: { replicas, readyReplicas: replicas, currentReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas, observedGeneration: 4 },
  })
  return JSON.stringify({
    apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' },
    items: [
      sts('owp-openwebui-platform-postgres', 'postgres', 1),
      sts('owp-openwebui-platform-neo4j', 'neo4j', neo4jReplicas, marked ? { [SCALED_DOWN_ANNOTATION]: scaledDownNote('4242@owp-backup-neo4j-29391-x7k2p', 1, new Date('2026-12-01T02:15:40Z')) } : {}),
    ],
  })
}

describe('neo4j left scaled down by a killed backup (Kubernetes)', () => {
  it('F-NEO4J-K8S-1: validate-prod finds the marked StatefulSet at 0 replicas and scales it back to the recorded replicas', async () => {
    const bins = fakeBins({ kubectl: [on('get statefulsets', ok(statefulsets(0, true))), ok()] })
    const ctx = testCtx({ path: bins.path })
    const outcome = await maintenanceCheck(ctx, 'openwebui-prod', 'owp').run({ signal: new AbortController().signal, timeoutMs: 30_000 })
    expect(outcome.status).toBe('warn')
    expect(outcome.detail).toContain('statefulset owp-openwebui-platform-neo4j was left at 0 replicas by backup run 4242@owp-backup-neo4j-29391-x7k2p (2026-12-01T02:15:40.000Z): scaled back to 1')
    expect(bins.calls('kubectl')).toContainEqual(['kubectl', 'scale', 'statefulset/owp-openwebui-platform-neo4j', '-n', 'openwebui-prod', '--replicas=1'])
    expect(bins.calls('kubectl')).toContainEqual(['kubectl', 'annotate', 'statefulset/owp-openwebui-platform-neo4j', '-n', 'openwebui-prod', `${SCALED_DOWN_ANNOTATION}-`])
    // nothing else was scaled
    expect(bins.calls('kubectl').filter((c) => c[1] === 'scale')).toHaveLength(1)
  })

  it('F-NEO4J-K8S-2: an unmarked StatefulSet at 0 replicas (scaled down by a person) is left alone', async () => {
    const bins = fakeBins({ kubectl: [on('get statefulsets', ok(statefulsets(0, false))), ok()] })
    const repaired = await repairScaledDown(testCtx({ path: bins.path }), ['kubectl'], 'openwebui-prod', 'owp')
    expect(repaired).toEqual([])
    expect(bins.calls('kubectl').filter((c) => c[1] !== 'get')).toEqual([])
  })
})
