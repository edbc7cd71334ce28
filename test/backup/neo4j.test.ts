// Neo4j backups against FAKE neo4j / neo4j-admin / cypher-shell executables
// (test/fixtures/backup/neo4j-fake) that follow the documented admin behaviour: no real Neo4j
// can be installed here. What is real: the kit's argv, the order stop -> dump -> start, the
// restart on failure, and (for k8s) the real kubectl flag parser.
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'
import { ROOT, TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { UsageError } from '../../scripts/lib/core/errors.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { renderReport, runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { listSets, readManifestJson } from './support.ts'

const FAKES = join(ROOT, 'test', 'fixtures', 'backup', 'neo4j-fake')
const SHIMS = join(ROOT, 'test', 'fixtures', 'backup', 'shims')
const PASSWORD = 'neo4j-test-password-42'
const tmp = tmpDir('owp-neo4j-')
const state = join(tmp.path, 'state')
const shimCalls = join(tmp.path, 'shim-calls')

function reset(content = 'alice\nbob\ncarol\n'): void {
  rmSync(state, { recursive: true, force: true })
  rmSync(shimCalls, { recursive: true, force: true })
  mkdirSync(join(state, 'databases'), { recursive: true })
  mkdirSync(shimCalls)
  writeFileSync(join(state, 'databases', 'neo4j'), content)
  writeFileSync(join(state, 'databases', 'system'), 'users: neo4j\n')
  writeFileSync(join(state, 'running'), '')
  writeFileSync(join(state, 'calls'), '')
}
const calls = () => readFileSync(join(state, 'calls'), 'utf8').trim().split('\n').filter(Boolean)
const running = () => existsSync(join(state, 'running'))

async function setup(target: 'direct' | 'compose' | 'k8s', flags: Record<string, string | boolean>, env: Record<string, string> = {}) {
  const ctx = testCtx({
    yes: true,
    env: {
      PATH: `${SHIMS}:${FAKES}:${process.env.PATH}`, NEO4J_FAKE_STATE: state, NEO4J_FAKE_PASSWORD: PASSWORD, BACKUP_STAGING_DIR: tmp.path,
      SHIM_CALLS: shimCalls, SHIM_NEO4J_ENV: `NEO4J_FAKE_STATE=${state}`, SHIM_SERVICE_CTL: join(FAKES, 'neo4j'), SHIM_K8S_IO: join(tmp.path, 'k8s-io'), ...env,
    },
  })
  const shared = await resolveShared(ctx, { store: 'neo4j', target, dest: join(tmp.path, `dest-${target}`), 'env-file': join(tmp.path, 'empty.env'), ...flags })
  const backup = (explicit = true) => runBackup(ctx, { stores: ['neo4j'], explicit, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [], retention: retentionFrom({}) })
  const restore = () => runRestore(ctx, { stores: ['neo4j'], explicit: true, from: 'latest', target: shared.target, dest: shared.dest, settings: shared.settings })
  return { ctx, backup, restore, dest: join(tmp.path, `dest-${target}`) }
}

function shimArgv(program: string): string[][] {
  return readdirSync(shimCalls).sort().filter((f) => f.endsWith(`.${program}`)).map((f) => { const p = readFileSync(join(shimCalls, f), 'utf8').split('\0'); p.pop(); return p })
}

beforeEach(() => reset())
afterAll(() => tmp.remove())
writeFileSync(join(tmp.path, 'empty.env'), '')

describe('Neo4j community: offline dump behind --maintenance-window', () => {
  it('refuses to stop Neo4j without --maintenance-window (usage error), and `--store all` skips it with the reason', async () => {
    const { backup } = await setup('direct', {})
    await expect(backup(true)).rejects.toThrow(UsageError)
    await expect(backup(true)).rejects.toThrow('pass --maintenance-window (it stops Neo4j) or --neo4j-mode apoc')
    const report = await backup(false)
    expect(report.stores[0]).toMatchObject({ store: 'neo4j', ok: true, skipped: expect.stringContaining('--maintenance-window') })
    expect(calls()).toEqual([])
    expect(running()).toBe(true)
  })

  it('stops Neo4j, dumps system and neo4j, reads each archive back, starts Neo4j; and restores the same way', async () => {
    const { ctx, backup, restore, dest } = await setup('direct', { 'maintenance-window': true })
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const [set] = listSets(dest, 'neo4j')
    expect(set!.files).toEqual(['manifest.json', 'neo4j.dump', 'system.dump'])
    expect(readFileSync(join(set!.dir, 'neo4j.dump'), 'latin1').slice(0, 4)).toBe('DZV1')
    expect(readManifestJson(set!.dir).verified.method).toBe('neo4j-admin database load --info on each archive, archive header')
    const io = /--to-path=(\S+)/.exec(calls()[2]!)![1]
    expect(calls()).toEqual([
      'neo4j stop', 'neo4j-admin --version',
      `neo4j-admin database dump system --to-path=${io}`, `neo4j-admin database dump neo4j --to-path=${io}`,
      `neo4j-admin database load --info --from-path=${io} system`, `neo4j-admin database load --info --from-path=${io} neo4j`,
      'neo4j start',
    ])
    expect(running()).toBe(true)

    writeFileSync(join(state, 'databases', 'neo4j'), 'mallory\n')
    writeFileSync(join(state, 'calls'), '')
    const result = await restore()
    expect(result.ok, ctx.stderr()).toBe(true)
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe('alice\nbob\ncarol\n')
    expect(calls()[0]).toBe('neo4j stop')
    expect(calls().at(-1)).toBe('neo4j start')
    expect(calls().filter((c) => c.includes('--overwrite-destination=true'))).toHaveLength(2)
  })

  it('starts Neo4j again when the dump fails, and leaves no complete set', async () => {
    const { ctx, backup, dest } = await setup('direct', { 'maintenance-window': true }, { NEO4J_FAKE_FAIL_DUMP: '1' })
    const before = listSets(dest, 'neo4j').filter((s) => s.complete).map((s) => s.id)
    const report = await backup()
    expect(report.stores[0]!.ok).toBe(false)
    expect(report.stores[0]!.error).toContain('simulated failure')
    // what the operator reads without --json: the step line and the table say why, not only that neo4j-admin failed
    expect(ctx.stderr()).toMatch(/neo4j.*command failed \(exit code 1\): neo4j-admin database dump .*: org\.neo4j\.io\.pagecache\.impl\.FileLockException: simulated failure \(/m)
    expect(renderReport(report)).toMatch(/neo4j\s+FAILED .*: org\.neo4j\.io\.pagecache\.impl\.FileLockException: simulated failure/)
    expect(calls().at(-1)).toBe('neo4j start')
    expect(running()).toBe(true)
    expect(listSets(dest, 'neo4j').filter((s) => s.complete).map((s) => s.id)).toEqual(before)
    expect(listSets(dest, 'neo4j').map((s) => s.id)).toEqual(before) // the failed set's directory is removed
  })

  it('compose: stops the service, runs neo4j-admin in a one-off container with the set directory mounted, starts it', async () => {
    const { ctx, backup } = await setup('compose', { 'maintenance-window': true })
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const docker = shimArgv('docker').filter((a) => a[2] !== 'version').map((a) => a.slice(a.indexOf('--env-file') + 2)) // after the compose CLI probe
    expect(docker[0]).toEqual(['stop', 'neo4j'])
    expect(docker[1]).toEqual(['run', '--rm', '--no-deps', '-T', '-v', expect.stringMatching(/:\/owp-io$/), 'neo4j', 'neo4j-admin', '--version'])
    expect(docker).toContainEqual(['run', '--rm', '--no-deps', '-T', '-v', expect.stringMatching(/:\/owp-io$/), 'neo4j', 'neo4j-admin', 'database', 'dump', 'neo4j', '--to-path=/owp-io'])
    expect(docker.at(-1)).toEqual(['start', 'neo4j'])
    expect(running()).toBe(true)
  })

  it('k8s: scales the StatefulSet down, dumps from a maintenance pod on the same PVC, scales back; real kubectl accepts every argv', async () => {
    mkdirSync(join(tmp.path, 'k8s-io'), { recursive: true })
    // The shim cannot scale anything: the fake Neo4j is simply stopped, as after the scale-down.
    rmSync(join(state, 'running'))
    const { ctx, backup } = await setup('k8s', { 'maintenance-window': true })
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const k = shimArgv('kubectl').map((a) => a.slice(1))
    const ns = ['-n', 'openwebui-prod']
    expect(k.slice(0, 6)).toEqual([
      ['get', 'pods', ...ns, '-l', 'app.kubernetes.io/instance=owp,app.kubernetes.io/component=neo4j', '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[*].metadata.name}'],
      ['get', 'pod', 'owp-neo4j-0', ...ns, '-o', 'json'],
      ['get', 'statefulset', 'owp-neo4j', ...ns, '-o', 'jsonpath={.spec.replicas}'],
      // a store an earlier killed run left down is brought back first (tools/kube-maintenance.ts)
      ['get', 'statefulsets', ...ns, '-l', 'app.kubernetes.io/instance=owp', '-o', 'json'],
      // marked before it goes down: run, time and the replicas to come back to
      ['annotate', 'statefulset/owp-neo4j', ...ns, '--overwrite', expect.stringMatching(/^owp\.io\/scaled-down-by-backup=\{"run":"\d+@[^"]+","at":"[^"]+","replicas":1\}$/)],
      ['scale', 'statefulset/owp-neo4j', ...ns, '--replicas=0'],
    ])
    const run = k.find((a) => a[0] === 'run')!
    const pod = run[1]!
    const overrides = JSON.parse(run.find((a) => a.startsWith('--overrides='))!.slice('--overrides='.length))
    expect(overrides.spec.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-owp-neo4j-0' } }]) // the PVC only, not emptyDirs
    expect(overrides.spec.containers[0]).toMatchObject({ image: 'neo4j:5.26.12-community', volumeMounts: [{ name: 'data', mountPath: '/data' }] })
    expect(run).toContain('--labels=app.kubernetes.io/instance=owp,app.kubernetes.io/component=neo4j-maintenance,owp.io/maintenance-of=owp-neo4j')
    // PID 1 ends on SIGTERM: the pod's delete does not wait out the grace period
    expect(run.slice(-3)).toEqual(['sh', '-c', 'trap "exit 0" TERM INT; sleep 86400 & wait'])
    expect(overrides.spec.containers[0].command).toEqual(['sh', '-c', 'trap "exit 0" TERM INT; sleep 86400 & wait'])
    expect(k).toContainEqual(['exec', ...ns, pod, '--', 'neo4j-admin', 'database', 'dump', 'neo4j', '--to-path=/tmp/owp-io'])
    expect(k).toContainEqual(['exec', ...ns, pod, '--', 'cat', '/tmp/owp-io/neo4j.dump'])
    expect(k.slice(-4)).toEqual([
      ['delete', 'pod', pod, ...ns, '--ignore-not-found', '--wait=true'],
      ['scale', 'statefulset/owp-neo4j', ...ns, '--replicas=1'],
      ['annotate', 'statefulset/owp-neo4j', ...ns, 'owp.io/scaled-down-by-backup-'],
      ['rollout', 'status', 'statefulset/owp-neo4j', ...ns, '--timeout=600s'],
    ])

    const kubectl = existsSync(join(TOOLS_BIN, 'kubectl')) ? join(TOOLS_BIN, 'kubectl') : 'kubectl'
    const kubeconfig = join(tmp.path, 'kubeconfig')
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${await closedPort()}"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`)
    for (const argv of k.filter((a, i) => k.findIndex((b) => b[0] === a[0] && b[1] === a[1]) === i)) {
      let stderr = ''
      try { execFileSync(kubectl, [`--kubeconfig=${kubeconfig}`, '--request-timeout=2s', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }) } catch (e) { stderr = String((e as { stderr?: Buffer }).stderr ?? '') }
      expect(stderr, argv.join(' ')).not.toMatch(/unknown (flag|shorthand|command)|invalid argument|flag needs an argument|error: (unknown|required)/i)
      expect(stderr, argv.join(' ')).toMatch(/refused|connect|dial tcp/i)
    }
  })
})

describe('Neo4j with APOC: online export (no downtime, not one snapshot)', () => {
  it('exports through apoc.export.cypher.all, copies it out of the import directory, and replays it on restore; the password only in env', async () => {
    const { ctx, backup, restore, dest } = await setup('direct', { 'neo4j-mode': 'apoc' }, { NEO4J_PASSWORD: PASSWORD, NEO4J_IMPORT_DIR: join(state, 'import') })
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const [set] = listSets(dest, 'neo4j')
    expect(set!.files).toEqual(['manifest.json', 'neo4j.cypher'])
    expect(readManifestJson(set!.dir).details).toMatchObject({ mode: 'apoc', nodes: 3, relationships: 0 })
    expect(readdirSync(join(state, 'import'))).toEqual([]) // the server-side export is removed
    expect(calls().join('\n')).not.toContain(PASSWORD)
    expect(running()).toBe(true)
    expect(calls().some((c) => c.startsWith('neo4j stop'))).toBe(false)

    writeFileSync(join(state, 'databases', 'neo4j'), 'mallory\n')
    const result = await restore()
    expect(result.ok, ctx.stderr()).toBe(true)
    expect(result.stores[0]!.restored).toEqual(['database neo4j from the APOC export (3 nodes)'])
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe('alice\nbob\ncarol\n')
  })
})
