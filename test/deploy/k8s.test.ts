// The Kubernetes flow with fake helm/kubectl: exact plans, drift, rollback, preflight hints.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import { loadInfra } from '../../scripts/lib/deploy/infra.ts'
import { PreflightError } from '../../scripts/lib/core/preflight.ts'
import { ConfigError, type KitError } from '../../scripts/lib/core/errors.ts'
import type { FakeBins } from '../helpers/fake-bins.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { k8sFakes, k8sOptions, sandbox, chartUpgrade, CHART, HISTORY_3, CANARY, type Sandbox, type K8sScenario } from './helpers.ts'
import { httpServer } from './servers.ts'

const infra = Object.fromEntries(loadInfra().map((r) => [r.name, r]))
let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

/** A cluster where the ingress class and the CRDs exist already (as after a first deploy). */
const READY_CLUSTER: K8sScenario = { ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com'], clusterIssuers: ['letsencrypt-prod'] }

function setup(s: K8sScenario = {}, envExtra: Record<string, string> = {}) {
  bins = k8sFakes({ ...READY_CLUSTER, ...s })
  box = sandbox(bins, envExtra)
  return { bins, box }
}

const V4 = ['--wait=watcher', '--rollback-on-failure', '--cleanup-on-fail']
const V3 = ['--atomic', '--wait']

describe('the chart upgrade uses the flags of the installed helm', () => {
  it.each([[4, V4], [3, V3]] as const)('helm v%i', async (major, flags) => {
    const { bins, box } = setup({ helm: major, history: HISTORY_3 })
    const out = await deployK8s(box.ctx(), k8sOptions({ infra: false }))
    expect(out.ok).toBe(true)
    expect(chartUpgrade(bins)).toEqual([
      'helm', 'upgrade', '--install', 'owp', CHART, '--namespace', 'openwebui-prod', '--create-namespace',
      '--values', join(box.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml'),
      ...flags, '--history-max', '10', '--timeout', '20m',
    ])
  })

  it('passes --values files in order after the values mapped from .env, and --timeout / --history-max / names', async () => {
    const { bins, box } = setup({ history: HISTORY_3 })
    const a = join(box.dir, 'a.yaml'); const b = join(box.dir, 'b.yaml')
    for (const f of [a, b]) (await import('node:fs')).writeFileSync(f, 'x: 1\n')
    await deployK8s(box.ctx(), k8sOptions({ infra: false, values: [a, b], timeout: '45m', historyMax: 3, release: 'chat', namespace: 'ai' }))
    const argv = bins.calls('helm').find((c) => c[1] === 'upgrade' && c[3] === 'chat')!
    expect(argv.slice(0, 8)).toEqual(['helm', 'upgrade', '--install', 'chat', CHART, '--namespace', 'ai', '--create-namespace'])
    const values = argv.flatMap((x, i) => (x === '--values' ? [argv[i + 1]] : []))
    expect(values).toEqual([join(box.env.OWP_STATE_DIR, 'values', 'chat-from-env.yaml'), a, b])
    expect(argv.slice(-4)).toEqual(['--history-max', '3', '--timeout', '45m'])
    // the template (values check) saw the same files
    const template = bins.calls('helm').find((c) => c[1] === 'template')!
    expect(template.flatMap((x, i) => (x === '--values' ? [template[i + 1]] : []))).toEqual(values)
  })

  it('maps non-secret .env settings onto the chart keys that exist, never a secret', async () => {
    const { box } = setup({ history: HISTORY_3 })
    await deployK8s(box.ctx(), k8sOptions({ infra: false }))
    const text = readFileSync(join(box.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml'), 'utf8')
    expect(parseYaml(text)).toEqual({
      global: { domain: 'chat.test.local' },
      graphrag: { image: { repository: 'registry.test/owp/graphrag-processor', tag: '1.2.3' } },
      mcp: { image: { repository: 'registry.test/owp/mcp-server', tag: '1.2.3' } },
      lightllm: { enabled: true, tp: 1 },
    })
    expect(text).not.toContain(CANARY)
  })
})

describe('alert channels from .env (kube-prometheus-stack\'s Alertmanager)', () => {
  it('maps the e-mail settings onto the chart and puts the credentials in a Secret applied from stdin before the chart', async () => {
    const secrets = { SMTP_PASSWORD: 'smtp-Qw81LzX0', SLACK_WEBHOOK_URL: 'https://hooks.slack.example.test/services/T0/B0/secret-Kp31', ALERT_WEBHOOK_URL: 'https://alerts.example.test/hook-Zz90' }
    const { bins, box } = setup({ history: HISTORY_3 }, { ALERT_EMAIL_TO: 'oncall@test.local', SMTP_SMARTHOST: 'smtp.test.local:587', SMTP_FROM: 'am@test.local', SMTP_USERNAME: 'am', ...secrets })
    const ctx = box.ctx()
    expect((await deployK8s(ctx, k8sOptions({ infra: false }))).ok).toBe(true)
    const values = parseYaml(readFileSync(join(box.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml'), 'utf8'))
    expect(values.monitoring.alertmanagerConfig).toEqual({
      email: { to: 'oncall@test.local', from: 'am@test.local', smarthost: 'smtp.test.local:587', username: 'am', existingSecret: 'owp-alert-channels' },
      slack: { existingSecret: 'owp-alert-channels' }, webhook: { existingSecret: 'owp-alert-channels' },
    })
    const all = bins.allCalls()
    const apply = all.findIndex((c) => c[0] === 'kubectl' && c[1] === 'apply')
    expect(apply).toBeGreaterThanOrEqual(0)
    expect(apply).toBeLessThan(all.findIndex((c) => c[0] === 'helm' && c[1] === 'upgrade'))
    const text = JSON.stringify(all) + ctx.stdout() + ctx.stderr() + readFileSync(join(box.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml'), 'utf8')
    for (const v of Object.values(secrets)) expect(text).not.toContain(v)
  })

  it('an incomplete e-mail channel is left out (as on compose); no credentials, no Secret', async () => {
    const { bins, box } = setup({ history: HISTORY_3 }, { ALERT_EMAIL_TO: 'oncall@test.local' })
    await deployK8s(box.ctx(), k8sOptions({ infra: false }))
    const values = parseYaml(readFileSync(join(box.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml'), 'utf8'))
    expect(values.monitoring).toBeUndefined()
    expect(bins.calls('kubectl').some((c) => c[1] === 'apply')).toBe(false)
  })
})

describe('infra releases from helm/infra.yaml', () => {
  it('installs the releases the rendered chart needs, pinned, in parallel, then the chart', async () => {
    const { bins, box } = setup({ history: HISTORY_3 })
    const out = await deployK8s(box.ctx(), k8sOptions())
    expect(out.ok).toBe(true)
    const upgrades = bins.calls('helm').filter((c) => c[1] === 'upgrade').map((c) => c[3])
    // Ingress of class traefik with TLS and ServiceMonitors: cert-manager, traefik, kube-prometheus-stack; no CNPG, no Gateway CRDs
    expect(upgrades.slice(0, -1).sort()).toEqual(['cert-manager', 'cluster-issuers', 'kube-prometheus-stack', 'traefik'])
    // the ACME ClusterIssuers the Ingress names, from the chart in this repository, after cert-manager and traefik
    expect(upgrades.indexOf('cluster-issuers')).toBeGreaterThan(Math.max(upgrades.indexOf('cert-manager'), upgrades.indexOf('traefik')))
    expect(upgrades.at(-1)).toBe('owp')
    expect(upgrades.at(-1)).toBe('owp')
    const cm = bins.calls('helm').find((c) => c[1] === 'upgrade' && c[3] === 'cert-manager')!
    expect(cm).toEqual(['helm', 'upgrade', '--install', 'cert-manager', 'cert-manager', '--namespace', 'cert-manager', '--create-namespace',
      '--repo', infra['cert-manager']!.repo!, '--version', infra['cert-manager']!.version,
      '--values', join(box.env.OWP_STATE_DIR, 'infra-values', 'cert-manager.yaml'), ...V4, '--history-max', '10', '--timeout', '20m'])
    const cmValues = parseYaml(readFileSync(join(box.env.OWP_STATE_DIR, 'infra-values', 'cert-manager.yaml'), 'utf8'))
    expect(cmValues.crds).toEqual({ enabled: true, keep: true })
    // Grafana's admin Secret goes in on stdin before kube-prometheus-stack, never in argv
    expect(bins.calls('kubectl').find((c) => c[1] === 'apply')).toEqual(['kubectl', 'apply', '--server-side', '--force-conflicts', '--field-manager', 'owp-deploy', '--filename', '-'])
    expect(JSON.stringify(bins.allCalls())).not.toContain('graf-Rk4Lm9Qz2Xw7')
  })

  it('creates the ACME ClusterIssuers from the chart in this repository, with the e-mail and solver from .env', async () => {
    const { bins, box } = setup({ history: HISTORY_3 }, { ACME_SOLVER: 'dns01', ACME_DNS01_PROVIDER: 'route53', ACME_ROUTE53_REGION: 'eu-west-1' })
    expect((await deployK8s(box.ctx(), k8sOptions())).ok).toBe(true)
    const argv = bins.calls('helm').find((c) => c[1] === 'upgrade' && c[3] === 'cluster-issuers')!
    expect(argv.slice(0, 8)).toEqual(['helm', 'upgrade', '--install', 'cluster-issuers', join(ROOT, 'helm', 'cluster-issuers'), '--namespace', 'cert-manager', '--create-namespace'])
    expect(argv).not.toContain('--repo')
    expect(argv).not.toContain('--version')
    const values = parseYaml(readFileSync(join(box.env.OWP_STATE_DIR, 'infra-values', 'cluster-issuers.yaml'), 'utf8'))
    expect(values).toEqual({ acme: { email: 'certs@test.local', solver: 'dns01', dns01: { provider: 'route53', route53: { region: 'eu-west-1' } } } })
  })

  it('stops before anything changes when ACME_EMAIL is not set and the chart names letsencrypt-prod', async () => {
    const { bins, box } = setup({ history: HISTORY_3 }, { ACME_EMAIL: '' })
    const err = await deployK8s(box.ctx(), k8sOptions()).catch((e: unknown) => e) as Error
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toMatch(/ACME_EMAIL \(for acme\.email of infra release cluster-issuers\) is not set/)
    expect(bins.calls('helm').some((c) => c[1] === 'upgrade')).toBe(false)
  })

  it('--history-max applies to the infra releases too', async () => {
    const { bins, box } = setup({ history: HISTORY_3 })
    await deployK8s(box.ctx(), k8sOptions({ historyMax: 4 }))
    const upgrades = bins.calls('helm').filter((c) => c[1] === 'upgrade')
    expect(upgrades.length).toBeGreaterThan(1)
    for (const u of upgrades) expect(u.slice(u.indexOf('--history-max'), u.indexOf('--history-max') + 2)).toEqual(['--history-max', '4'])
  })

  it('skips a release that is up to date (same chart version and values) and upgrades a drifted one', async () => {
    const cmValues = infra['cert-manager']!.values
    const { bins, box } = setup({
      history: HISTORY_3,
      // cert-manager-vX at the pinned version with the same values; traefik from an older chart
      infraInstalled: {
        'cert-manager': { chart: `cert-manager-${infra['cert-manager']!.version}`, values: cmValues },
        traefik: { chart: 'traefik-30.0.0', values: {} },
      },
    })
    await deployK8s(box.ctx(), k8sOptions())
    const upgrades = bins.calls('helm').filter((c) => c[1] === 'upgrade').map((c) => c[3])
    expect(upgrades).not.toContain('cert-manager')
    expect(upgrades).toContain('traefik')
  })

  it('Gateway API scenario: Gateway CRDs first, traefik with the gateway provider, CNPG; no GPU check', async () => {
    const { bins, box } = setup({ history: HISTORY_3, rendered: 'gateway', gpus: 0 })
    const ctx = box.ctx()
    const out = await deployK8s(ctx, k8sOptions())
    expect(out.ok).toBe(true)
    const apply = bins.calls('kubectl').find((c) => c.includes(infra['gateway-api-crds']!.manifest!))
    expect(apply).toEqual(['kubectl', 'apply', '--server-side', '--force-conflicts', '--field-manager', 'owp-deploy', '--filename', infra['gateway-api-crds']!.manifest!])
    const all = bins.allCalls()
    const crdAt = all.findIndex((c) => c === apply || (c[0] === 'kubectl' && c.includes(infra['gateway-api-crds']!.manifest!)))
    const traefikAt = all.findIndex((c) => c[0] === 'helm' && c[1] === 'upgrade' && c[3] === 'traefik')
    expect(crdAt).toBeGreaterThanOrEqual(0)
    expect(traefikAt).toBeGreaterThan(crdAt)
    expect(all.some((c) => c[0] === 'helm' && c[3] === 'cloudnative-pg')).toBe(true)
    const tv = parseYaml(readFileSync(join(box.env.OWP_STATE_DIR, 'infra-values', 'traefik.yaml'), 'utf8'))
    expect(tv.providers.kubernetesGateway.enabled).toBe(true)
    expect(ctx.stderr()).not.toContain('nvidia.com/gpu')
  })

  it('--no-infra and --skip-infra leave releases out', async () => {
    const { bins, box } = setup({ history: HISTORY_3, ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io'] })
    await deployK8s(box.ctx(), k8sOptions({ skipInfra: ['kube-prometheus-stack', 'traefik'] }))
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade').map((c) => c[3])).toEqual(['cert-manager', 'cluster-issuers', 'owp'])
    bins.remove(); box.remove()
    const s2 = setup({ history: HISTORY_3, ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com'] })
    await deployK8s(s2.box.ctx(), k8sOptions({ infra: false }))
    expect(s2.bins.calls('helm').filter((c) => c[1] === 'upgrade').map((c) => c[3])).toEqual(['owp'])
  })
})

describe('helm-install: infra and/or the chart alone', () => {
  it('--infra-only installs the infra releases and never touches the chart', async () => {
    const { bins, box } = setup({ history: HISTORY_3 })
    const out = await deployK8s(box.ctx(), k8sOptions({ app: false }))
    expect(out.ok).toBe(true)
    expect(out.summary).toBe('infra releases are in place')
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade').map((c) => c[3]).sort()).toEqual(['cert-manager', 'cluster-issuers', 'kube-prometheus-stack', 'traefik'])
    expect(bins.calls('helm').some((c) => c[1] === 'history')).toBe(false)
  })

  it('the script wires its flags to the same flow (--chart-only --dry-run)', async () => {
    const { runScript } = await import('../helpers/run-script.ts')
    const { bins, box } = setup({ history: HISTORY_3 })
    const r = await runScript('scripts/helm-install.ts', ['--chart-only', '--chart', CHART, '--env-file', join(box.dir, '.env'), '--dry-run', '--release', 'chat'], { env: { ...box.env, PATH: bins.path } })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.split('\n').filter((l) => l.startsWith('[dry-run] helm'))).toEqual([
      `[dry-run] helm upgrade --install chat ${CHART} --namespace openwebui-prod --create-namespace --values ${join(box.env.OWP_STATE_DIR, 'values', 'chat-from-env.yaml')} ${V4.join(' ')} --history-max 10 --timeout 20m`,
    ])
    expect(r.stdout).not.toContain('validate-prod')
    const both = await runScript('scripts/helm-install.ts', ['--chart-only', '--infra-only'], { env: { ...box.env, PATH: bins.path } })
    expect(both.code).toBe(2)
  })
})

describe('failures', () => {
  it('helm upgrade fails: exit 1, helm undid it itself, the report says so, nothing else runs', async () => {
    const { bins, box } = setup({ history: HISTORY_3, upgradeFails: true })
    const ctx = box.ctx()
    const out = await deployK8s(ctx, k8sOptions({ infra: false, validate: true }))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/helm upgrade failed; helm undid it itself/)
    expect(out.steps.map((s) => [s.id, s.status])).toEqual([['chart', 'failed'], ['validate', 'not-run']])
    expect(bins.calls('helm').some((c) => c[1] === 'rollback' || c[1] === 'uninstall')).toBe(false)
    expect(ctx.stderr()).toContain('UPGRADE FAILED')
  })

  it('validation fails after an upgrade: helm rollback to the revision that served before', async () => {
    const { bins, box } = setup({ history: HISTORY_3, podsReady: false })
    const ctx = box.ctx()
    const out = await deployK8s(ctx, k8sOptions({ infra: false, validate: true }))
    expect(out.ok).toBe(false)
    expect(bins.calls('helm').filter((c) => c[1] === 'rollback')).toEqual([
      ['helm', 'rollback', 'owp', '3', '--namespace', 'openwebui-prod', '--wait=watcher', '--cleanup-on-fail', '--timeout', '20m'],
    ])
    expect(out.rolledBack).toBe(true)
    expect(out.summary).toMatch(/validation failed; roll back owp to revision 3/)
    expect(ctx.stderr()).toMatch(/deployment\/owp-graphrag-processor rollout failed \(ProgressDeadlineExceeded\).*CrashLoopBackOff/)
    expect(ctx.stderr()).toMatch(/undone\s+roll back owp to revision 3/)
  })

  it('rolls back to the last deployed revision, not the last one (a failed revision on top)', async () => {
    const history = [...HISTORY_3, { revision: 4, status: 'failed', chart: 'openwebui-platform-0.1.0' }]
    const { bins, box } = setup({ history, podsReady: false, helm: 3 })
    await deployK8s(box.ctx(), k8sOptions({ infra: false, validate: true }))
    expect(bins.calls('helm').filter((c) => c[1] === 'rollback')).toEqual([
      ['helm', 'rollback', 'owp', '3', '--namespace', 'openwebui-prod', '--wait', '--cleanup-on-fail', '--timeout', '20m'],
    ])
  })

  it('validation fails after a first install: helm uninstall', async () => {
    const { bins, box } = setup({ history: 'none', podsReady: false })
    const out = await deployK8s(box.ctx(), k8sOptions({ infra: false, validate: true }))
    expect(out.ok).toBe(false)
    expect(bins.calls('helm').filter((c) => c[1] === 'uninstall')).toEqual([
      ['helm', 'uninstall', 'owp', '--namespace', 'openwebui-prod', '--wait=watcher', '--timeout', '20m'],
    ])
  })

  it('validation passes: no rollback, exit 0', async () => {
    // a release that answers chats: this one's LLM is an external endpoint (a local stand-in)
    const llm = await httpServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"choices":[{"message":{"content":"pong"}}],"usage":{"total_tokens":3}}') })
    try {
      const { bins, box } = setup({ history: HISTORY_3 }, { OPENAI_API_BASE_URL: `${llm.url}/v1`, LIGHTLLM_ENABLED: 'false' })
      const ctx = box.ctx()
      const out = await deployK8s(ctx, k8sOptions({ infra: false, validate: true }))
      expect(out.ok, `${out.summary}\n${ctx.stderr().slice(-3000)}`).toBe(true)
      expect(bins.calls('helm').some((c) => c[1] === 'rollback')).toBe(false)
    } finally { await llm.close() }
  })

  it('bad values stop before anything changes, with helm\'s message naming the field (exit 2)', async () => {
    const { bins, box } = setup({ templateFails: 'openwebui.replicas: Invalid type. Expected: integer, given: string' })
    const err = await deployK8s(box.ctx(), k8sOptions()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).exitCode).toBe(2)
    expect((err as Error).message).toContain('openwebui.replicas: Invalid type')
    expect(bins.calls('helm').some((c) => c[1] === 'upgrade')).toBe(false)
  })
})

describe('preflight: each failure names its fix', () => {
  const cases: Array<[string, K8sScenario, RegExp, RegExp]> = [
    ['cluster unreachable', { reachable: false }, /kubernetes cluster: context test-cluster is not reachable \(The connection to the server 127\.0\.0\.1:1 was refused - did you specify the right host or port\?\)/, /hint: point KUBECONFIG at a reachable cluster/],
    ['server too old', { serverMinor: 27 }, /server 1\.27 is older than/, /hint: upgrade the cluster/],
    ['no default StorageClass', { defaultStorageClass: false }, /no default StorageClass/, /storageclass\.kubernetes\.io\/is-default-class=true/],
    ['no GPU', { gpus: 0 }, /no node has 1 allocatable nvidia\.com\/gpu/, /NVIDIA GPU Operator/],
  ]
  it.each(cases)('%s', async (_name, scenario, detail, hint) => {
    const { bins, box } = setup({ history: HISTORY_3, ...scenario })
    const err = await deployK8s(box.ctx(), k8sOptions()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PreflightError)
    expect((err as Error).message).toMatch(detail)
    expect((err as Error).message).toMatch(hint)
    expect(bins.calls('helm').some((c) => c[1] === 'upgrade')).toBe(false)
  })

  it('no helm on PATH: stops at once with the install hint', async () => {
    const { barePath } = await import('./servers.ts')
    const { fakeBins: fb, fails: f } = await import('../helpers/fake-bins.ts')
    const onlyKubectl = fb({ kubectl: [f(1, 'unreachable')] }, { basePath: barePath() })
    const b = sandbox(onlyKubectl)
    try {
      const err = await deployK8s(b.ctx(), k8sOptions()).catch((e: unknown) => e) as KitError
      expect(err.message).toBe('helm not found on PATH')
      expect(err.hint).toMatch(/install helm .* or run make setup/)
    } finally {
      onlyKubectl.remove(); b.remove()
    }
  })

  it('--no-infra: the ingress class and cert-manager CRDs must already exist', async () => {
    const { box } = setup({ history: HISTORY_3, ingressClasses: [], crds: [] })
    const err = await deployK8s(box.ctx(), k8sOptions({ infra: false })).catch((e: unknown) => e) as Error
    expect(err.message).toMatch(/IngressClass traefik: ingressclass traefik not found/)
    expect(err.message).toMatch(/hint: set ingress.className to traefik/)
    expect(err.message).toMatch(/cert-manager CRDs: crd certificates.cert-manager.io not found/)
  })

  it('the chart names a ClusterIssuer the cluster lacks and no infra release creates: a clear stop naming the key', async () => {
    const { bins, box } = setup({ history: HISTORY_3, clusterIssuers: [] })
    const err = await deployK8s(box.ctx(), k8sOptions({ infra: false })).catch((e: unknown) => e) as Error
    expect(err).toBeInstanceOf(PreflightError)
    expect(err.message).toMatch(/ClusterIssuer letsencrypt-prod: clusterissuer letsencrypt-prod not found/)
    expect(err.message).toMatch(/tls\.certManager\.issuerRef\.name names ClusterIssuer letsencrypt-prod/)
    expect(bins.calls('kubectl')).toContainEqual(['kubectl', 'get', 'clusterissuer', 'letsencrypt-prod', '--output', 'name', '--request-timeout', '10s'])
    expect(bins.calls('helm').some((c) => c[1] === 'upgrade')).toBe(false)
  })

  it('a ClusterIssuer the infra phase of this run creates satisfies preflight', async () => {
    const { box } = setup({ history: HISTORY_3, clusterIssuers: [] })
    const ctx = box.ctx()
    expect((await deployK8s(ctx, k8sOptions())).ok).toBe(true)
    expect(ctx.stderr()).toMatch(/ClusterIssuer letsencrypt-prod\s+ok\s+installed by an infra release of this run/)
  })

  it('a release stuck in pending-upgrade stops the deploy with the helm commands to fix it', async () => {
    const { box } = setup({ history: [...HISTORY_3, { revision: 4, status: 'pending-upgrade', chart: 'x' }] })
    const err = await deployK8s(box.ctx(), k8sOptions()).catch((e: unknown) => e) as Error
    expect(err.message).toMatch(/revision 4 is pending-upgrade/)
    expect(err.message).toMatch(/helm rollback owp -n openwebui-prod/)
  })

  it('a StorageClass named in the values must exist (gateway scenario names fast-ssd: present)', async () => {
    const { box } = setup({ history: HISTORY_3, rendered: 'gateway', gpus: 0 })
    const ctx = box.ctx()
    await deployK8s(ctx, k8sOptions())
    expect(ctx.stderr()).toMatch(/storage class\s+ok\s+fast-ssd/)
  })
})

describe('--dry-run', () => {
  it('prints the whole plan as it would run, runs nothing that changes the cluster, masks secrets', async () => {
    const { bins, box } = setup({ history: HISTORY_3 })
    const ctx = box.ctx({ dryRun: true })
    const out = await deployK8s(ctx, k8sOptions({ validate: true, skipChecks: true }))
    expect(out.ok).toBe(true)
    const lines = ctx.stdout().trim().split('\n')
    expect(lines[0]).toBe('# infra releases (helm/infra.yaml) (in parallel)')
    expect(lines).toContain(`[dry-run] helm upgrade --install owp ${CHART} --namespace openwebui-prod --create-namespace --values ${join(box.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml')} --wait=watcher --rollback-on-failure --cleanup-on-fail --history-max 10 --timeout 20m`)
    expect(lines).toContain('[dry-run]   on failure: helm rollback owp 3 --namespace openwebui-prod --wait=watcher --cleanup-on-fail --timeout 20m')
    expect(lines).toContain('[dry-run] tsx scripts/validate-prod.ts --target k8s --namespace openwebui-prod --release owp')
    expect(lines.filter((l) => l.startsWith('[dry-run] helm upgrade'))).toHaveLength(5)
    expect(bins.calls('helm').filter((c) => ['upgrade', 'rollback', 'uninstall'].includes(c[1]!))).toEqual([])
    expect(bins.calls('kubectl').filter((c) => c[1] === 'apply')).toEqual([])
    expect(ctx.stdout() + ctx.stderr()).not.toContain('graf-Rk4Lm9Qz2Xw7')
  })

  it('works with no cluster at all (--skip-checks): infra assumed missing, the chart upgraded with no undo (state unknown)', async () => {
    const { bins, box } = setup({ reachable: false })
    const ctx = box.ctx({ dryRun: true })
    const out = await deployK8s(ctx, k8sOptions({ skipChecks: true }))
    expect(out.ok).toBe(true)
    expect(ctx.stdout()).toContain('[dry-run]   on failure: none: the release state was unknown before the deploy')
    // helm's own reason, not only that it failed
    expect(ctx.stderr()).toMatch(/infra cert-manager: unknown \(helm list failed \(Error: Kubernetes cluster unreachable: dial tcp 127\.0\.0\.1:1: connect: connection refused\): assuming missing\)/)
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade')).toEqual([])
    expect(existsSync(join(box.env.OWP_STATE_DIR, 'locks'))).toBe(false) // a dry run takes no lock
  })
})
