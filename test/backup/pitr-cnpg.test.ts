// restore.ts --to on Kubernetes with CloudNativePG: the plan (a NEW Cluster from the backups, the
// app switched only once it is ready), run with fake helm/kubectl that record argv and answer
// like the real ones, then every argv through the REAL helm and kubectl parsers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, TOOLS_BIN, CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { fakeBins, on, ok, fails, type FakeBins } from '../helpers/fake-bins.ts'
import { runScript } from '../helpers/run-script.ts'
import { closedPort } from '../helpers/net.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { planCnpgRestore, recoveredName } from '../../scripts/lib/backup/pitr/cnpg.ts'

const CLUSTER = readFileSync(join(ROOT, 'test', 'fixtures', 'backup', 'cnpg-cluster.json'), 'utf8')
const VALUES = JSON.stringify({ postgres: { mode: 'cnpg', cnpg: { instances: 3 } }, backup: { destination: { type: 's3', s3: { url: 's3://owp-backups/prod', existingSecret: 'owp-backup-s3' } } } })
const TARGET = '2026-12-01T10:15:00Z'
const NAME = 'owp-postgres-pitr-20261201t101500z'
const tmp = tmpDir('owp-pitr-cnpg-')
const emptyEnv = join(tmp.path, 'empty.env')
const recovered = (ready: number) => JSON.stringify({ ...JSON.parse(CLUSTER), metadata: { name: NAME }, status: { phase: ready ? 'Cluster in healthy state' : 'Setting up primary', readyInstances: ready } })
const recorded: string[][] = []

function fakes(o: { ready?: boolean; values?: string } = {}): FakeBins {
  return fakeBins({
    helm: [on('^get values', ok(o.values ?? VALUES)), ok('Release "owp" has been upgraded. Happy Helming!\n')],
    kubectl: [
      on(`^get cluster.postgresql.cnpg.io/owp-postgres -n`, ok(CLUSTER)),
      on('^wait ', o.ready === false ? fails(1, `error: timed out waiting for the condition on clusters/${NAME}`) : ok(`cluster.postgresql.cnpg.io/${NAME} condition met\n`)),
      on(`^get cluster.postgresql.cnpg.io/${NAME}`, ok(recovered(3))),
    ],
  })
}
const restore = (bins: FakeBins, to = TARGET) => runScript('scripts/restore.ts',
  ['--store', 'postgres', '--target', 'k8s', '--to', to, '--yes', '--env-file', emptyEnv, '--dest', join(tmp.path, 'dest')], { env: { ...bins.env, HELM_BIN: '' } })

beforeAll(() => writeFileSync(emptyEnv, ''))
afterAll(() => tmp.remove())

describe('restore --to with CloudNativePG', () => {
  it('creates a new Cluster from the backups beside the running one, waits for it, then switches the app', async () => {
    const bins = fakes()
    try {
      const r = await restore(bins)
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain(`recovered Cluster owp-postgres to 2026-12-01T10:15:00.000Z into Cluster ${NAME}; the applications use ${NAME}-rw`)
      const helm = bins.calls('helm')
      expect(helm).toEqual([
        ['helm', 'get', 'values', 'owp', '-n', 'openwebui-prod', '-o', 'json'],
        ['helm', 'upgrade', 'owp', CHART_DIR, '-n', 'openwebui-prod', '--reuse-values', '--set', `postgres.cnpg.recovery.name=${NAME}`,
          '--set', 'postgres.cnpg.recovery.source=owp-postgres', '--set-string', 'postgres.cnpg.recovery.targetTime=2026-12-01T10:15:00.000Z', '--set', 'postgres.cnpg.recovery.active=false'],
        ['helm', 'upgrade', 'owp', CHART_DIR, '-n', 'openwebui-prod', '--reuse-values', '--set', 'postgres.cnpg.recovery.active=true'],
      ])
      expect(bins.calls('kubectl')).toContainEqual(['kubectl', 'wait', '--for=condition=Ready', `cluster.postgresql.cnpg.io/${NAME}`, '-n', 'openwebui-prod', '--timeout=21600s'])
      // nothing is ever applied to, patched on or deleted from the running Cluster
      expect(bins.calls('kubectl').filter((c) => /^(apply|patch|delete|edit|replace)$/.test(c[1]!))).toEqual([])
      recorded.push(...helm, ...bins.calls('kubectl'))
    } finally { bins.remove() }
  })

  it('a recovered Cluster that never gets ready is removed again and the app is not switched', async () => {
    const bins = fakes({ ready: false })
    try {
      const r = await restore(bins)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`Cluster ${NAME} did not become ready`)
      const upgrades = bins.calls('helm').filter((c) => c[1] === 'upgrade')
      expect(upgrades.at(-1)).toEqual(['helm', 'upgrade', 'owp', CHART_DIR, '-n', 'openwebui-prod', '--reuse-values', '--set', 'postgres.cnpg.recovery.name=', '--set', 'postgres.cnpg.recovery.active=false'])
      expect(upgrades.some((c) => c.includes('postgres.cnpg.recovery.active=true'))).toBe(false)
      recorded.push(...bins.calls('helm'))
    } finally { bins.remove() }
  })

  it('refuses a time before the first backup (status.firstRecoverabilityPoint), and changes nothing', async () => {
    const bins = fakes()
    try {
      const r = await restore(bins, '2026-11-01T00:00:00Z')
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('refusing to recover to 2026-11-01T00:00:00.000Z: it is before the first backup of Cluster owp-postgres; the earliest moment it can recover to is 2026-11-18T02:05:31Z')
      expect(bins.calls('helm').filter((c) => c[1] === 'upgrade')).toEqual([])
    } finally { bins.remove() }
  })

  it('refuses a release that is not on CloudNativePG, and a second recovery while one is there', () => {
    const base = { release: 'owp', namespace: 'ns', target: new Date(TARGET), timeoutMs: 60_000, helm: 'helm', cluster: JSON.parse(CLUSTER), source: 'owp-postgres' }
    expect(() => planCnpgRestore({ ...base, values: { postgres: { mode: 'internal' } } })).toThrow(/mode internal: restore --to on Kubernetes recovers CloudNativePG clusters/)
    expect(() => planCnpgRestore({ ...base, values: { postgres: { mode: 'cnpg', cnpg: { recovery: { name: 'owp-postgres-pitr-x', active: true } } } } })).toThrow(/already has a recovered Cluster \(owp-postgres-pitr-x, in use\)/)
    expect(() => planCnpgRestore({ ...base, values: { postgres: { mode: 'cnpg' } }, cluster: { spec: {} } })).toThrow(/has no backups/)
    expect(recoveredName('owp-postgres', new Date(TARGET))).toBe(NAME)
  })

  it('every helm and kubectl argv passes the real parsers (helm v4, helm v3, kubectl)', async () => {
    expect(recorded.length).toBeGreaterThan(5)
    const home = join(tmp.path, 'home')
    for (const d of ['config', 'cache', 'data']) mkdirSync(join(home, d), { recursive: true })
    const port = await closedPort()
    const kubeconfig = join(home, 'kubeconfig')
    writeFileSync(kubeconfig, ['apiVersion: v1', 'kind: Config', 'current-context: closed',
      `clusters: [{name: closed, cluster: {server: "https://127.0.0.1:${port}"}}]`,
      'contexts: [{name: closed, context: {cluster: closed, user: u}}]', 'users: [{name: u, user: {token: not-a-real-token}}]'].join('\n'))
    const env = { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data'),
      HTTPS_PROXY: `http://127.0.0.1:${port}`, HTTP_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: '' }
    const PARSE_ERROR = /unknown (flag|command|shorthand flag)|flag needs an argument|invalid argument ".*" for|accepts \d+ arg|requires (at least|exactly) \d+ arg/i
    const bad: string[] = []
    for (const argv of recorded) {
      const bins = argv[0] === 'kubectl' ? [join(TOOLS_BIN, 'kubectl')] : [join(TOOLS_BIN, 'helm'), join(TOOLS_BIN, 'helm3')]
      for (const bin of bins) {
        const r = spawnSync(bin, argv.slice(1), { env, input: '', encoding: 'utf8', timeout: 20_000 })
        if (PARSE_ERROR.test(r.stderr)) bad.push(`${bin.split('/').pop()} ${argv.slice(1).join(' ')}: ${r.stderr.trim().split('\n')[0]}`)
      }
    }
    expect(bad).toEqual([])
  }, 120_000)
})
