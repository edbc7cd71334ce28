// helm/cluster-issuers: the ACME ClusterIssuers the infra phase creates (helm/infra.yaml), rendered with
// helm v4 and v3, validated offline, and the bad solver combinations rejected with the key named.
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { loadInfra } from '../../scripts/lib/deploy/infra.ts'
import { HELM_VERSIONS, renderChart, runHelm, templateArgs } from '../helpers/k8s-render.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'

const CHART = join(ROOT, 'helm', 'cluster-issuers')
// The cert-manager models (4.4.2) predate http01.ingress.ingressClassName (cert-manager 1.12; infra pins
// v1.21, where it replaces the legacy `class`): that one field is not reported, any other unknown one is.
const NEWER_THAN_MODEL = /unknown field spec\.acme\.solvers\[\d+\]\.http01\.ingress\.ingressClassName$/
const problems = async (objs: Parameters<typeof validateObjects>[0]) => (await validateObjects(objs)).filter((p) => !NEWER_THAN_MODEL.test(p))
const render = (v: (typeof HELM_VERSIONS)[number], set: string[]) => renderChart(v, { chart: CHART, set, apiVersions: [] })

describe('helm/cluster-issuers', () => {
  it('is the chart helm/infra.yaml installs, at its Chart.yaml version, once the chart names one of its issuers', () => {
    const entry = loadInfra().find((r) => r.name === 'cluster-issuers')!
    expect(entry.chart).toBe('./helm/cluster-issuers')
    expect(entry.version).toBe((parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { version: string }).version)
    expect(entry.after).toEqual(['cert-manager', 'traefik'])
    expect(entry.valuesFromEnv!['acme.email']).toBe('ACME_EMAIL')
    // the default issuer of the platform chart is one of them
    const platform = parseYaml(readFileSync(join(ROOT, 'helm', 'openwebui-platform', 'values.yaml'), 'utf8')) as { tls: { certManager: { issuerRef: { name: string } } } }
    expect(entry.provides).toContain(`clusterIssuer:${platform.tls.certManager.issuerRef.name}`)
  })

  it.each(HELM_VERSIONS)('HTTP-01 through Traefik: staging and production issuers validate offline (helm %s)', async (v) => {
    const objs = await render(v, ['acme.email=certs@example.com'])
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ClusterIssuer/letsencrypt-staging', 'ClusterIssuer/letsencrypt-prod'])
    expect(await problems(objs)).toEqual([])
    expect(objs[0].spec.acme).toEqual({
      server: 'https://acme-staging-v02.api.letsencrypt.org/directory', email: 'certs@example.com',
      privateKeySecretRef: { name: 'letsencrypt-staging-account-key' }, solvers: [{ http01: { ingress: { ingressClassName: 'traefik' } } }],
    })
    expect(objs[1].spec.acme.server).toBe('https://acme-v02.api.letsencrypt.org/directory')
  })

  it.each(HELM_VERSIONS)('DNS-01 through Cloudflare (a token Secret) or Route 53 (IRSA) (helm %s)', async (v) => {
    const cf = await render(v, ['acme.email=certs@example.com', 'acme.solver=dns01', 'acme.dns01.cloudflare.apiTokenSecret=cloudflare-token'])
    expect(cf[1].spec.acme.solvers).toEqual([{ dns01: { cloudflare: { apiTokenSecretRef: { name: 'cloudflare-token', key: 'api-token' } } } }])
    const r53 = await render(v, ['acme.email=certs@example.com', 'acme.solver=dns01', 'acme.dns01.provider=route53', 'acme.dns01.route53.region=eu-west-1'])
    expect(r53[1].spec.acme.solvers).toEqual([{ dns01: { route53: { region: 'eu-west-1' } } }])
    expect(await problems([...cf, ...r53])).toEqual([])
  })

  const bad: Array<[string, string[], RegExp]> = [
    ['no e-mail', [], /acme\/email|acme\.email/],
    ['a solver typo', ['acme.email=a@example.com', 'acme.solver=dns'], /acme\/solver|acme\.solver/],
    ['DNS-01 through Cloudflare without the token Secret', ['acme.email=a@example.com', 'acme.solver=dns01'], /acme\.dns01\.cloudflare\.apiTokenSecret|acme\/dns01\/cloudflare\/apiTokenSecret/],
    ['DNS-01 through Route 53 without a region', ['acme.email=a@example.com', 'acme.solver=dns01', 'acme.dns01.provider=route53'], /acme\.dns01\.route53\.region|acme\/dns01\/route53/],
  ]
  it.each(bad)('rejects %s, naming the key (helm v4 and v3)', async (_name, set, key) => {
    for (const v of HELM_VERSIONS) {
      const r = await runHelm(v, templateArgs({ chart: CHART, set, apiVersions: [] }))
      expect(r.code, v).not.toBe(0)
      expect(r.stderr, v).toMatch(key)
    }
  })
})
