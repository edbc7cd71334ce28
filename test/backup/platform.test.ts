// One platform set of a real PostgreSQL, a real Redis, two file stores and the encrypted .env:
// one id, a platform manifest written last, `restore --list` showing age/completeness/size, a
// whole-platform restore that takes one set and never a mix, and incomplete sets refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { startPostgres, type Postgres } from '../helpers/postgres.ts'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { runScript } from '../helpers/run-script.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { listPlatformSets } from '../../scripts/lib/backup/platform.ts'
import { listSets } from '../../scripts/lib/backup/list.ts'
import type { StoreName } from '../../scripts/lib/backup/types.ts'

let pg: Postgres
let redis: Redis
const tmp = tmpDir('owp-platform-')
const webui = join(tmp.path, 'webui-data')
const graphrag = join(tmp.path, 'graphrag-data')
const envFile = join(tmp.path, 'prod.env')
const keyFile = join(tmp.path, 'age.key')
let recipient = ''
const STORES: StoreName[] = ['postgres', 'redis', 'files-openwebui', 'files-graphrag', 'config']

function seedFiles(): void {
  mkdirSync(join(webui, 'uploads'), { recursive: true })
  writeFileSync(join(webui, 'uploads', 'report ✓.pdf'), Buffer.alloc(70_000, 7))
  writeFileSync(join(webui, 'uploads', 'notes.txt'), 'naïve notes\n')
  writeFileSync(join(webui, 'webui.db'), 'sqlite stand-in')
  mkdirSync(join(webui, 'cache', 'embedding', 'models'), { recursive: true })
  writeFileSync(join(webui, 'cache', 'embedding', 'models', 'model.bin'), Buffer.alloc(200_000, 1))
  mkdirSync(join(webui, 'vector_db'), { recursive: true })
  writeFileSync(join(webui, 'vector_db', 'chroma.sqlite3'), 'vectors live in qdrant')
  mkdirSync(join(graphrag, 'output', 'deep', 'x'.repeat(120)), { recursive: true })
  writeFileSync(join(graphrag, 'output', 'deep', 'x'.repeat(120), 'entities.parquet'), Buffer.alloc(3000, 3))
  mkdirSync(join(graphrag, 'cache'), { recursive: true })
  writeFileSync(join(graphrag, 'cache', 'llm.json'), '{}')
}

function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(p, r)
      else out[r] = `${statSync(p).size}:${readFileSync(p).toString('base64').slice(0, 40)}`
    }
  }
  walk(dir, '')
  return out
}

async function shared(dest: string, extra: Record<string, string | boolean> = {}) {
  const ctx = testCtx({ env: { ...pg.env, ...redis.env, OPENWEBUI_DATA_DIR: webui, GRAPHRAG_DATA_DIR: graphrag, BACKUP_STAGING_DIR: tmp.path }, yes: true })
  const s = await resolveShared(ctx, { target: 'direct', dest, 'env-file': envFile, timeout: '120', 'config-recipient': recipient, ...extra })
  return { ctx, s }
}

async function backupAll(dest: string, stores = STORES) {
  const { ctx, s } = await shared(dest)
  // this server does not archive its WAL: the set asks it, takes no pgBackRest backup, and never builds the pgBackRest site
  const pitr = { site: () => { throw new Error('the pgBackRest site was built for a server that does not archive') } }
  const report = await runBackup(ctx, { stores, explicit: false, platform: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({ 'keep-daily': '0', 'keep-weekly': '0', 'keep-monthly': '0' }), pitr })
  return { ctx, report }
}

beforeAll(async () => {
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' })
  recipient = execFileSync('age-keygen', ['-y', keyFile]).toString().trim()
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis({ supervised: true })])
  writeFileSync(envFile, `POSTGRES_PASSWORD=${pg.env.PGPASSWORD}\nDOMAIN=chat.example.com\nWEBUI_SECRET_KEY=not-in-clear-anywhere-0123456789\n`)
  pg.sql('CREATE TABLE chats (id int PRIMARY KEY, body text); INSERT INTO chats SELECT i, md5(i::text) FROM generate_series(1, 300) i;')
  redis.cli(['SET', 'session:1', 'x'])
  redis.cli(['SET', 'session:2', 'y'])
  seedFiles()
}, 120_000)

afterAll(async () => {
  await Promise.all([pg?.stop(), redis?.stop()])
  tmp.remove()
})

describe('platform sets with real PostgreSQL, Redis and files', () => {
  it('takes every store under one id, the platform manifest last, files without caches, the .env never in clear', async () => {
    const dest = join(tmp.path, 'one')
    const { ctx, report } = await backupAll(dest)
    expect(report.ok, ctx.stderr()).toBe(true)
    const ids = new Set(report.stores.map((x) => x.id))
    expect(ids.size).toBe(1)
    const [id] = [...ids] as string[]
    expect(report.platform).toMatchObject({ id, state: 'complete', stores: 5, expected: 5 })
    expect(report.pitr).toBeUndefined()
    expect(ctx.stderr()).toContain('the server does not archive WAL through pgBackRest: no point-in-time base backup in this set')
    const m = JSON.parse(readFileSync(join(dest, 'platform', `${id}.json`), 'utf8'))
    expect(m.pitr).toBeUndefined()
    expect(m.parts.map((p: { store: string }) => p.store)).toEqual(STORES)
    for (const p of m.parts) expect(p).toMatchObject({ bytes: expect.any(Number), digest: expect.stringMatching(/^[0-9a-f]{64}$/), verified: true, tools: expect.any(Object) })
    expect(existsSync(join(dest, 'platform', `${id}.pending.json`))).toBe(false)
    // written last: no part's manifest is newer than the platform manifest
    const pm = statSync(join(dest, 'platform', `${id}.json`)).mtimeMs
    for (const s of STORES) expect(statSync(join(dest, s, id!, 'manifest.json')).mtimeMs).toBeLessThanOrEqual(pm)
    const webuiPart = m.parts.find((p: { store: string }) => p.store === 'files-openwebui')
    expect(webuiPart.content).toMatchObject({ files: 3, bytes: 70_000 + Buffer.byteLength('naïve notes\n') + 15 })
    expect(webuiPart.content.excluded.map((e: { path: string }) => e.path)).toEqual(['cache', 'vector_db'])
    expect(m.parts.find((p: { store: string }) => p.store === 'postgres').content.tables.postgres).toMatchObject({ 'public.chats': 300 })
    // the configuration: only the age file, and no secret of it anywhere in the set or the log
    expect(readdirSync(join(dest, 'config', id!)).sort()).toEqual(['env.age', 'manifest.json'])
    const grep = spawnSync('grep', ['-r', '-l', 'not-in-clear-anywhere', dest], { encoding: 'utf8' })
    expect([grep.status, grep.stdout]).toEqual([1, ''])
    expect(ctx.stderr()).not.toContain('not-in-clear-anywhere')
  })

  it('restore --list shows platform sets with age, completeness and size; a set without its platform manifest is incomplete and refused', async () => {
    const dest = join(tmp.path, 'list')
    const first = await backupAll(dest)
    const second = await backupAll(dest)
    expect(second.report.platform!.state).toBe('complete')
    // a run killed before its manifest: the pending marker stays, the manifest never came
    const killedId = '2099-01-01T00-00-00Z'
    mkdirSync(join(dest, 'platform'), { recursive: true })
    writeFileSync(join(dest, 'platform', `${killedId}.pending.json`), JSON.stringify({ format: 'owp-platform/1', id: killedId, startedAt: '2099-01-01T00:00:00Z', expected: STORES }))
    const { ctx, s } = await shared(dest)
    const listed = await listSets(ctx, s.dest, s.stores, new Date('2099-01-01T01:00:00Z'))
    const rows = (listed.data as { platform: Array<{ id: string; state: string; bytes: number; age: string }> }).platform
    expect(rows.map((r) => [r.id, r.state])).toEqual([[killedId, 'incomplete'], [second.report.platform!.id, 'complete'], [first.report.platform!.id, 'complete']])
    expect(rows[0]!.age).toBe('60m')
    expect(rows[1]!.bytes).toBeGreaterThan(70_000)
    expect(listed.text).toMatch(/INCOMPLETE +0\/5 .*no platform manifest \(the run did not finish\)/)
    // the CLI: a table, and --json
    const cli = await runScript('scripts/restore.ts', ['--list', '--target', 'direct', '--dest', dest, '--env-file', envFile, '--json'])
    expect(cli.code, cli.stderr).toBe(0)
    expect(JSON.parse(cli.stdout).platform.map((r: { state: string }) => r.state)).toEqual(['incomplete', 'complete', 'complete'])
    // --from the killed set is refused; latest is the newest COMPLETE set
    const refused = await runRestore(ctx, { stores: s.stores, explicit: false, from: killedId, target: s.target, dest: s.dest, settings: s.settings }).catch((e: Error) => e)
    expect(String(refused)).toContain(`refusing to restore platform set ${killedId}: it is incomplete (no platform manifest`)
    const sets = await listPlatformSets(ctx, s.dest)
    expect(sets.find((x) => x.state === 'complete' && x.id === second.report.platform!.id)).toBeTruthy()
  })

  it('a platform set with a part removed is incomplete; with a failed store it is partial and refused without --allow-partial', async () => {
    const dest = join(tmp.path, 'partial')
    const { report } = await backupAll(dest, ['redis', 'files-graphrag'])
    const id = report.platform!.id
    rmSync(join(dest, 'files-graphrag', id, 'manifest.json'))
    const { ctx, s } = await shared(dest)
    const [set] = await listPlatformSets(ctx, s.dest)
    expect(set).toMatchObject({ id, state: 'incomplete', why: 'files-graphrag part is gone or incomplete' })
    const e = await runRestore(ctx, { stores: s.stores, explicit: false, from: 'latest', target: s.target, dest: s.dest, settings: s.settings }).catch((x: Error) => x)
    expect(String(e)).toContain('no complete platform set in')
    // a store that fails: the platform manifest records it, the set is partial
    const broken = await shared(dest)
    broken.s.settings.env.GRAPHRAG_DATA_DIR = join(tmp.path, 'no-such-dir')
    const r2 = await runBackup(broken.ctx, { stores: ['redis', 'files-graphrag'], explicit: false, platform: true, target: broken.s.target, dest: broken.s.dest, settings: broken.s.settings, verify: true, recipients: [], retention: retentionFrom({}) })
    expect(r2.ok).toBe(false)
    expect(r2.platform).toMatchObject({ state: 'partial', stores: 1, expected: 2, missing: [{ store: 'files-graphrag', reason: expect.stringContaining('tar exited 2') }] })
  })

  it('a part replaced after the set was taken (its own manifest made to match) is never restored, not even with --allow-partial; the rest is', async () => {
    const dest = join(tmp.path, 'replaced')
    const { report } = await backupAll(dest, ['redis', 'files-graphrag'])
    const id = report.platform!.id
    const partDir = join(dest, 'files-graphrag', id)
    // another archive, and the part's manifest rewritten to its checksum and counts
    const evil = join(tmp.path, 'evil')
    mkdirSync(evil)
    writeFileSync(join(evil, 'out.txt'), 'EVIL')
    execFileSync('tar', ['-C', evil, '-cf', join(partDir, 'files.tar'), '.'])
    const bytes = readFileSync(join(partDir, 'files.tar'))
    const m = JSON.parse(readFileSync(join(partDir, 'manifest.json'), 'utf8'))
    const f = m.files.find((x: { name: string }) => x.name === 'files.tar')
    f.sha256 = createHash('sha256').update(bytes).digest('hex')
    f.bytes = bytes.length
    Object.assign(m.details, { files: 1, bytes: 4, dirs: 1 })
    writeFileSync(join(partDir, 'manifest.json'), JSON.stringify(m))
    const graphragBefore = treeOf(graphrag)
    const { ctx, s } = await shared(dest)
    const [set] = await listPlatformSets(ctx, s.dest)
    expect(set).toMatchObject({ id, state: 'incomplete', why: 'files-graphrag part differs from the platform manifest' })
    expect(set!.parts.map((p) => p.store)).toEqual(['redis'])
    const r = await runRestore(ctx, { stores: STORES, explicit: false, from: id, allowPartial: true, target: s.target, dest: s.dest, settings: s.settings })
    expect(r.ok, ctx.stderr()).toBe(true)
    expect(r.stores.map((x) => [x.store, x.set ?? x.skipped])).toEqual([
      ['redis', id],
      ['files-graphrag', `platform set ${id}: files-graphrag part differs from the platform manifest`],
    ])
    expect(treeOf(graphrag)).toEqual(graphragBefore)
    expect(existsSync(join(graphrag, 'out.txt'))).toBe(false)
  })

  it('the escrowed .env: a dry run decrypts nothing where anyone could read it and writes no .env; the restore writes it 0600 in one rename', async () => {
    const dest = join(tmp.path, 'config-only')
    const { report } = await backupAll(dest, ['config'])
    const id = report.platform!.id
    const restoredEnv = `${envFile}.restored-${id}`
    const { s } = await shared(dest)
    const plan = testCtx({ env: { ...pg.env, BACKUP_STAGING_DIR: tmp.path }, yes: true, dryRun: true })
    const dry = await runRestore(plan, { stores: ['config'], explicit: true, from: id, target: s.target, dest: s.dest, settings: s.settings, identity: keyFile })
    expect(dry.ok, plan.stderr()).toBe(true)
    expect(existsSync(restoredEnv), 'a dry run wrote the decrypted .env').toBe(false)
    const { ctx } = await shared(dest)
    const r = await runRestore(ctx, { stores: ['config'], explicit: true, from: id, target: s.target, dest: s.dest, settings: s.settings, identity: keyFile })
    expect(r.ok, ctx.stderr()).toBe(true)
    expect(readFileSync(restoredEnv, 'utf8')).toBe(readFileSync(envFile, 'utf8'))
    expect(statSync(restoredEnv).mode & 0o777).toBe(0o600)
    expect(readdirSync(tmp.path).filter((f) => f.includes('.partial-'))).toEqual([])
    unlinkSync(restoredEnv)
  })

  it('an empty data directory (a volume not mounted) is backed up with a warning that says so', async () => {
    const empty = join(tmp.path, 'empty-graphrag')
    mkdirSync(empty)
    const { ctx, s } = await shared(join(tmp.path, 'empty-dest'))
    s.settings.env.GRAPHRAG_DATA_DIR = empty
    const r = await runBackup(ctx, { stores: ['files-graphrag'], explicit: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({}) })
    expect(r.ok, ctx.stderr()).toBe(true)
    expect(ctx.stderr()).toContain(`files-graphrag: ${empty} holds no file (is the volume mounted where it should be?): the set is empty, and restoring it would empty the directory`)
  })

  it('restores the whole platform from one set, never a mix, even when a store has a newer single-store set', async () => {
    const dest = join(tmp.path, 'restore')
    const { report } = await backupAll(dest)
    const id = report.platform!.id
    const webuiBefore = treeOf(webui)
    const graphragBefore = treeOf(graphrag)
    // a newer single-store redis set with other data: a per-store "latest" would pick it
    redis.cli(['SET', 'session:3', 'newer'])
    await new Promise((r) => setTimeout(r, 1100))
    const { ctx: c1, s: s1 } = await shared(dest, { store: 'redis' })
    const single = await runBackup(c1, { stores: ['redis'], explicit: true, target: s1.target, dest: s1.dest, settings: s1.settings, verify: true, recipients: [], retention: retentionFrom({}) })
    expect(single.stores[0]!.id).not.toBe(id)
    // the disaster: data changed everywhere
    pg.sql('DELETE FROM chats WHERE id > 10')
    redis.cli(['FLUSHALL'])
    rmSync(join(webui, 'uploads'), { recursive: true })
    writeFileSync(join(graphrag, 'output', 'junk'), 'after the backup')
    const { ctx, s } = await shared(dest)
    const r = await runRestore(ctx, { stores: STORES, explicit: false, from: 'latest', target: s.target, dest: s.dest, settings: s.settings, identity: keyFile })
    expect(r.ok, ctx.stderr()).toBe(true)
    expect(r.platform).toMatchObject({ id, state: 'complete' })
    expect(r.stores.map((x) => [x.store, x.set])).toEqual(STORES.map((st) => [st, id]))
    expect(pg.sql('SELECT count(*) FROM chats')).toBe('300')
    expect(redis.cli(['DBSIZE']).trim()).toBe('2')
    // caches stay where they were; everything else is the set's; the previous data is kept aside
    const kept = readdirSync(webui).filter((n) => n.startsWith('.owp-pre-restore-'))
    expect(kept).toEqual([`.owp-pre-restore-${id}`])
    const now = treeOf(webui)
    for (const k of Object.keys(now)) if (k.startsWith('.owp-pre-restore-')) delete now[k]
    expect(now).toEqual(webuiBefore)
    const g = treeOf(graphrag)
    for (const k of Object.keys(g)) if (k.startsWith('.owp-pre-restore-')) delete g[k]
    expect(g).toEqual(graphragBefore)
    // the .env came back beside the current one, decrypted, 0600
    const restoredEnv = `${envFile}.restored-${id}`
    expect(readFileSync(restoredEnv, 'utf8')).toBe(readFileSync(envFile, 'utf8'))
    expect(statSync(restoredEnv).mode & 0o777).toBe(0o600)
    // a second restore stops: the data set aside by the first is the last good copy
    unlinkSync(restoredEnv)
    const again = await runRestore(ctx, { stores: ['files-openwebui'], explicit: true, from: id, target: s.target, dest: s.dest, settings: s.settings })
    expect(again.ok).toBe(false)
    expect(again.stores[0]!.error).toBe(`files-openwebui: ${webui}/.owp-pre-restore-${id} holds what this directory held before an earlier restore: remove it once that restore is confirmed, then run this one again; nothing was changed`)
    // refused before anything was extracted beside the data
    expect(readdirSync(webui).filter((n) => n.startsWith('.owp-restore-'))).toEqual([])
    // the next backup leaves what the restore kept out of the set, says so, and writes its size and age
    const metricsDir = join(tmp.path, 'kept-metrics')
    const { ctx: bctx, s: bs } = await shared(join(tmp.path, 'after-restore'), { store: 'files-openwebui' })
    const next = await runBackup(bctx, { stores: ['files-openwebui'], explicit: true, target: bs.target, dest: bs.dest, settings: bs.settings, verify: true, recipients: [], retention: retentionFrom({}), metricsDir })
    expect(next.stores[0], bctx.stderr()).toMatchObject({ ok: true })
    expect(bctx.stderr()).toContain(`files-openwebui: not backed up: .owp-pre-restore-${id} in ${webui} (what a restore replaced, kept until you remove it)`)
    const prom = readFileSync(join(metricsDir, 'backup_files-openwebui.prom'), 'utf8')
    const sample = (name: string) => Number(new RegExp(`^${name}\\{store="files-openwebui"\\} (\\d+)$`, 'm').exec(prom)?.[1])
    expect(sample('backup_restore_kept_bytes')).toBe(Number(execFileSync('du', ['-sk', `.owp-pre-restore-${id}`], { cwd: webui }).toString().split('\t')[0]) * 1024)
    expect(Math.abs(sample('backup_restore_kept_since_timestamp_seconds') - Date.now() / 1000)).toBeLessThan(600)
  })

  it('a whole-platform restore without an age identity restores the rest and leaves the escrowed .env in the set', async () => {
    const dest = join(tmp.path, 'noidentity')
    const { report } = await backupAll(dest, ['redis', 'config'])
    const { ctx, s } = await shared(dest)
    const r = await runRestore(ctx, { stores: STORES, explicit: false, from: 'latest', target: s.target, dest: s.dest, settings: { ...s.settings, identity: undefined } })
    expect(r.ok, ctx.stderr()).toBe(true)
    expect(r.stores.map((x) => [x.store, x.set ?? x.skipped])).toEqual([
      ['redis', report.platform!.id],
      ['config', 'no --identity: the configuration stays in the set (restore it with --store config --identity <key>)'],
    ])
    expect(existsSync(`${envFile}.restored-${report.platform!.id}`)).toBe(false)
  })

  it('refuses to back up the configuration without a recipient, naming the flag', async () => {
    const dest = join(tmp.path, 'norecipient')
    const r = await runScript('scripts/backup.ts', ['--store', 'config', '--target', 'direct', '--dest', dest, '--env-file', envFile])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('the configuration (.env) is only backed up encrypted: pass --config-recipient age1...')
    expect(existsSync(join(dest, 'config'))).toBe(false)
  })
})
