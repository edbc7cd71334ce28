// PostgreSQL backups against a real PostgreSQL 15 the suite starts: what a user of
// `tsx scripts/backup.ts` / `restore.ts` sees, run as real processes.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, readFileSync, appendFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPostgres, type Postgres } from '../helpers/postgres.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { INSERTED_SQL, insertedCounts, waitForSessionsSql } from '../../scripts/lib/backup/stores/pg-common.ts'
import { contentChecksums, killPidFile, listSets, readManifestJson, waitFor, which, wrapper } from './support.ts'

const FIXTURES = join(ROOT, 'test', 'fixtures', 'backup')
let pg: Postgres
const tmp = tmpDir('owp-pg-backup-')
let baseline: { dest: string; id: string; sums: Record<string, string> }

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { ...pg.env, BACKUP_STAGING_DIR: join(tmp.path, 'staging'), OWP_LOCK_DIR: join(tmp.path, 'locks'), ...extra }
}
/** The postgres store's lease files in the kit lock dir of these runs. */
const pgLocks = () => existsSync(join(tmp.path, 'locks')) ? readdirSync(join(tmp.path, 'locks')).filter((f) => /^store-postgres-.*\.lock$/.test(f)) : []
// An empty env file: the repository's own .env (if any) must not leak into these runs.
const emptyEnv = () => join(tmp.path, 'empty.env')
const backup = (args: string[], extra: Record<string, string> = {}, o: Parameters<typeof runScript>[2] = {}) =>
  runScript('scripts/backup.ts', ['--store', 'postgres', '--target', 'direct', '--env-file', emptyEnv(), ...args], { env: env(extra), ...o })
const restore = (args: string[], extra: Record<string, string> = {}) =>
  runScript('scripts/restore.ts', ['--store', 'postgres', '--target', 'direct', '--env-file', emptyEnv(), ...args], { env: env(extra) })

/** The kit's databases other than what a restore replaced and kept for the operator: scratch copies, leftovers. */
const scratchLeft = () => pg.sql(`SELECT count(*) FROM pg_database WHERE datname LIKE '%owp_%' AND coalesce(shobj_description(oid, 'pg_database'), '') NOT LIKE 'owp-replaced:%'`)
/** What restores replaced and kept: "<name> <comment>" per line. */
const keptCopies = () => pg.sql(`SELECT string_agg(datname || ' ' || shobj_description(oid, 'pg_database'), E'\\n' ORDER BY datname) FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE 'owp-replaced:%'`)
/** Drop what restores kept (as an operator does once a restore is confirmed). */
const dropKept = () => { for (const line of keptCopies().split('\n').filter(Boolean)) pg.sql(`DROP DATABASE "${line.split(' ')[0]}"`) }

/** The same runs in-process (no process start-up): for checks that do not need a real exit code. */
async function inProcess(dest: string, o: { yes?: boolean; env?: Record<string, string>; verbose?: boolean; dryRun?: boolean } = {}) {
  const ctx = testCtx({ env: env(o.env), yes: o.yes ?? true, verbose: o.verbose, dryRun: o.dryRun })
  const shared = await resolveShared(ctx, { store: 'postgres', target: 'direct', dest, 'env-file': emptyEnv() })
  const common = { explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings }
  return {
    ctx,
    backup: (x: { recipients?: string[]; verify?: boolean } = {}) => runBackup(ctx, { ...common, stores: ['postgres'], verify: x.verify ?? true, recipients: x.recipients ?? [], retention: retentionFrom({}) }),
    restore: (from = 'latest', identity?: string) => runRestore(ctx, { ...common, stores: ['postgres'], from, identity }),
    list: () => shared.dest.list(ctx, 'postgres'),
  }
}

beforeAll(async () => {
  pg = await startPostgres()
  pg.sql('CREATE DATABASE app')
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'app', '-f', join(FIXTURES, 'dataset.sql')], { env: { ...process.env, ...pg.env }, stdio: 'pipe' })
  mkdirSync(join(tmp.path, 'staging'))
  writeFileSync(emptyEnv(), '')
})

afterAll(async () => {
  await pg?.stop()
  tmp.remove()
})

describe('backup.ts / restore.ts with a real PostgreSQL 15', () => {
  it('backs up roles and every database, and after they are dropped restores them with equal content checksums per table', async () => {
    const dest = join(tmp.path, 'main')
    const metrics = join(tmp.path, 'metrics')
    const before = contentChecksums(pg, 'app')
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['billing.invoices', '"Ünïcode Schema"."Tåble ✓"', 'public.events', 'public.measurements_eu']))

    const r = await backup(['--dest', dest, '--json', '--metrics-dir', metrics])
    expect(r.stderr).toMatch(/postgres: verify: app \(\d+ tables\)/)
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.stores[0]).toMatchObject({ store: 'postgres', ok: true, verified: true })
    expect(r.stdout + r.stderr).not.toContain(pg.password)

    const [set] = listSets(dest, 'postgres')
    expect(set!.files).toEqual(['db-app.dump', 'db-postgres.dump', 'globals.sql', 'manifest.json'])
    const m = readManifestJson(set!.dir)
    expect(m.verified.ok).toBe(true)
    expect(m.tools.pg_dump).toMatch(/^pg_dump \(PostgreSQL\) 15/)
    expect(m.server.version).toMatch(/^15\./)
    expect(m.details.databases.app.tables['public.events']).toBe(100_000)
    expect(m.details.databases.app.tables['pg_largeobject_metadata']).toBe(1)
    expect(readFileSync(join(set!.dir, 'globals.sql'), 'utf8')).toContain('CREATE ROLE app_reader')
    expect(readFileSync(join(metrics, 'backup_postgres.prom'), 'utf8')).toMatch(/^backup_last_run_success\{store="postgres"\} 1$/m)

    pg.sql('DROP DATABASE app')
    pg.sql('DROP ROLE app_reader')
    const back = await restore(['--dest', dest, '--from', 'latest', '--yes'])
    expect(back.code, back.stderr).toBe(0)
    expect(back.stdout).toContain(`restored set ${set!.id} from ${set!.dir} into postgres at 127.0.0.1:${pg.port}`)
    expect(back.stdout).toMatch(/database app \(\d+ tables, row counts checked\)/)
    expect(back.stdout + back.stderr).not.toContain(pg.password)

    expect(contentChecksums(pg, 'app')).toEqual(before)
    // The role came back with its password and grants.
    const asReader = execFileSync('psql', ['-X', '-At', '-d', 'app', '-c', "SELECT has_table_privilege('billing.invoices', 'SELECT')"],
      { env: { ...process.env, ...pg.env, PGUSER: 'app_reader', PGPASSWORD: 'reader-pass-1234' } }).toString().trim()
    expect(asReader).toBe('t')
    baseline = { dest, id: set!.id, sums: before }
  })

  it('restores over a live database: changed rows are replaced, what the database held is kept beside it (never backed up, named by later restores); the copy is proven by the rows the server loaded (no table read a second time)', async () => {
    pg.sql("UPDATE public.users SET name = 'changed'; DELETE FROM billing.invoices WHERE id > 10; CREATE TABLE public.extra (x int)", 'app')
    const held = contentChecksums(pg, 'app')
    dropKept() // what the restore above kept (its postgres database)
    const { ctx, restore: restoreIn } = await inProcess(baseline.dest, { verbose: true })
    const r = await restoreIn(baseline.id)
    expect(r.ok, ctx.stderr()).toBe(true)
    expect(contentChecksums(pg, 'app')).toEqual(baseline.sums)
    expect(pg.sql("SELECT datname FROM pg_database WHERE datname LIKE '%pre_restore%' OR datname LIKE 'owp_verify%'")).toBe('')
    expect(scratchLeft()).toBe('0')
    // what app held (the writes since the backup) is kept, marked, open, and the report says how to drop it
    // (the set's postgres database too)
    expect(keptCopies()).toMatch(/^app_owp_old_\w+ .*\npostgres_owp_old_\w+ owp-replaced:postgres:/)
    const [kept, comment] = keptCopies().split('\n')[0]!.split(' ')
    expect(kept).toMatch(/^app_owp_old_[0-9a-f]{10}$/)
    expect(comment).toMatch(new RegExp(`^owp-replaced:app:${baseline.id}:\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\dZ$`))
    expect(contentChecksums(pg, kept!)).toEqual(held)
    const told = (r.stores[0]!.warnings ?? []).join('\n')
    expect(told).toContain(`what app, postgres held before this restore is kept as ${kept}, postgres_owp_old_`)
    expect(told).toContain(`(not backed up; with BACKUP_RESTORE_KEEP_PREVIOUS=false a restore drops them instead): once the restore is confirmed, drop them: DROP DATABASE "${kept}"; DROP DATABASE "postgres_owp_old_`)
    // the next backup leaves it out, says so, and writes how much is kept and since when (an alert
    // fires after 7 days: RestoreKeptCopiesLingering)
    const metrics = join(tmp.path, 'kept-metrics')
    const next = await backup(['--dest', join(tmp.path, 'after-kept'), '--no-verify', '--metrics-dir', metrics])
    expect(next.code, next.stderr).toBe(0)
    expect(next.stderr).toMatch(new RegExp(`postgres: not backed up: ${kept}, postgres_owp_old_\\w+ \\(what a restore replaced, kept until you drop it\\)`))
    const sample = (name: string) => Number(new RegExp(`^${name}\\{store="postgres"\\} (\\d+)$`, 'm').exec(readFileSync(join(metrics, 'backup_postgres.prom'), 'utf8'))?.[1])
    expect(sample('backup_restore_kept_bytes')).toBe(Number(pg.sql(`SELECT sum(pg_database_size(oid)) FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE 'owp-replaced:%'`)))
    expect(Math.abs(sample('backup_restore_kept_since_timestamp_seconds') - Date.now() / 1000)).toBeLessThan(600)
    expect(Object.keys(readManifestJson(listSets(join(tmp.path, 'after-kept'), 'postgres')[0]!.dir).details.databases).sort()).toEqual(['app', 'postgres'])
    // the next restore names it (with its size), keeps it, and keeps what it replaces too
    const again = await restoreIn(baseline.id)
    expect(again.ok, ctx.stderr()).toBe(true)
    expect((again.stores[0]!.warnings ?? []).join('\n')).toMatch(new RegExp(`earlier restores kept what they replaced, [\\d.]+ [KMG]iB in all: ${kept} \\(app before the restore of set ${baseline.id} at [0-9TZ-]+, [\\d.]+ [KMG]iB\\), postgres_owp_old_\\w+ \\(postgres before .*\\); drop each once it is not needed: DROP DATABASE "${kept}"; DROP DATABASE "postgres_owp_old_\\w+";`))
    expect(keptCopies().split('\n')).toHaveLength(4) // app and postgres, twice
    expect(contentChecksums(pg, kept!)).toEqual(held)
    dropKept()
    // pg_restore loads each copy itself, in sessions named for that load; every table of the data
    // set (a quoted unicode name, partitions, a large object) is proven by the rows the server says
    // it inserted, read once those sessions are gone: the rows are never counted by a second read
    expect(ctx.stderr()).toMatch(/\$ pg_restore --exit-on-error -d app_owp_new_\w+ \S*db-app\.dump/)
    expect(ctx.stderr()).toMatch(/\$ psql [^\n]*-d app_owp_new_\w+ -c 'DO \$\$BEGIN [^\n]*\n[^\n]*application_name = '\\''owp-load-[0-9a-f]{16}'\\''.*-c 'SELECT '\\''inserted '\\''/s)
    expect(ctx.stderr()).not.toContain('query_to_xml')
    expect(ctx.stderr()).toMatch(/postgres: app restored beside the live database and proven \(row counts equal\)/)
  })

  it('one set restored twice within the same second by one process keeps both copies it replaced (a random part in each name)', async () => {
    const { ctx, restore: restoreIn } = await inProcess(baseline.dest)
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-06-01T12:00:00.250Z') }) // the clock stands still
    try {
      expect((await restoreIn(baseline.id)).ok, ctx.stderr()).toBe(true)
      expect((await restoreIn(baseline.id)).ok, ctx.stderr()).toBe(true)
    } finally {
      vi.useRealTimers()
    }
    // app and postgres, twice, each under its own name
    const kept = keptCopies().split('\n').filter((l) => l.endsWith(` owp-replaced:${l.split('_owp_old_')[0]}:${baseline.id}:2026-06-01T12-00-00Z`)).map((l) => l.split(' ')[0]!)
    expect(kept.map((n) => n.replace(/_[0-9a-f]{10}$/, ''))).toEqual(['app_owp_old', 'app_owp_old', 'postgres_owp_old', 'postgres_owp_old'])
    expect(new Set(kept).size).toBe(4)
    expect(contentChecksums(pg, 'app')).toEqual(baseline.sums)
    expect(scratchLeft()).toBe('0')
    dropKept()
  })

  it('statistics that do not count the load (track_counts off for the role): the rows are counted, and the restore is proven by them', async () => {
    const { ctx, restore: restoreIn } = await inProcess(baseline.dest, { verbose: true })
    pg.sql('ALTER ROLE postgres SET track_counts = off')
    try {
      const r = await restoreIn(baseline.id)
      expect(r.ok, ctx.stderr()).toBe(true)
    } finally {
      pg.sql('ALTER ROLE postgres RESET track_counts')
    }
    expect(ctx.stderr()).toContain('query_to_xml') // count(*) of every table of the copy
    expect(ctx.stderr()).toMatch(/postgres: app restored beside the live database and proven \(row counts equal\)/)
    expect(contentChecksums(pg, 'app')).toEqual(baseline.sums)
    expect(scratchLeft()).toBe('0')
    dropKept()
  })

  it('the proof reads the statistics only once every session of the load is gone, and then sees all it inserted', async () => {
    const app = 'owp-load-test'
    const psqlAs = (name: string, sql: string) => new Promise<string>((resolve, reject) => {
      let out = ''
      const child = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', 'app', '-c', sql], { env: { ...process.env, ...pg.env, PGAPPNAME: name }, stdio: ['ignore', 'pipe', 'ignore'] })
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`psql exited ${code}`))))
    })
    pg.sql('CREATE TABLE public.proof_probe (n int)', 'app')
    try {
      // a session of the load that is still at work when the proof starts (its rows inserted, not
      // committed, not published): the proof's own read, right after its wait, sees all 777 rows.
      // Without the wait it reads while the load sleeps, and sees none.
      const load = psqlAs(app, 'INSERT INTO public.proof_probe SELECT generate_series(1, 777); SELECT pg_sleep(1.5)')
      await waitFor('the load\'s session', () => pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = '${app}'`) === '1', 10_000)
      const proof = psqlAs('owp-proof', `${waitForSessionsSql(app)}; ${INSERTED_SQL}`)
      const [, read] = await Promise.all([load, proof])
      expect(insertedCounts(read.split('\n').filter(Boolean))['public.proof_probe']).toBe(777)
    } finally {
      pg.sql('DROP TABLE public.proof_probe', 'app')
    }
  })

  it('verification compares the rows the server inserted into the scratch copy with the snapshot\'s counts: no table of the copy is read again to count it', async () => {
    const { ctx, backup: backupIn } = await inProcess(join(tmp.path, 'verify-tags'), { verbose: true })
    const r = await backupIn()
    expect(r.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    expect(ctx.stderr()).toMatch(/\$ pg_restore --exit-on-error -d owp_verify_\w+ \S*db-app\.dump/)
    expect(ctx.stderr()).toMatch(/\$ psql [^\n]*-d owp_verify_\w+ -c 'DO \$\$BEGIN .*-c 'SELECT '\\''inserted '\\''/s)
    // no count on a scratch copy (the snapshot's counts go to psql on its stdin, not in a logged argv)
    expect(ctx.stderr()).not.toContain('query_to_xml')
  })

  it('a set that differs from its manifest (sizes equal) is refused while its copy is restored beside production: nothing changed, not even a role', async () => {
    const dest = join(tmp.path, 'tampered')
    cpSync(baseline.dest, dest, { recursive: true })
    const dir = join(dest, 'postgres', baseline.id)
    const dump = readFileSync(join(dir, 'db-app.dump'))
    dump[Math.floor(dump.length / 2)]! ^= 0xff
    writeFileSync(join(dir, 'db-app.dump'), dump)
    // a plan of it plans nothing: the checksums come first there
    const plan = await inProcess(dest, { dryRun: true })
    expect((await plan.restore(baseline.id)).ok).toBe(false)
    expect(plan.ctx.stdout()).not.toContain('[dry-run]')
    const globals = readFileSync(join(dir, 'globals.sql'), 'utf8')
    const planted = 'CREATE ROLE zz_planted;\n'
    writeFileSync(join(dir, 'globals.sql'), planted + globals.slice(planted.length))
    pg.sql("UPDATE public.users SET bio = 'kept' WHERE id = 3", 'app')
    try {
      const { ctx, restore: restoreIn } = await inProcess(dest)
      const r = await restoreIn(baseline.id)
      expect(r.ok).toBe(false)
      expect(r.stores[0]!.error, ctx.stderr()).toMatch(/^set \S+ does not match its manifest, nothing was restored:\n/)
      expect(r.stores[0]!.error).toMatch(/\n {2}db-app\.dump: sha256 \w+… differs from the manifest's \w+…/)
      expect(r.stores[0]!.error).toMatch(/\n {2}globals\.sql: sha256 \w+… differs/)
      expect(pg.sql('SELECT bio FROM public.users WHERE id = 3', 'app')).toBe('kept')
      expect(pg.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'zz_planted'")).toBe('0')
      expect(scratchLeft()).toBe('0')
    } finally {
      pg.sql('UPDATE public.users SET bio = NULL WHERE id = 3', 'app')
    }
  })

  it('a dump cut short whose manifest was made to match it: pg_restore\'s failure fails the restore (not a shorter copy), the live database untouched', async () => {
    const dest = join(tmp.path, 'cut')
    cpSync(baseline.dest, dest, { recursive: true })
    const dir = join(dest, 'postgres', baseline.id)
    const cut = readFileSync(join(dir, 'db-app.dump')).subarray(0, -4000)
    writeFileSync(join(dir, 'db-app.dump'), cut)
    const m = readManifestJson(dir)
    const entry = m.files.find((f: { name: string }) => f.name === 'db-app.dump')
    entry.bytes = cut.length
    entry.sha256 = createHash('sha256').update(cut).digest('hex')
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m))
    pg.sql("UPDATE public.users SET bio = 'kept' WHERE id = 3", 'app')
    try {
      const { ctx, restore: restoreIn } = await inProcess(dest)
      const r = await restoreIn(baseline.id)
      expect(r.ok).toBe(false)
      expect(r.stores[0]!.error, ctx.stderr()).toMatch(/^pg_restore of database app failed \(exit [13]\); the live database is untouched:\n.*pg_restore: error:/)
      expect(pg.sql('SELECT bio FROM public.users WHERE id = 3', 'app')).toBe('kept')
      expect(scratchLeft()).toBe('0')
    } finally {
      pg.sql('UPDATE public.users SET bio = NULL WHERE id = 3', 'app')
    }
  })

  it('restores while clients hold sessions on the live database (one in a long query, one idle in a transaction holding a lock): they are ended, the copy is swapped in, the database takes connections again', async () => {
    pg.sql("UPDATE public.users SET name = 'held'", 'app')
    const clients = [
      spawn('psql', ['-X', '-q', '-d', 'app', '-c', 'SELECT pg_sleep(600)'], { env: { ...process.env, ...pg.env }, stdio: ['ignore', 'ignore', 'pipe'] }),
      spawn('psql', ['-X', '-q', '-d', 'app'], { env: { ...process.env, ...pg.env }, stdio: ['pipe', 'ignore', 'pipe'] }),
    ]
    clients[1]!.stdin!.write('BEGIN; LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE;\n')
    const ended = clients.map((c) => new Promise<number | null>((r) => c.on('exit', (code) => r(code))))
    try {
      await waitFor('both clients connected', () => Number(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND (state = 'idle in transaction' OR query LIKE 'SELECT pg_sleep%')")) === 2, 10_000)
      const { ctx, restore: restoreIn } = await inProcess(baseline.dest)
      const r = await restoreIn(baseline.id)
      expect(r.ok, ctx.stderr()).toBe(true)
      // the idle one learns of it with its next statement
      clients[1]!.stdin!.end('SELECT 1;\n')
      expect(await Promise.all(ended), 'both clients were disconnected by the server').toEqual([2, 2])
      expect(contentChecksums(pg, 'app')).toEqual(baseline.sums)
      expect(pg.sql("SELECT datallowconn FROM pg_database WHERE datname = 'app'")).toBe('t')
      expect(scratchLeft()).toBe('0')
    } finally {
      for (const c of clients) c.kill('SIGKILL')
    }
  })

  it('gives each database back its own properties (owner, settings, grants, comment, connection limit): a restore neither opens a database that was closed to PUBLIC nor loses its owner when it was dropped', async () => {
    pg.sql('CREATE ROLE billowner LOGIN')
    pg.sql('CREATE DATABASE "billing data" OWNER billowner CONNECTION LIMIT 10')
    pg.sql("CREATE TABLE t (a int); INSERT INTO t VALUES (1)", 'billing data')
    pg.sql(`ALTER DATABASE "billing data" SET work_mem = '7MB'; ALTER ROLE billowner IN DATABASE "billing data" SET statement_timeout = '5s';
      REVOKE CONNECT, TEMPORARY ON DATABASE "billing data" FROM PUBLIC; COMMENT ON DATABASE "billing data" IS 'billing; since 2019'`)
    const props = () => pg.sql(`SELECT pg_get_userbyid(datdba) || ' ' || datconnlimit || ' ' || coalesce(datacl::text, 'default') || ' ' || coalesce(shobj_description(oid, 'pg_database'), 'no comment')
      || ' ' || (SELECT coalesce(string_agg(coalesce(pg_get_userbyid(nullif(setrole, 0)), 'db') || ':' || array_to_string(setconfig, ','), ' ' ORDER BY setrole), 'none') FROM pg_db_role_setting WHERE setdatabase = d.oid)
      FROM pg_database d WHERE datname = 'billing data'`)
    const before = props()
    expect(before).toBe("billowner 10 {billowner=CTc/billowner} billing; since 2019 db:work_mem=7MB billowner:statement_timeout=5s")
    // in-process runs (no process start-up): this test is about what lands in the server
    const kit = await inProcess(join(tmp.path, 'props'))
    expect((await kit.backup()).ok, kit.ctx.stderr()).toBe(true)
    // changed after the backup: opened to everyone, settings reset, comment gone
    pg.sql(`GRANT ALL ON DATABASE "billing data" TO PUBLIC; ALTER DATABASE "billing data" RESET ALL; ALTER ROLE billowner IN DATABASE "billing data" RESET ALL;
      ALTER DATABASE "billing data" CONNECTION LIMIT -1; COMMENT ON DATABASE "billing data" IS NULL`)
    expect((await kit.restore()).ok, kit.ctx.stderr()).toBe(true)
    expect(props()).toBe(before)
    // dropped after the backup: it comes back owned by its owner, who can use its public schema
    pg.sql('DROP DATABASE "billing data"')
    expect((await kit.restore()).ok, kit.ctx.stderr()).toBe(true)
    expect(props()).toBe(before)
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'billowner', '-d', 'billing data', '-c', 'CREATE TABLE mine (a int)'], { env: { ...process.env, ...pg.env, PGUSER: 'billowner', PGHOST: pg.socketDir } })
    pg.sql('DROP DATABASE "billing data"')
    dropKept() // the copy the first restore replaced belongs to billowner too
    pg.sql('DROP ROLE billowner')
  })

  it('databases whose names read the same once made safe for a file name ("a (old)", "a [old]") get a dump each; a restore loads the largest first', async () => {
    pg.sql('CREATE DATABASE "billing (old)"')
    pg.sql('CREATE DATABASE "billing [old]"')
    pg.sql('CREATE TABLE paren (a int); INSERT INTO paren VALUES (1)', 'billing (old)')
    pg.sql('CREATE TABLE bracket (a int); INSERT INTO bracket SELECT generate_series(1, 2000)', 'billing [old]')
    const dest = join(tmp.path, 'lookalikes')
    const kit = await inProcess(dest)
    expect((await kit.backup()).ok, kit.ctx.stderr()).toBe(true)
    const dumps = listSets(dest, 'postgres')[0]!.files.filter((f) => f.startsWith('db-billing_'))
    expect(dumps).toHaveLength(2)
    pg.sql('DROP DATABASE "billing (old)"')
    pg.sql('DROP DATABASE "billing [old]"')
    const verbose = await inProcess(dest, { verbose: true })
    expect((await verbose.restore()).ok, verbose.ctx.stderr()).toBe(true)
    expect(pg.sql('SELECT count(*) FROM paren', 'billing (old)')).toBe('1')
    expect(pg.sql('SELECT count(*) FROM bracket', 'billing [old]')).toBe('2000')
    // the largest dump is loaded first (the longest load sets the restore's time), not the first name
    const set = listSets(dest, 'postgres')[0]!
    const size = new Map<string, number>(readManifestJson(set.dir).files.map((f: { name: string; bytes: number }) => [f.name, f.bytes]))
    const loads = [...verbose.ctx.stderr().matchAll(/\$ pg_restore --exit-on-error -d \S+ \S*\/(db-[^/\s]+\.dump)/g)].map((m) => m[1]!)
    expect([...loads].sort()).toEqual([...size.keys()].filter((f) => f.startsWith('db-')).sort()) // each dump once
    const descending = (names: string[]) => { const s = names.map((f) => size.get(f)!); return s.every((n, i) => i === 0 || s[i - 1]! >= n) }
    expect(descending(loads), loads.map((f) => `${f} ${size.get(f)} bytes`).join(', ')).toBe(true) // equal sizes in either order
    expect(descending([...loads].sort())).toBe(false) // name order would not be
    dropKept()
    pg.sql('DROP DATABASE "billing (old)"')
    pg.sql('DROP DATABASE "billing [old]"')
  })

  it('a role without the rights a restore needs is told every missing right at once, before anything changes', async () => {
    pg.sql("CREATE ROLE restorer LOGIN PASSWORD 'restorer-pw'")
    try {
      const before = contentChecksums(pg, 'app')
      const r = await restore(['--dest', baseline.dest, '--from', baseline.id, '--yes'], { PGUSER: 'restorer', PGPASSWORD: 'restorer-pw' })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain([
        'the role restorer cannot restore this set; nothing was changed:',
        '  the set was taken as a superuser: its owners, grants and database settings restore only as one',
        '  restorer may not create databases (CREATEDB): every database is restored beside the live one first',
        '  database app belongs to postgres, and restorer is not a member of that role',
      ].join('\n'))
      expect(r.stderr).toContain("hint: restore as a superuser (the image's POSTGRES_USER)")
      expect(r.stderr + r.stdout).not.toContain('restorer-pw')
      expect(contentChecksums(pg, 'app')).toEqual(before)
      expect(scratchLeft()).toBe('0')
    } finally {
      pg.sql('DROP ROLE restorer')
    }
  })

  it('asks before overwriting: without a terminal and without --yes it stops with exit 2 and changes nothing', async () => {
    pg.sql("UPDATE public.users SET bio = 'untouched' WHERE id = 3", 'app')
    const r = await restore(['--dest', baseline.dest, '--from', 'latest'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('pass --yes to confirm')
    expect(pg.sql('SELECT bio FROM public.users WHERE id = 3', 'app')).toBe('untouched')
    pg.sql('UPDATE public.users SET bio = NULL WHERE id = 3', 'app')
  })

  it('a truncated dump fails verification: exit 1, and no set counts as complete', async () => {
    const dest = join(tmp.path, 'truncated')
    const bin = wrapper(join(tmp.path, 'bin-truncate'), 'pg_dump', `"${which('pg_dump')}" "$@" | head -c 40000`)
    const r = await backup(['--dest', dest], { PATH: `${bin}:${process.env.PATH}` })
    expect(r.code).toBe(1)
    // the load stops where the archive ends (psql's exit 3 on the cut COPY, or pg_restore's own 1), saying why
    expect(r.stderr).toMatch(/verification of database app failed: pg_restore into a scratch database exited [13]: .*pg_restore: error: could not read from input file/)
    expect(listSets(dest, 'postgres').filter((s) => s.complete)).toEqual([])
    expect(pg.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'owp_verify%'")).toBe('0')
  })

  it('the scratch copy of a verification killed long ago (SIGKILL runs no cleanup) is dropped by the next backup; a recent one is named and kept; no scratch copy of the kit is backed up as data', async () => {
    const now = new Date()
    const recent = `owp_verify_${now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/\W/g, '').toLowerCase()}_live01`
    pg.sql('CREATE DATABASE owp_verify_20200101t000000z_dead01')
    pg.sql(`CREATE DATABASE ${recent}`)
    pg.sql('CREATE DATABASE app_owp_new_0123456789')
    pg.sql("COMMENT ON DATABASE app_owp_new_0123456789 IS 'owp-restore:new:app:2020-01-01T00-00-00Z'") // a killed restore's copy
    try {
      const { ctx, backup: backupIn } = await inProcess(join(tmp.path, 'verify-leftovers'))
      const r = await backupIn()
      expect(r.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
      expect(ctx.stderr()).toContain('postgres: dropped owp_verify_20200101t000000z_dead01, the scratch database of a verification that was killed')
      expect(ctx.stderr()).toContain(`postgres: ${recent} belong(s) to a verification running beside this one or killed less than 12 h ago`)
      expect(pg.sql("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'owp_verify%'")).toBe(recent)
      // and no scratch copy is backed up as if it were data
      expect(ctx.stderr()).toContain(`postgres: not backed up: app_owp_new_0123456789, owp_verify_20200101t000000z_dead01, ${recent} (scratch copies of a verification or a restore of the kit)`)
      expect(Object.keys(readManifestJson(listSets(join(tmp.path, 'verify-leftovers'), 'postgres')[0]!.dir).details.databases).sort()).toEqual(['app', 'postgres'])
    } finally {
      pg.sql(`DROP DATABASE IF EXISTS ${recent}`)
      pg.sql('DROP DATABASE IF EXISTS owp_verify_20200101t000000z_dead01')
      pg.sql('DROP DATABASE IF EXISTS app_owp_new_0123456789')
    }
  })

  it('a backup killed with SIGKILL mid-dump leaves an incomplete set that restore and retention ignore', async () => {
    const dest = join(tmp.path, 'killed')
    cpSync(join(baseline.dest, 'postgres', baseline.id), join(dest, 'postgres', baseline.id), { recursive: true })
    const pids = join(tmp.path, 'slow.pids')
    const bin = wrapper(join(tmp.path, 'bin-slow'), 'pg_dump',
      `case "$*" in *--version*) exec "${which('pg_dump')}" "$@";; esac\necho $$ >> "${pids}"\n"${which('pg_dump')}" "$@" | head -c 5000\nsleep 60`)
    let pid = 0
    const run = backup(['--dest', dest, '--no-verify'], { PATH: `${bin}:${process.env.PATH}` }, { onSpawn: (p) => { pid = p } })
    try {
      await waitFor('a partial dump file', () => readdirSync(join(dest, 'postgres')).some((id) => id !== baseline.id &&
        existsSync(join(dest, 'postgres', id)) && readdirSync(join(dest, 'postgres', id)).some((f) => f.endsWith('.partial'))))
      process.kill(pid, 'SIGKILL')
      const killed = await run
      expect(killed.signal).toBe('SIGKILL')
    } finally {
      killPidFile(pids)
    }
    const sets = listSets(dest, 'postgres')
    const dead = sets.find((s) => s.id !== baseline.id)!
    expect(dead.complete).toBe(false)
    expect(dead.files.some((f) => f.endsWith('.partial'))).toBe(true)
    expect(dead.files.filter((f) => !f.endsWith('.partial') && f !== 'globals.sql')).toEqual([])

    const { ctx, restore: restoreIn, list } = await inProcess(dest)
    expect((await list()).map((s) => [s.id, Boolean(s.manifest)])).toEqual([[baseline.id, true], [dead.id, false]])
    const refused = await restoreIn(dead.id)
    expect(refused.ok).toBe(false)
    expect(refused.stores[0]!.error).toContain('it is incomplete (no manifest.json')
    // The killed run's lock was left behind; the next run finds its pid gone and takes over.
    expect(ctx.stderr()).toMatch(/took over the stale lock .*store-postgres-direct-\w+\.lock \(backup of postgres .*, pid \d+ on .*: pid \d+ on .* is gone\)/)
    // "latest" is the newest complete set, not the killed one.
    const { restore: restoreLatest } = await inProcess(dest)
    const latest = await restoreLatest('latest')
    expect(latest.stores[0]).toMatchObject({ ok: true, set: baseline.id })
  })

  it('a second run while one holds the lock exits 75 and says who holds it', async () => {
    const dest = join(tmp.path, 'locked')
    const pids = join(tmp.path, 'lock.pids')
    const bin = wrapper(join(tmp.path, 'bin-sleep'), 'pg_dump',
      `case "$*" in *--version*) exec "${which('pg_dump')}" "$@";; esac\necho $$ >> "${pids}"\nsleep 60`)
    let pid = 0
    const first = backup(['--dest', dest, '--no-verify'], { PATH: `${bin}:${process.env.PATH}` }, { onSpawn: (p) => { pid = p } })
    try {
      await waitFor('the first run to hold the lock', () => pgLocks().length === 1 && existsSync(pids))
      const second = await backup(['--dest', dest])
      expect(second.code).toBe(75)
      expect(second.stderr).toMatch(new RegExp(`another backup of postgres \\(postgres at 127\\.0\\.0\\.1:\\d+\\) is running \\(pid ${pid} on `))
      process.kill(pid, 'SIGTERM')
      const stopped = await first
      expect(stopped.code).toBe(130)
    } finally {
      killPidFile(pids)
    }
    expect(listSets(dest, 'postgres')).toEqual([]) // the interrupted run removed its incomplete set on the way out
    expect(pgLocks()).toEqual([])
  })

  it('encrypts with age and restores with the identity; a tampered file is refused before anything changes', async () => {
    which('age-keygen')
    const dest = join(tmp.path, 'age')
    const key = join(tmp.path, 'age.key')
    execFileSync('age-keygen', ['-o', key], { stdio: 'pipe' })
    const recipient = execFileSync('age-keygen', ['-y', key]).toString().trim()
    const run = await inProcess(dest)
    const r = await run.backup({ recipients: [recipient], verify: false })
    expect(r.ok, run.ctx.stderr()).toBe(true)
    const [set] = listSets(dest, 'postgres')
    expect(set!.files).toEqual(['db-app.dump.age', 'db-postgres.dump.age', 'globals.sql.age', 'manifest.json'])
    expect(readFileSync(join(set!.dir, 'globals.sql.age'), 'latin1')).toMatch(/^age-encryption\.org\/v1/)
    expect(readFileSync(join(set!.dir, 'globals.sql.age'), 'latin1')).not.toContain('app_reader')
    const m = readManifestJson(set!.dir)
    expect(m.encryption).toEqual({ tool: 'age', recipients: [recipient] })
    expect(m.files[0].plain.sha256).toMatch(/^[0-9a-f]{64}$/)

    await expect(run.restore('latest')).rejects.toThrow('is encrypted with age: pass --identity')

    pg.sql('DROP DATABASE app')
    const back = await run.restore('latest', key)
    expect(back.ok, run.ctx.stderr()).toBe(true)
    expect(contentChecksums(pg, 'app')).toEqual(baseline.sums)

    appendFileSync(join(set!.dir, 'db-app.dump.age'), 'x')
    pg.sql("UPDATE public.users SET bio = 'kept' WHERE id = 3", 'app')
    const bad = await run.restore('latest', key)
    expect(bad.ok).toBe(false)
    expect(bad.stores[0]!.error).toMatch(/does not match its manifest, nothing was restored:\n\s+db-app\.dump\.age: \d+ bytes, manifest says \d+/)
    expect(pg.sql('SELECT bio FROM public.users WHERE id = 3', 'app')).toBe('kept')
    pg.sql('UPDATE public.users SET bio = NULL WHERE id = 3', 'app')
  })

  it('--dry-run prints the plan (masked) and writes nothing', async () => {
    const dest = join(tmp.path, 'dry')
    const r = await backup(['--dest', dest, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('[dry-run] pg_dumpall --globals-only')
    expect(r.stdout).toContain('[dry-run] pg_dump -Fc -d app')
    expect(r.stdout).toContain(`[dry-run] write ${dest}/postgres/`)
    expect(r.stdout + r.stderr).not.toContain(pg.password)
    expect(existsSync(dest)).toBe(false)
  })
})

