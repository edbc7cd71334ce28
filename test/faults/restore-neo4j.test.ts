// Fault rows of the Neo4j restores: the replay fails half way (the fake cypher-shell applies the
// statements before the failing one and exits 1, as the real shell does), the offline load fails
// half way, and too little room (a real small tmpfs) where the copies set aside would go.
import { afterAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { WRITERS } from '../../scripts/lib/backup/writers.ts'
import { runScript } from '../helpers/run-script.ts'
import { canMount, dfAvailable, mountTmpfs } from '../helpers/tmpfs.ts'

const FAKES = join(ROOT, 'test', 'fixtures', 'backup', 'neo4j-fake')
const PASSWORD = 'neo4j-test-password-42'
const tmp = tmpDir('owp-fault-neo4j-')
const state = join(tmp.path, 'state')
let unmount = () => {}
afterAll(() => {
  try { unmount() } finally { tmp.remove() }
})
/** A graph of `n` nodes, one a line, ~50 bytes each. */
const graph = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-node-${i}-${'x'.repeat(30)}`).join('\n') + '\n'

async function kit(env: Record<string, string> = {}, dest = 'dest') {
  const ctx = testCtx({ yes: true, env: { PATH: `${FAKES}:${process.env.PATH}`, NEO4J_FAKE_STATE: state, NEO4J_FAKE_PASSWORD: PASSWORD, NEO4J_PASSWORD: PASSWORD,
    NEO4J_IMPORT_DIR: join(state, 'import'), BACKUP_STAGING_DIR: tmp.path, ...env } })
  const shared = await resolveShared(ctx, { store: 'neo4j', target: 'direct', dest: join(tmp.path, dest), 'env-file': join(tmp.path, 'empty.env'), 'neo4j-mode': 'apoc' })
  const common = { stores: ['neo4j' as const], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings }
  return { ctx, backup: () => runBackup(ctx, { ...common, verify: true, recipients: [], retention: retentionFrom({}) }), restore: () => runRestore(ctx, { ...common, from: 'latest' }) }
}

describe('neo4j APOC restore faults (fake Neo4j that fails like the real one)', () => {
  it('F-RESTORE-NEO4J-1: the replay fails half way: the previous graph is replayed back, nothing is lost', async () => {
    mkdirSync(join(state, 'databases'), { recursive: true })
    mkdirSync(join(state, 'import'))
    writeFileSync(join(tmp.path, 'empty.env'), '')
    writeFileSync(join(state, 'databases', 'neo4j'), 'alice\nbob\ncarol\n')
    writeFileSync(join(state, 'running'), '')
    writeFileSync(join(state, 'calls'), '')
    const b = await kit()
    expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
    writeFileSync(join(state, 'databases', 'neo4j'), 'dave\nerin\n')

    const r = await kit({ NEO4J_FAKE_FAIL_ON: 'bob' })
    const result = await r.restore()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(/the APOC restore failed; the previous graph was put back/)
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe('dave\nerin\n')
    expect(readdirSync(join(state, 'import'))).toEqual([])
  })

  it('F-RESTORE-NEO4J-5: the replay fails and so does the replay of the previous graph: its export is kept under a name of that run alone, and a retry of the same set leaves it as it was', async () => {
    writeFileSync(join(state, 'databases', 'neo4j'), 'alice\nzed\ncarol\n')
    const b = await kit({}, 'dest-5')
    expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
    writeFileSync(join(state, 'databases', 'neo4j'), 'dave\nzed\nerin\n') // the graph a restore replaces

    const failed = await (await kit({ NEO4J_FAKE_FAIL_ON: 'zed' }, 'dest-5')).restore()
    expect(failed.ok).toBe(false)
    const kept = /the previous graph could not be replayed: it is kept in (\S+\.cypher)/.exec(failed.stores[0]!.error ?? '')?.[1]
    expect(kept, failed.stores[0]!.error).toMatch(/\/owp-pre-restore-[0-9TZ-]+-[0-9a-f]{8}\.cypher$/)
    const held = readFileSync(kept!, 'utf8')
    expect(held).toMatch(/dave[\s\S]*zed[\s\S]*erin/)

    // the retry of the same set (the fault gone) succeeds, and the copy the failed run kept is still there, unchanged
    const retry = await kit({}, 'dest-5')
    const ok = await retry.restore()
    expect(ok.ok, retry.ctx.stderr()).toBe(true)
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe('alice\nzed\ncarol\n')
    expect(readFileSync(kept!, 'utf8')).toBe(held)
    expect(readdirSync(join(state, 'import'))).toEqual([kept!.split('/').at(-1)])
    rmSync(kept!)
  })

  it('F-RESTORE-NEO4J-4: too little room in the import directory for the export of the current graph set aside (a 64 KiB tmpfs, a ~100 KiB graph): the restore stops before the export, the graph untouched', async (t) => {
    if (!canMount) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    rmSync(state, { recursive: true, force: true })
    mkdirSync(join(state, 'databases'), { recursive: true })
    writeFileSync(join(state, 'databases', 'neo4j'), graph('backed-up', 2000))
    writeFileSync(join(state, 'running'), '')
    writeFileSync(join(state, 'calls'), '')
    const b = await kit({}, 'dest-apoc-space')
    expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
    rmSync(join(state, 'import'), { recursive: true, force: true })
    unmount = mountTmpfs(join(state, 'import'), '64k')
    const live = graph('live', 2000)
    writeFileSync(join(state, 'databases', 'neo4j'), live)
    const free = dfAvailable(join(state, 'import'))
    writeFileSync(join(state, 'calls'), '')

    const r = await kit({}, 'dest-apoc-space')
    const result = await r.restore()
    unmount()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(new RegExp(`^not enough space for the export of the current graph set aside on neo4j:${join(state, 'import')}: needs about [\\d.]+ KiB \\([\\d.]+ KiB \\+ 20%\\), ${(free / 1024).toFixed(1)} KiB free; nothing was changed$`))
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe(live)
    expect(readFileSync(join(state, 'calls'), 'utf8')).not.toMatch(/apoc\.export|DETACH DELETE/) // nothing exported, nothing deleted
  })
})

const SHIMS = join(ROOT, 'test', 'fixtures', 'backup', 'shims')

describe('neo4j offline restore faults (fake neo4j-admin whose load fails half way like the real one)', { timeout: 120_000 }, () => {
  it('F-RESTORE-NEO4J-2: the offline load fails half way (the database was already emptied): the copies set aside are loaded back, Neo4j and the writers run again', async () => {
    const services = join(tmp.path, 'services')
    const calls = join(tmp.path, 'shim-calls')
    rmSync(state, { recursive: true, force: true })
    for (const d of [join(state, 'databases'), join(state, 'import'), services, calls]) mkdirSync(d, { recursive: true })
    for (const w of [...WRITERS, 'neo4j']) writeFileSync(join(services, `${w}.running`), '')
    writeFileSync(join(tmp.path, 'empty.env'), '')
    writeFileSync(join(state, 'databases', 'neo4j'), 'alice\nbob\ncarol\n')
    writeFileSync(join(state, 'databases', 'system'), 'users: neo4j\n')
    writeFileSync(join(state, 'running'), '')
    writeFileSync(join(state, 'calls'), '')
    const env = {
      PATH: `${SHIMS}:${FAKES}:${process.env.PATH}`, SHIM_CALLS: calls, SHIM_STATE: services, SHIM_SERVICE_CTL: join(FAKES, 'neo4j'),
      SHIM_NEO4J_ENV: `NEO4J_FAKE_STATE=${state}`, NEO4J_FAKE_STATE: state, BACKUP_STAGING_DIR: tmp.path,
      OWP_LOCK_DIR: join(tmp.path, 'locks'), // this file's leases and stopped writers only (other suites restore compose project owp too)
    }
    const args = (script: string) => ['--store', 'neo4j', '--target', 'compose', '--env-file', join(tmp.path, 'empty.env'), '--dest', join(tmp.path, 'dest-offline'), '--maintenance-window',
      ...(script === 'restore' ? ['--from', 'latest', '--yes'] : ['--metrics-dir', join(tmp.path, 'metrics')])]
    const b = await runScript('scripts/backup.ts', args('backup'), { env, timeoutMs: 120_000 })
    expect(b.code, b.stderr).toBe(0)
    writeFileSync(join(state, 'databases', 'neo4j'), 'dave\nerin\nfrank\ngrace\n')

    const r = await runScript('scripts/restore.ts', args('restore'), { env: { ...env, SHIM_NEO4J_ENV: `NEO4J_FAKE_STATE=${state} NEO4J_FAKE_FAIL_LOAD=neo4j` }, timeoutMs: 120_000 })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/the offline restore failed; the previous databases were put back: [\s\S]*Unexpected end of ZSTD stream/)
    expect(existsSync(join(state, 'load-failed'))).toBe(true) // the fault did fire
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe('dave\nerin\nfrank\ngrace\n')
    expect(readFileSync(join(state, 'databases', 'system'), 'utf8')).toBe('users: neo4j\n')
    expect(existsSync(join(state, 'running'))).toBe(true)
    expect(WRITERS.filter((w) => !existsSync(join(services, `${w}.running`)))).toEqual([])
  })
  it('F-RESTORE-NEO4J-3: too little room where the copies of the current databases would be set aside (a 192 KiB tmpfs as the staging directory, ~100 KiB databases): no copy is attempted, nothing is loaded, Neo4j and the writers run again', async (t) => {
    if (!canMount) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    const services = join(tmp.path, 'services-3')
    const calls = join(tmp.path, 'shim-calls-3')
    rmSync(state, { recursive: true, force: true })
    for (const d of [join(state, 'databases'), join(state, 'import'), services, calls]) mkdirSync(d, { recursive: true })
    for (const w of [...WRITERS, 'neo4j']) writeFileSync(join(services, `${w}.running`), '')
    writeFileSync(join(tmp.path, 'empty.env'), '')
    writeFileSync(join(state, 'databases', 'neo4j'), graph('backed-up', 2000))
    writeFileSync(join(state, 'databases', 'system'), 'users: neo4j\n')
    writeFileSync(join(state, 'running'), '')
    writeFileSync(join(state, 'calls'), '')
    const staging = join(tmp.path, 'small-staging')
    const env = (stagingDir: string) => ({
      PATH: `${SHIMS}:${FAKES}:${process.env.PATH}`, SHIM_CALLS: calls, SHIM_STATE: services, SHIM_SERVICE_CTL: join(FAKES, 'neo4j'),
      SHIM_NEO4J_ENV: `NEO4J_FAKE_STATE=${state}`, NEO4J_FAKE_STATE: state, BACKUP_STAGING_DIR: stagingDir,
      OWP_LOCK_DIR: join(tmp.path, 'locks'),
    })
    const args = (script: string) => ['--store', 'neo4j', '--target', 'compose', '--env-file', join(tmp.path, 'empty.env'), '--dest', join(tmp.path, 'dest-offline-space'), '--maintenance-window',
      ...(script === 'restore' ? ['--from', 'latest', '--yes'] : ['--metrics-dir', join(tmp.path, 'metrics')])]
    const b = await runScript('scripts/backup.ts', args('backup'), { env: env(tmp.path), timeoutMs: 120_000 })
    expect(b.code, b.stderr).toBe(0)
    const live = graph('live', 2000)
    writeFileSync(join(state, 'databases', 'neo4j'), live)
    writeFileSync(join(state, 'calls'), '')

    unmount = mountTmpfs(staging, '192k')
    const r = await runScript('scripts/restore.ts', args('restore'), { env: env(staging), timeoutMs: 120_000 })
    unmount()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`neo4j: restore failed: not enough space for the copies of system, neo4j set aside on ${staging}/owp-restore-neo4j-[^/]+/io: needs about [\\d.]+ KiB \\([\\d.]+ KiB \\+ 20%\\), [\\d.]+ KiB free; nothing was changed`))
    const adminCalls = readFileSync(join(state, 'calls'), 'utf8')
    expect(adminCalls).toMatch(/database load --info/) // the archives were read back first
    expect(adminCalls).not.toMatch(/database dump|database load (system|neo4j)/) // no copy attempted, nothing loaded
    expect(readFileSync(join(state, 'databases', 'neo4j'), 'utf8')).toBe(live)
    expect(existsSync(join(state, 'running'))).toBe(true)
    expect(WRITERS.filter((w) => !existsSync(join(services, `${w}.running`)))).toEqual([])
  })
})
