// Point-in-time recovery with the real thing: PostgreSQL 15 archiving its WAL through the real
// pgbackrest binary into a local repository, and the kit's backup.ts --pitr / restore.ts --to
// run as processes a user would start (--target direct: the server on this host).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { startPostgres, type Postgres } from '../helpers/postgres.ts'
import { runScript, type ScriptResult } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { waitFor, which } from './support.ts'
import { testCtx } from '../helpers/context.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { pitrSite } from '../../scripts/lib/backup/pitr/index.ts'
import { archivesThroughPgbackrest } from '../../scripts/lib/backup/platform-pitr.ts'

let pg: Postgres
const tmp = tmpDir('owp-pitr-')
const dest = join(tmp.path, 'dest')
const metrics = join(tmp.path, 'metrics')
const config = join(tmp.path, 'etc', 'pgbackrest.conf')
const emptyEnv = join(tmp.path, 'empty.env')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** A moment after the first recovery's target, before that recovery ran (on timeline 1). */
let beforeFirstRecovery = ''

const kitEnv = () => ({ PGDATA: pg.dataDir, PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: 'postgres', PGBACKREST_CONFIG: config, PGPASSWORD: undefined })
const common = ['--store', 'postgres', '--target', 'direct', '--dest', dest, '--env-file', emptyEnv]
const backup = (args: string[] = []) => runScript('scripts/backup.ts', [...common, '--pitr', '--metrics-dir', metrics, ...args], { env: kitEnv(), timeoutMs: 300_000 })
const restore = (to: string, o: Parameters<typeof runScript>[2] = {}) =>
  runScript('scripts/restore.ts', [...common, '--to', to, '--yes'], { env: kitEnv(), timeoutMs: 300_000, ...o })
const sql = (q: string) => pg.sql(q)
const failed = (r: ScriptResult) => `exit ${r.code}\n${r.stderr}\n${r.stdout}`

/** Close the current WAL segment and wait until the archiver has pushed it. */
async function archiveNow(): Promise<void> {
  const segment = sql('SELECT pg_walfile_name(pg_switch_wal())')
  await waitFor(`WAL ${segment} archived`, () => sql('SELECT coalesce(last_archived_wal, \'\') FROM pg_stat_archiver') >= segment, 60_000)
}

beforeAll(async () => {
  which('pgbackrest')
  chmodSync(tmp.path, 0o755) // the server's user walks to the configuration and the repository
  mkdirSync(dirname(config), { recursive: true })
  mkdirSync(dest)
  writeFileSync(emptyEnv, '')
  // more connections than a server started without options allows (100), as the compose service
  // runs (200): the scratch server that replays the WAL must match it or recovery aborts
  pg = await startPostgres({ archive: { pgbackrestConfig: config }, settings: ['max_connections=150'] })
  // the server's user reads the configuration the kit writes there
  chownSync(dirname(config), Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()))
  sql('CREATE TABLE notes (id serial PRIMARY KEY, tag text NOT NULL, body text)')
}, 60_000)

afterAll(async () => {
  await pg?.stop()
  tmp.remove()
})

describe('point-in-time recovery with pgBackRest and a real PostgreSQL 15', () => {
  it('refuses a time before the first backup, with the earliest recoverable moment, and changes nothing', async () => {
    const first = await backup()
    expect(first.code, failed(first)).toBe(0)
    expect(first.stdout).toMatch(/postgres \(pitr\): full backup \d{8}-\d{6}F finished/)
    expect(readFileSync(config, 'utf8')).toContain(`repo1-path=${join(dest, 'pgbackrest')}`)
    sql("INSERT INTO notes (tag) VALUES ('early')")
    const r = await restore('2020-01-01T00:00:00Z')
    expect(r.code, failed(r)).toBe(1)
    expect(r.stderr).toMatch(/refusing to recover to 2020-01-01T00:00:00.000Z: it is before the first backup .* which finished at \d{4}-.*the earliest moment this repository can recover to is/)
    expect(sql("SELECT count(*) FROM notes WHERE tag = 'early'")).toBe('1')
    expect(readdirSync(dirname(pg.dataDir)).filter((d) => d.includes('.pitr-'))).toEqual([])
  }, 300_000)

  it('recovers to a moment between two transactions: the rows of the first are there, the rows of the second are not', async () => {
    sql("INSERT INTO notes (tag, body) SELECT 'A', md5(g::text) FROM generate_series(1, 500) g")
    await sleep(1100)
    const target = sql(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`)
    await sleep(1100)
    sql("INSERT INTO notes (tag, body) SELECT 'B', md5(g::text) FROM generate_series(1, 300) g")
    await sleep(1100)
    beforeFirstRecovery = sql(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`)
    await sleep(1100)
    sql("INSERT INTO notes (tag) VALUES ('C')")
    await archiveNow()

    const r = await restore(target)
    expect(r.code, failed(r)).toBe(0)
    expect(r.stdout).toContain(`postgres: recovered to ${target}`)
    expect(r.stdout).toMatch(/previous data kept, untouched: .*data\.pre-pitr-/)
    expect(sql("SELECT count(*) FROM notes WHERE tag = 'A'")).toBe('500')
    expect(sql("SELECT count(*) FROM notes WHERE tag = 'B'")).toBe('0')
    expect(sql('SELECT pg_is_in_recovery()')).toBe('f')
    // the previous data is kept as it was, the B rows in it
    const kept = readdirSync(dirname(pg.dataDir)).filter((d) => d.includes('.pre-pitr-'))
    expect(kept).toHaveLength(1)
    // archiving goes on, on the new timeline
    sql("INSERT INTO notes (tag) VALUES ('after')")
    await archiveNow()
    expect(sql('SELECT last_archived_wal FROM pg_stat_archiver')).toMatch(/^00000002/)
  }, 300_000)

  it('a second recovery to a moment after the first one\'s target but before it ran follows the timeline production was on then: what the first one undid is back', async () => {
    // timeline 2 (the first recovery) holds A and 'after'; at that moment production (timeline 1) held A and B
    const r = await restore(beforeFirstRecovery)
    expect(r.code, failed(r)).toBe(0)
    expect(sql("SELECT string_agg(tag || ':' || n, ' ' ORDER BY tag) FROM (SELECT tag, count(*) n FROM notes GROUP BY tag) t")).toBe('A:500 B:300 early:1')
    expect(r.stderr).toContain('along timeline 1 (the one production ran on then: an earlier recovery branched the history)')
    const records = JSON.parse(readFileSync(join(dest, 'platform', 'pitr-timelines.json'), 'utf8'))
    expect(records.map((x: { timeline: number; parent: number }) => [x.timeline, x.parent])).toEqual([[2, 1], [3, 1]])
  }, 300_000)

  it('a restore killed while it restores leaves the running cluster as it was', async () => {
    const before = sql('SELECT count(*) FROM notes')
    const target = sql(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`)
    await sleep(1100)
    sql("INSERT INTO notes (tag) VALUES ('late')")
    await archiveNow()
    let pid = 0
    const run = restore(target, {
      onSpawn: (p) => { pid = p },
    })
    // kill it (the whole tree: tsx, node and pgbackrest) once the copy beside the data is being written
    await waitFor('the restored copy to appear', () => readdirSync(dirname(pg.dataDir)).some((d) => d.includes('.pitr-') && !d.includes('.pre-pitr-') && !d.endsWith('.log')
      && readdirSync(join(dirname(pg.dataDir), d)).length > 0), 120_000)
    execFileSync('pkill', ['-KILL', '-P', String(pid)])
    process.kill(pid, 'SIGKILL')
    await run
    expect(sql('SELECT pg_is_in_recovery()')).toBe('f')
    expect(Number(sql('SELECT count(*) FROM notes'))).toBe(Number(before) + 1)
    // the next run converges: the debris of the killed one is no obstacle
    const again = await restore(target)
    expect(again.code, failed(again)).toBe(0)
    expect(sql("SELECT count(*) FROM notes WHERE tag = 'late'")).toBe('0')
  }, 300_000)

  it('archive-push failing (repository unwritable) fails the pitr backup and shows in pg_stat_archiver, which the alert reads', async () => {
    const archive = join(dest, 'pgbackrest', 'archive', 'owp')
    const failedBefore = Number(sql('SELECT failed_count FROM pg_stat_archiver'))
    execFileSync('chmod', ['-R', 'a-w', archive])
    try {
      sql("INSERT INTO notes (tag) VALUES ('unarchived')")
      sql('SELECT pg_switch_wal()')
      await waitFor('a failed archive attempt', () => Number(sql('SELECT failed_count FROM pg_stat_archiver')) > failedBefore, 60_000)
      const r = await backup(['--timeout', '120'])
      expect(r.code, failed(r)).toBe(1)
      expect(r.stderr).toContain('WAL archiving does not work, no backup taken')
      expect(readFileSync(join(metrics, 'backup_postgres-pitr.prom'), 'utf8')).toContain('backup_last_run_success{store="postgres-pitr"} 0')
    } finally {
      execFileSync('chmod', ['-R', 'u+w', archive])
    }
    // writable again: the archiver catches up by itself, nothing was lost
    await archiveNow()
    expect(Number(sql("SELECT count(*) FROM notes WHERE tag = 'unarchived'"))).toBe(1)
  }, 300_000)

  it('make backup: the platform set takes a pgBackRest backup after the dump when the server archives through pgBackRest, and its manifest records it', async () => {
    // the same destination (and so the same pgBackRest repository) as the backup --pitr runs above
    const ctx = testCtx({ env: { ...kitEnv(), BACKUP_STAGING_DIR: tmp.path }, yes: true })
    const s = await resolveShared(ctx, { target: 'direct', dest, 'env-file': emptyEnv, timeout: '120' })
    const pitr = { site: () => pitrSite(ctx, 'direct', s.env, { 'env-file': emptyEnv }), metricsDir: metrics }
    const report = await runBackup(ctx, { stores: ['postgres'], explicit: false, platform: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({}), pitr })
    expect(report.ok, ctx.stderr()).toBe(true)
    expect(report.pitr).toMatchObject({ ok: true, backup: { type: 'diff', label: expect.stringMatching(/^\d{8}-\d{6}F_\d{8}-\d{6}D$/) } })
    expect(report.pitr!.backups).toBeGreaterThanOrEqual(2)
    const m = JSON.parse(readFileSync(join(dest, 'platform', `${report.platform!.id}.json`), 'utf8'))
    expect(m.pitr).toEqual({ ok: true, label: report.pitr!.backup!.label, type: 'diff', finished: report.pitr!.backup!.finished, recoverableFrom: report.pitr!.recoverableFrom })
    expect(m.parts.map((p: { store: string }) => p.store)).toEqual(['postgres'])
    expect(readFileSync(join(metrics, 'backup_postgres-pitr.prom'), 'utf8')).toContain('backup_last_run_success{store="postgres-pitr"} 1')
  }, 300_000)

  it('archiving counts as configured only with archive_mode on and an archive_command that pushes through pgBackRest', () => {
    expect(archivesThroughPgbackrest('on|pgbackrest --stanza=owp archive-push %p')).toBe(true)
    expect(archivesThroughPgbackrest('always|/usr/bin/pgbackrest --stanza=owp archive-push %p')).toBe(true)
    expect(archivesThroughPgbackrest('off|pgbackrest --stanza=owp archive-push %p')).toBe(false)
    expect(archivesThroughPgbackrest('on|cp %p /mnt/archive/%f')).toBe(false)
    expect(archivesThroughPgbackrest('on|(disabled)')).toBe(false)
    expect(archivesThroughPgbackrest('')).toBe(false)
  })
})
