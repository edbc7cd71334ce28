// The drivers' parsers: what a rendered chart asks of the cluster (kubectl), helm's flags and history.
import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseManifests, renderFacts } from '../../scripts/lib/tools/kube.ts'
import { upgradeSafetyFlags, checkDuration, parseHistory, releaseState } from '../../scripts/lib/tools/helm.ts'
import { fakeBins, fails, on, ok } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'
import { UsageError } from '../../scripts/lib/core/errors.ts'
import { FIXTURES } from '../deploy/helpers.ts'

const facts = (name: string) => renderFacts(parseManifests(readFileSync(join(FIXTURES, `rendered-${name}.yaml`), 'utf8')), 'openwebui-prod')

describe('render facts and helm helpers', () => {
  it('reads GPUs, ingress classes, TLS, monitoring, gateways and storage from the manifests', () => {
    expect(facts('ingress')).toMatchObject({ gpus: 1, ingress: true, ingressClasses: ['traefik'], tls: true, monitoring: true, gateway: false, cnpg: false, storageClasses: [null] })
    expect(facts('gateway')).toMatchObject({ gpus: 0, gateway: true, gatewayClasses: ['traefik'], gatewayRefs: [], cnpg: true, storageClasses: ['fast-ssd'] })
    expect([facts('ingress').rollouts, facts('rollout').rollouts]).toEqual([false, true])
  })

  it('helm flags, durations and history', () => {
    expect(upgradeSafetyFlags({ bin: 'helm', version: '4.1.4', major: 4 })).toEqual(['--wait=watcher', '--rollback-on-failure', '--cleanup-on-fail'])
    expect(upgradeSafetyFlags({ bin: 'helm', version: '3.17.2', major: 3 })).toEqual(['--atomic', '--wait'])
    expect(checkDuration('1h30m')).toBe('1h30m')
    expect(() => checkDuration('20 minutes')).toThrow(UsageError)
    expect(parseHistory('[{"revision":2,"status":"deployed"},{"revision":1,"status":"superseded"}]').map((h) => h.revision)).toEqual([1, 2])
    expect(parseHistory('not json')).toEqual([])
  })
})

describe('the release state from helm history', () => {
  const HELM = { bin: 'helm', version: '4.1.4', major: 4 } as const
  const TOKEN = 'kube-tok-8Zp3Xq1Lm'

  it('no release is known; a failing helm says why (its last line, masked), or its exit code', async () => {
    const bins = fakeBins({ helm: [
      on('^history absent ', fails(1, 'Error: release: not found')),
      on('^history denied ', fails(1, `W1202 warnings.go:70] using token ${TOKEN} from the kubeconfig\nError: query: failed to query with labels: secrets is forbidden: User "system:serviceaccount:ci:deployer" cannot list resource "secrets" (token ${TOKEN})`)),
      on('^history killed ', { exitCode: 137 }),
      on('^history owp ', ok('[{"revision":3,"status":"deployed"}]')),
    ] })
    try {
      const ctx = testCtx({ path: bins.path })
      ctx.secrets.add(TOKEN)
      expect(await releaseState(ctx, HELM, 'absent', 'ns')).toMatchObject({ exists: false, unknown: false })
      expect(await releaseState(ctx, HELM, 'denied', 'ns')).toMatchObject({ unknown: true,
        reason: 'Error: query: failed to query with labels: secrets is forbidden: User "system:serviceaccount:ci:deployer" cannot list resource "secrets" (token ***)' })
      expect(await releaseState(ctx, HELM, 'killed', 'ns')).toMatchObject({ unknown: true, reason: 'exit code 137' })
      expect(await releaseState(ctx, HELM, 'owp', 'ns')).toMatchObject({ exists: true, deployedRevision: 3, unknown: false })
    } finally {
      bins.remove()
    }
  })
})
