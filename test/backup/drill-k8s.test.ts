// The restore drill on Kubernetes without a cluster: fake kubectl and helm first on PATH record
// what the drill asks of the cluster (the scratch namespace, the Secrets production's values name,
// the chart installed there with production's values cut down, the teardown), in order; the
// teardown on failure and on Ctrl-C; production only ever read. Then every argv goes through the
// real helm v4, helm v3 and kubectl against a closed port: a wrong flag fails in their parsers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { runCleanups } from '../../scripts/lib/core/context.ts'
import { fakeBins, on, ok, fails, type Answer } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'
import { runScript } from '../helpers/run-script.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { copyOfSecret, drillValues, runK8sDrill, scratchNamespace, secretsNamed } from '../../scripts/lib/backup/drill-k8s.ts'
import type { PlatformRef } from '../../scripts/lib/backup/platform.ts'

const tmp = tmpDir('owp-drill-k8s-')
afterAll(() => tmp.remove())

const PROD_VALUES = {
  postgres: { mode: 'cnpg', cnpg: { backup: { enabled: true }, recovery: { name: '', source: '', targetTime: '', active: false } } },
  backup: { destination: { type: 's3', s3: { url: 's3://owp-backups/prod', existingSecret: 'owp-backup-s3' } } },
  openwebui: { oidc: { existingSecret: 'owp-oidc' } },
  ingress: { enabled: true, className: 'traefik' },
}
const SECRET = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'owp-backup-s3', namespace: 'openwebui-prod', uid: 'u-1', resourceVersion: '42', ownerReferences: [{ kind: 'X' }] }, type: 'Opaque', data: { 'access-key-id': 'QUtJQQ==', 'secret-access-key': 'c2VjcmV0' } }
const PODS = 'owp-openwebui-7d9 1111 2026-12-01T00:00:00Z 0\nowp-postgres-1 2222 2026-12-01T00:00:00Z 0\n'
const PVCS = 'owp-openwebui-data 3333 Bound\n'

function helmAnswers(install: Answer): Answer[] {
  return [
    on('^version', ok('v4.1.4')),
    on('^get values owp', ok(JSON.stringify(PROD_VALUES))),
    on('^install ', install),
    ok(),
  ]
}
const kubectlAnswers = (): Answer[] => [
  on('^get pods -n openwebui-prod ', ok(PODS)),
  on('^get pvc -n openwebui-prod ', ok(PVCS)),
  on('^get secret (owp-backup-s3|owp-oidc) -n openwebui-prod', ok(JSON.stringify(SECRET))),
  ok(),
]

async function platformSet(): Promise<string> {
  const data = join(tmp.path, 'graphrag')
  mkdirSync(join(data, 'output'), { recursive: true })
  writeFileSync(join(data, 'output', 'a.parquet'), 'x'.repeat(500))
  const dest = join(tmp.path, `dest-${Date.now()}`)
  const ctx = testCtx({ env: { GRAPHRAG_DATA_DIR: data, BACKUP_STAGING_DIR: tmp.path }, yes: true })
  const s = await resolveShared(ctx, { target: 'direct', dest, 'env-file': join(tmp.path, 'empty.env') })
  const r = await runBackup(ctx, { stores: ['files-graphrag'], explicit: false, platform: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({}) })
  expect(r.platform?.state, ctx.stderr()).toBe('complete')
  return dest
}

async function drill(install: Answer, during?: (ctx: ReturnType<typeof testCtx>) => Promise<void>) {
  const dest = await platformSet()
  const bins = fakeBins({ helm: helmAnswers(install), kubectl: kubectlAnswers() })
  const ctx = testCtx({ env: { PATH: bins.path, BACKUP_STAGING_DIR: tmp.path }, yes: true })
  const s = await resolveShared(ctx, { target: 'k8s', dest, 'env-file': join(tmp.path, 'empty.env') })
  const running = runK8sDrill(ctx, { dest: s.dest, from: 'latest', release: 'owp', namespace: 'openwebui-prod', settings: s.settings, waitSeconds: 60 })
  if (during) await during(ctx)
  const report = await running
  collected.push(...bins.allCalls())
  return { report, bins, ctx }
}

const collected: string[][] = []
beforeAll(() => writeFileSync(join(tmp.path, 'empty.env'), ''))

describe('the Kubernetes drill\'s plan', () => {
  it('a scratch namespace beside production, its name a DNS label', () => {
    expect(scratchNamespace('openwebui-prod')).toBe('openwebui-prod-drill')
    expect(scratchNamespace('x'.repeat(63))).toHaveLength(63)
  })

  it('production\'s values cut down: no Ingress, certificates, backups, monitoring objects or LightLLM; CloudNativePG recovered from production\'s backups to the set\'s time, backing up nothing; production\'s drill pod let in', () => {
    const set = { id: '2026-12-01T02-05-00Z', time: new Date('2026-12-01T02:05:00Z') } as PlatformRef
    const v = drillValues(PROD_VALUES, { release: 'owp', namespace: 'openwebui-prod', set })
    expect(v).toMatchObject({
      ingress: { enabled: false, className: 'traefik' }, gatewayAPI: { enabled: false }, tls: { certManager: { enabled: false } },
      backup: { enabled: false, destination: PROD_VALUES.backup.destination }, drill: { enabled: false, scratchOf: 'openwebui-prod' }, tests: { enabled: false },
      monitoring: { serviceMonitor: { enabled: false }, prometheusRule: { enabled: false } }, lightllm: { enabled: false },
      postgres: { mode: 'cnpg', cnpg: { backup: { enabled: false }, bootstrapFrom: { source: 'owp-postgres', targetTime: '2026-12-01T02:05:00Z' }, recovery: { name: '', active: false } } },
    })
    expect(PROD_VALUES.ingress.enabled).toBe(true) // production's values are not changed
    expect(drillValues({ postgres: { mode: 'internal' } }, { release: 'owp', namespace: 'openwebui-prod', set, withLlm: true }).postgres).toEqual({ mode: 'internal' })
    expect(drillValues({}, { release: 'owp', namespace: 'openwebui-prod', set, withLlm: true }).lightllm).toBeUndefined()
  })

  it('copies the Secrets production\'s values name, data only', () => {
    expect(secretsNamed(PROD_VALUES)).toEqual(['owp-backup-s3', 'owp-oidc'])
    expect(copyOfSecret(SECRET, 'openwebui-prod-drill')).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'owp-backup-s3', namespace: 'openwebui-prod-drill', labels: { 'owp.io/drill-copy': 'true' } }, type: 'Opaque', data: SECRET.data })
  })
})

describe('the Kubernetes drill run (fake kubectl and helm)', () => {
  it('a scratch release that does not come up is uninstalled and its namespace deleted; production is only read', async () => {
    const { report, bins } = await drill(fails(1, 'Error: INSTALLATION FAILED: context deadline exceeded'))
    expect(report.ok).toBe(false)
    expect(report.error).toContain('INSTALLATION FAILED')
    expect(report.line).toMatch(/^dr drill: set \S+, 0 stores, validate not run, rto - s, rpo \d+ s, production untouched$/)
    const calls = bins.allCalls().filter((c) => !(c[0] === 'helm' && c[1] === 'version'))
    const steps = calls.map((c) => c.slice(0, 3).join(' '))
    expect(steps).toEqual([
      'kubectl get pods', 'kubectl get pvc',
      'helm get values',
      'kubectl delete namespace', 'kubectl create namespace', 'kubectl label namespace',
      'kubectl get secret', 'kubectl create -n', 'kubectl get secret', 'kubectl create -n',
      'helm install owp',
      'helm uninstall owp', 'kubectl delete namespace',
      'kubectl get pods', 'kubectl get pvc',
    ])
    const install = calls.find((c) => c[1] === 'install')!
    expect(install.slice(0, 6)).toEqual(['helm', 'install', 'owp', expect.stringMatching(/helm\/openwebui-platform$/), '--namespace', 'openwebui-prod-drill'])
    expect(install.slice(6)).toEqual(['--values', expect.stringMatching(/drill-values\.json$/), '--wait=watcher', '--timeout', '60s'])
    expect(calls.at(-4)).toEqual(['helm', 'uninstall', 'owp', '--namespace', 'openwebui-prod-drill', '--wait=watcher', '--timeout', '5m'])
    expect(calls.at(-3)).toEqual(['kubectl', 'delete', 'namespace', 'openwebui-prod-drill', '--ignore-not-found', '--wait=true', '--timeout=600s'])
    // every call that changes something names the scratch namespace; production is only read
    for (const c of calls) {
      const mutates = ['create', 'delete', 'label', 'install', 'uninstall', 'exec', 'apply', 'patch', 'scale'].includes(c[1]!)
      if (mutates) expect(c.join(' '), 'a change outside the scratch namespace').toMatch(/openwebui-prod-drill/)
      else expect(['get'].includes(c[1]!), c.join(' ')).toBe(true)
    }
  })

  it('Ctrl-C while the chart installs tears the scratch namespace down through the cleanups', async () => {
    const { bins } = await drill({ exitCode: 0, delay: 3 }, async (ctx) => {
      await new Promise((r) => setTimeout(r, 1500))
      await runCleanups(ctx) // what the signal handler of core/cli.ts runs
    })
    const calls = bins.allCalls()
    const install = calls.findIndex((c) => c[1] === 'install')
    const uninstall = calls.findIndex((c) => c[1] === 'uninstall')
    const deletes = calls.filter((c) => c[1] === 'delete' && c[2] === 'namespace' && c[3] === 'openwebui-prod-drill')
    expect(install).toBeGreaterThan(0)
    expect(uninstall).toBeGreaterThan(0)
    expect(deletes.length).toBeGreaterThanOrEqual(2) // the debris check at start, the teardown from the cleanup
  })

  it('dr-drill --target k8s is a drill now, and a target it does not know is a usage error', async () => {
    const r = await runScript('scripts/dr-drill.ts', ['--target', 'nomad'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--target must be compose or k8s, got "nomad"')
    const help = await runScript('scripts/dr-drill.ts', ['--help'])
    expect(help.stdout).toContain('--target k8s) the scratch deployment is the namespace <namespace>-drill')
  })
})

describe('every argv of the drill parses in the real helm and kubectl', () => {
  const REAL = { helm4: join(TOOLS_BIN, 'helm'), helm3: join(TOOLS_BIN, 'helm3'), kubectl: join(TOOLS_BIN, 'kubectl') }
  const PARSE_ERROR = /unknown (flag|command|shorthand flag)|flag needs an argument|invalid argument ".*" for|accepts \d+ arg|requires (at least|exactly) \d+ arg/i

  it('helm v4, helm v3 and kubectl accept every flag (a closed port: nothing is reached)', async () => {
    for (const bin of Object.values(REAL)) if (!existsSync(bin)) throw new Error(`${bin} is missing: run make setup`)
    expect(collected.length).toBeGreaterThan(10)
    const port = await closedPort()
    const kubeconfig = join(tmp.path, 'kubeconfig')
    writeFileSync(kubeconfig, ['apiVersion: v1', 'kind: Config', 'current-context: closed',
      `clusters: [{name: closed, cluster: {server: "https://127.0.0.1:${port}"}}]`,
      'contexts: [{name: closed, context: {cluster: closed, user: u}}]', 'users: [{name: u, user: {token: not-a-real-token}}]'].join('\n'))
    const env = { PATH: process.env.PATH, HOME: tmp.path, KUBECONFIG: kubeconfig, HELM_CONFIG_HOME: join(tmp.path, 'hc'), HELM_CACHE_HOME: join(tmp.path, 'hca'), HELM_DATA_HOME: join(tmp.path, 'hd'),
      HTTPS_PROXY: `http://127.0.0.1:${port}`, HTTP_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: '' }
    const unique = [...new Map(collected.map((c) => [JSON.stringify(c), c])).values()]
    const bad: string[] = []
    for (const c of unique) {
      const bins = c[0] === 'helm' ? [REAL.helm4, REAL.helm3] : [REAL.kubectl]
      for (const bin of bins) {
        // helm v3 has no --wait=watcher (the kit passes --wait to v3): check v3 with its own flag
        const argv = bin === REAL.helm3 ? c.slice(1).map((a) => (a === '--wait=watcher' ? '--wait' : a)) : c.slice(1)
        const r = spawnSync(bin, argv, { env, input: '', encoding: 'utf8', timeout: 20_000 })
        if (PARSE_ERROR.test(r.stderr)) bad.push(`${bin} ${argv.join(' ')} -> ${r.stderr.trim().split('\n')[0]}`)
      }
    }
    expect(bad).toEqual([])
  }, 120_000)
})
