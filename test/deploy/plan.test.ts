// The pieces under the flows: the plan runner, helm/infra.yaml and its conditions, render facts.
import { describe, it, expect } from 'vitest'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runPlan, newReport, undoApplied, PlanError, type Phase } from '../../scripts/lib/core/plan.ts'
import { loadInfra, parseCondition, evalCondition, mergeValues, desiredValues, INFRA_FILE } from '../../scripts/lib/deploy/infra.ts'
import { parseManifests, renderFacts } from '../../scripts/lib/tools/kube.ts'
import { upgradeSafetyFlags, checkDuration, parseHistory } from '../../scripts/lib/tools/helm.ts'
import { ConfigError, UsageError } from '../../scripts/lib/core/errors.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { FIXTURES } from './helpers.ts'

const facts = (name: string) => renderFacts(parseManifests(readFileSync(join(FIXTURES, `rendered-${name}.yaml`), 'utf8')), 'openwebui-prod')

describe('plan runner', () => {
  const record = () => {
    const log: string[] = []
    const step = (id: string, o: { after?: string[]; fail?: boolean; ms?: number; undo?: boolean } = {}) => ({
      id, title: id, argv: ['do', id], mutates: true, after: o.after,
      undo: o.undo ? { title: `undo ${id}`, argv: ['undo', id], mutates: true, action: async () => { log.push(`undo ${id}`) } } : undefined,
      action: async () => {
        log.push(`start ${id}`)
        await new Promise((r) => setTimeout(r, o.ms ?? 5))
        log.push(`end ${id}`)
        if (o.fail) throw new Error(`${id} broke`)
      },
    })
    return { log, step }
  }

  it('runs a parallel phase by its `after` edges and phases in order', async () => {
    const { log, step } = record()
    const plan: Phase[] = [
      { title: 'infra', parallel: true, steps: [step('a', { ms: 30 }), step('b', { after: ['a'] }), step('c', { ms: 10 })] },
      { title: 'app', steps: [step('d')] },
    ]
    const report = await runPlan(testCtx(), plan)
    expect(report.steps.map((s) => s.status)).toEqual(['applied', 'applied', 'applied', 'applied'])
    expect(log.indexOf('start c')).toBeLessThan(log.indexOf('end a')) // c did not wait for a
    expect(log.indexOf('start b')).toBeGreaterThan(log.indexOf('end a')) // b did
    expect(log.indexOf('start d')).toBeGreaterThan(log.indexOf('end b'))
  })

  it('a failing step lets running siblings finish, starts nothing new, and reports every step', async () => {
    const { log, step } = record()
    const plan: Phase[] = [{ title: 'p', parallel: true, steps: [step('a', { fail: true }), step('b', { ms: 30 }), step('c', { after: ['a'] })] }, { title: 'q', steps: [step('d')] }]
    const err = await runPlan(testCtx(), plan).catch((e: unknown) => e) as PlanError
    expect(err).toBeInstanceOf(PlanError)
    expect(err.step.id).toBe('a')
    expect(Object.fromEntries(err.report.steps.map((s) => [s.id, s.status]))).toEqual({ a: 'failed', b: 'applied', c: 'not-run', d: 'not-run' })
    expect(log).toContain('end b')
    expect(log).not.toContain('start c')
  })

  it('undoes applied steps newest first', async () => {
    const { log, step } = record()
    const plan: Phase[] = [{ title: 'p', steps: [step('a', { undo: true }), step('b', { undo: true }), step('c', { fail: true })] }]
    const ctx = testCtx()
    const report = newReport(ctx, plan)
    await runPlan(ctx, plan, report).catch(() => {})
    const undone = await undoApplied(ctx, plan, report)
    expect(undone.map((u) => u.title)).toEqual(['undo b', 'undo a'])
    expect(log.slice(-2)).toEqual(['undo b', 'undo a'])
  })

  it('--dry-run prints each command in runnable order with its undo, and runs no action', async () => {
    const { log, step } = record()
    const ctx = testCtx({ dryRun: true })
    await runPlan(ctx, [{ title: 'infra', parallel: true, steps: [step('b', { after: ['a'] }), step('a', { undo: true })] }])
    expect(ctx.stdout()).toBe('# infra (in parallel)\n[dry-run] do a\n[dry-run]   on failure: undo a\n[dry-run] do b\n')
    expect(log).toEqual([])
  })

  it('rejects a plan whose steps wait for each other', async () => {
    const { step } = record()
    await expect(runPlan(testCtx(), [{ title: 'p', parallel: true, steps: [step('a', { after: ['b'] }), step('b', { after: ['a'] })] }])).rejects.toThrow(/steps wait for each other: a -> b -> a/)
  })
})

describe('helm/infra.yaml', () => {
  const releases = loadInfra()

  it('pins every release to an exact version and names cert-manager (crds.enabled), an ingress/gateway controller, kube-prometheus-stack and CloudNativePG', () => {
    const names = releases.map((r) => r.name)
    expect(names).toEqual(expect.arrayContaining(['cert-manager', 'traefik', 'gateway-api-crds', 'kube-prometheus-stack', 'cloudnative-pg']))
    for (const r of releases) expect(r.version, r.name).toMatch(/^v?\d+\.\d+\.\d+$/)
    expect((releases.find((r) => r.name === 'cert-manager')!.values as { crds: { enabled: boolean } }).crds.enabled).toBe(true)
    // the retired community ingress-nginx is not among them
    expect(releases.some((r) => /ingress-nginx/.test(`${r.chart} ${r.repo}`))).toBe(false)
    expect(readFileSync(INFRA_FILE, 'utf8')).toMatch(/Why Traefik/)
  })

  it('each broken fixture is rejected with every problem named', () => {
    const dir = join(FIXTURES, 'infra-broken')
    const files = readdirSync(dir)
    expect(files.length).toBeGreaterThanOrEqual(2)
    const messages = Object.fromEntries(files.map((f) => {
      try { loadInfra(join(dir, f)); return [f, 'accepted'] } catch (e) { expect(e).toBeInstanceOf(ConfigError); return [f, (e as Error).message] }
    }))
    expect(messages['unpinned.yaml']).toMatch(/\/releases\/0\/version must match pattern/)
    expect(messages['unpinned.yaml']).toMatch(/each release needs|must have required property 'namespace'|releases\/1/)
    expect(messages['manifest-without-version-from.yaml']).toMatch(/\/releases\/1\/repo must match pattern "\^https:\/\/"/)
  })

  it('names an unknown fact and an unknown dependency (the semantic checks)', () => {
    const dir = join(FIXTURES, 'infra-broken')
    const text = readFileSync(join(dir, 'unpinned.yaml'), 'utf8').replace('version: latest', 'version: v1.0.0').replace('    condition: ingress && sparkles', '    namespace: traefik\n    condition: ingress && sparkles')
    const tmp = tmpDir()
    writeFileSync(join(tmp.path, 'infra.yaml'), text)
    try {
      expect(() => loadInfra(join(tmp.path, 'infra.yaml'))).toThrow(/condition "ingress && sparkles": unknown fact "sparkles"[\s\S]*after names unknown release nothing-such/)
    } finally {
      tmp.remove()
    }
  })

  it('conditions follow what the chart renders', () => {
    const ingress = facts('ingress')
    const gateway = facts('gateway')
    const want = (f: typeof ingress) => releases.filter((r) => evalCondition(r.condition, f)).map((r) => r.name).sort()
    expect(want(ingress)).toEqual(['cert-manager', 'kube-prometheus-stack', 'traefik'])
    expect(want(gateway)).toEqual(['cloudnative-pg', 'gateway-api-crds', 'traefik'])
    expect(evalCondition('!(tls || gpu) && always', gateway)).toBe(true)
    // Argo Rollouts only when the chart renders a Rollout (rollout.strategy blueGreen | canary)
    expect(want(facts('rollout'))).toEqual(['argo-rollouts', 'cert-manager', 'kube-prometheus-stack', 'traefik'])
    expect(() => parseCondition('tls &&')).toThrow(/unexpected end/)
    expect(() => parseCondition('monitoring == yes')).toThrow(/cannot be compared/)
  })

  it('argo-rollouts is pinned, keeps its CRDs, and gets the Gateway API traffic plugin only with an HTTPRoute', () => {
    const argo = loadInfra().find((r) => r.name === 'argo-rollouts')!
    expect(argo).toMatchObject({ repo: 'https://argoproj.github.io/argo-helm', chart: 'argo-rollouts', version: '2.41.0', condition: 'rollouts' })
    expect(argo.values).toMatchObject({ installCRDs: true, keepCRDs: true })
    const rollout = facts('rollout')
    expect(desiredValues(argo, rollout)).not.toHaveProperty('controller.trafficRouterPlugins')
    const plugins = (desiredValues(argo, { ...rollout, gateway: true }) as { controller: { trafficRouterPlugins: Array<{ name: string; location: string }> } }).controller.trafficRouterPlugins
    expect(plugins).toEqual([{ name: 'argoproj-labs/gatewayAPI', location: expect.stringMatching(/^https:\/\/github\.com\/argoproj-labs\/rollouts-plugin-trafficrouter-gatewayapi\/releases\/download\/v\d+\.\d+\.\d+\//) }])
  })

  it('merges valuesWhen like helm merges values files', () => {
    expect(mergeValues({ a: { b: 1, c: [1] }, d: 1 }, { a: { c: [2], e: 3 } })).toEqual({ a: { b: 1, c: [2], e: 3 }, d: 1 })
  })
})

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
