// helm/infra.yaml: the pinned infra releases, their conditions and values.
import { describe, it, expect } from 'vitest'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadInfra, parseCondition, evalCondition, mergeValues, desiredValues, INFRA_FILE } from '../../scripts/lib/deploy/infra.ts'
import { parseManifests, renderFacts } from '../../scripts/lib/tools/kube.ts'
import { ConfigError } from '../../scripts/lib/core/errors.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { FIXTURES } from './helpers.ts'

const facts = (name: string) => renderFacts(parseManifests(readFileSync(join(FIXTURES, `rendered-${name}.yaml`), 'utf8')), 'openwebui-prod')

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
    // the schema's problems come first, all of them; then (a fixed file) the semantic ones
    expect(messages['images.yaml']).toMatch(/\/releases\/1\/images\/0\/image must match pattern/)
    expect(messages['images.yaml']).toMatch(/\/releases\/1\/images\/1\/image must match pattern/)
    expect(messages['images.yaml']).toMatch(/\/releases\/1\/images\/2\/repository must match pattern/)
    const fixed = readFileSync(join(dir, 'images.yaml'), 'utf8').replace('controller:v1.0.0', 'controller').replace('plain/webhook', 'quay.io/plain/webhook').replace('agent image', 'agent.image')
    const tmp = tmpDir()
    writeFileSync(join(tmp.path, 'infra.yaml'), fixed)
    try {
      expect(() => loadInfra(join(tmp.path, 'infra.yaml'))).toThrow(/gateway-api-crds: a manifest takes no images[\s\S]*twice: image quay\.io\/twice\/controller is listed twice/)
    } finally {
      tmp.remove()
    }
  })

  it('IMAGE_MIRROR moves every listed image of a release to its mirror name, beside the release values', () => {
    const R = 'registry.corp.example.com:5000/owp/'
    const cm = releases.find((r) => r.name === 'cert-manager')!
    const kps = releases.find((r) => r.name === 'kube-prometheus-stack')!
    const f = facts('ingress')
    expect(desiredValues(cm, f, { IMAGE_MIRROR: R })).toMatchObject({
      crds: { enabled: true, keep: true },
      image: { repository: 'registry.corp.example.com:5000/owp/jetstack/cert-manager-controller' },
      acmesolver: { image: { repository: 'registry.corp.example.com:5000/owp/jetstack/cert-manager-acmesolver' } },
    })
    expect(desiredValues(kps, f, { IMAGE_MIRROR: R })).toMatchObject({
      'kube-state-metrics': { image: { registry: 'registry.corp.example.com:5000/owp', repository: 'kube-state-metrics/kube-state-metrics' } },
      grafana: { image: { registry: 'registry.corp.example.com:5000/owp', repository: 'grafana/grafana' }, admin: { existingSecret: 'kube-prometheus-stack-grafana-admin' } },
    })
    // without a mirror: the release's own values only (nothing to drift from on existing installs)
    expect(JSON.stringify(desiredValues(kps, f, {}))).not.toMatch(/registry|repository/)
    expect(JSON.stringify(desiredValues(kps, f, { IMAGE_MIRROR: '' }))).not.toMatch(/registry|repository/)
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
    expect(want(ingress)).toEqual(['cert-manager', 'cluster-issuers', 'kube-prometheus-stack', 'traefik'])
    expect(want(gateway)).toEqual(['cloudnative-pg', 'gateway-api-crds', 'traefik'])
    expect(evalCondition('!(tls || gpu) && always', gateway)).toBe(true)
    // Argo Rollouts only when the chart renders a Rollout (rollout.strategy blueGreen | canary)
    expect(want(facts('rollout'))).toEqual(['argo-rollouts', 'cert-manager', 'cluster-issuers', 'kube-prometheus-stack', 'traefik'])
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
