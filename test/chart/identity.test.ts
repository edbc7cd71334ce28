// Identity on Kubernetes (openwebui.sso): what Open WebUI is told, where it may connect, and the
// in-cluster provider and trusted-header variants of the sso scenario.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NAMESPACE, findObject, renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { reachability, releaseEndpoints } from '../helpers/k8s-netpol.ts'
import { SCENARIOS, intendedEdges, scenarioFile, surroundings, type Intent } from './scenarios.ts'

const sso = SCENARIOS.find((s) => s.name === 'sso')!
const dir = mkdtempSync(join(tmpdir(), 'owp-identity-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

type Env = { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }
const envOf = (objs: K8sObject[]): Map<string, Env> =>
  new Map((findObject(objs, 'Deployment', 'owp-openwebui')!.spec.template.spec.containers[0].env as Env[]).map((e) => [e.name, e]))

/** The edges the rendered policies allow, limited to those touching the release's pods. */
function edges(objs: K8sObject[]): string[] {
  const release = releaseEndpoints(objs, NAMESPACE)
  const names = new Set(release.map((e) => e.name))
  return reachability(objs.filter((o) => o.kind === 'NetworkPolicy'), [...release, ...surroundings()])
    .filter((e) => { const [src, dst] = e.split(/ -> |:/); return names.has(src) || names.has(dst) })
}

let oidc: K8sObject[]
let inCluster: K8sObject[]
let trusted: K8sObject[]
let defaults: K8sObject[]
beforeAll(async () => {
  const keycloak = join(dir, 'keycloak.yaml')
  writeFileSync(keycloak, [
    'openwebui:', '  sso:', '    oidc:', '      providerUrl: http://keycloak.keycloak.svc:8443/realms/main/.well-known/openid-configuration',
    '      networkPolicyPeers:', '        - namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: keycloak } }',
    '          podSelector: { matchLabels: { app.kubernetes.io/name: keycloak } }', '',
  ].join('\n'))
  ;[oidc, inCluster, trusted, defaults] = await Promise.all([
    renderChart('v4', { valuesFiles: [scenarioFile(sso)] }),
    renderChart('v4', { valuesFiles: [scenarioFile(sso), keycloak] }),
    renderChart('v4', { valuesFiles: [scenarioFile(SCENARIOS.find((s) => s.name === 'minimal')!)],
      set: ['openwebui.sso.trustedHeader.enabled=true', 'openwebui.sso.trustedHeader.emailHeader=X-Auth-Email', 'openwebui.sso.trustedHeader.nameHeader=', 'openwebui.sso.loginForm=false'] }),
    renderChart('v4'),
  ])
})

describe('OIDC login', () => {
  it('hands Open WebUI the provider, the client, its secret by reference and the claim mapping', () => {
    const env = envOf(oidc)
    expect(Object.fromEntries([...env].filter(([, e]) => e.value !== undefined).map(([n, e]) => [n, e.value])))
      .toMatchObject({
        ENABLE_LOGIN_FORM: 'false', ENABLE_OAUTH_PERSISTENT_CONFIG: 'false', ENABLE_OAUTH_SIGNUP: 'true', OAUTH_MERGE_ACCOUNTS_BY_EMAIL: 'false',
        OPENID_PROVIDER_URL: 'https://sso.example.com:8443/realms/main/.well-known/openid-configuration', OAUTH_PROVIDER_NAME: 'Example SSO',
        OAUTH_CLIENT_ID: 'open-webui', OAUTH_SCOPES: 'openid email profile groups', OPENID_REDIRECT_URI: 'https://chat.example.com/oauth/oidc/callback',
        ENABLE_OAUTH_ROLE_MANAGEMENT: 'true', OAUTH_ROLES_CLAIM: 'realm_access.roles', OAUTH_ALLOWED_ROLES: 'chat-user,chat-admin', OAUTH_ADMIN_ROLES: 'chat-admin',
        ENABLE_OAUTH_GROUP_MANAGEMENT: 'true', OAUTH_GROUP_CLAIM: 'groups', ENABLE_OAUTH_GROUP_CREATION: 'true',
      })
    expect(env.get('OAUTH_CLIENT_SECRET')).toEqual({ name: 'OAUTH_CLIENT_SECRET', valueFrom: { secretKeyRef: { name: 'openwebui-oidc', key: 'client-secret' } } })
    // the chart never holds the client secret: no Secret of its own carries it
    expect(oidc.filter((o) => o.kind === 'Secret').flatMap((o) => Object.keys(o.data ?? {}))).not.toContain('client-secret')
    expect(env.has('WEBUI_AUTH_TRUSTED_EMAIL_HEADER')).toBe(false)
  })

  it('by default: the login form, no OAuth, no trusted header', () => {
    const env = envOf(defaults)
    expect(env.get('ENABLE_LOGIN_FORM')?.value).toBe('true')
    expect(env.get('ENABLE_OAUTH_SIGNUP')?.value).toBe('false')
    expect(['OPENID_PROVIDER_URL', 'OAUTH_CLIENT_ID', 'OAUTH_CLIENT_SECRET', 'WEBUI_AUTH_TRUSTED_EMAIL_HEADER'].filter((n) => env.has(n))).toEqual([])
  })

  it('an in-cluster provider is reached through its own peers, on the port of its URL, and nothing else opens', () => {
    const intent: Intent = { ...sso.intent, idp: 'in-cluster' }
    const computed = edges(inCluster)
    const intended = intendedEdges(intent)
    expect({ missing: intended.filter((e) => !computed.includes(e)), extra: computed.filter((e) => !intended.includes(e)) })
      .toEqual({ missing: [], extra: [] })
    expect(computed).not.toContain('openwebui -> internet:8443/TCP')
  })
})

describe('trusted-header authentication', () => {
  it('names the headers the authenticating proxy sets; an empty name header is left out', () => {
    const env = envOf(trusted)
    expect(env.get('WEBUI_AUTH_TRUSTED_EMAIL_HEADER')?.value).toBe('X-Auth-Email')
    expect(env.has('WEBUI_AUTH_TRUSTED_NAME_HEADER')).toBe(false)
    expect(env.get('ENABLE_LOGIN_FORM')?.value).toBe('false')
  })

  it('only the ingress controller reaches Open WebUI (whoever reaches it could pick an identity)', () => {
    expect(edges(trusted).filter((e) => e.endsWith('openwebui:8080/TCP')).sort())
      .toEqual(['blackbox-exporter -> openwebui:8080/TCP', 'ingress-controller -> openwebui:8080/TCP', 'test -> openwebui:8080/TCP'])
  })
})
