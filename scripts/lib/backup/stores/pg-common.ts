// PostgreSQL pieces shared by the backup, verification and restore halves: connection, quoting,
// psql, row counts, pg_restore argv.
import { createHash, randomBytes } from 'node:crypto'
import type { Ctx } from '../../core/context.ts'
import type { DriverRun } from '../types.ts'
import type { ExecResult } from '../../core/exec.ts'

export interface PgConn { env: Record<string, string>; secretEnv: Record<string, string>; user: string }

export interface PgDatabase { file: string; encoding: string; collate: string; ctype: string; tables: Record<string, number> | null }
export interface PgDetails { databases: Record<string, PgDatabase>; superuser: boolean; globalsWithoutPasswords?: boolean }

/** Direct: libpq variables from the environment (PG* or the .env POSTGRES_*). Containers: local socket as the image's superuser. */
export function pgConnection(run: DriverRun): PgConn {
  const e = run.settings.env
  const user = e.PGUSER ?? e.POSTGRES_USER ?? 'postgres'
  if (run.target.kind !== 'direct') return { env: { PGUSER: user }, secretEnv: {}, user }
  const env: Record<string, string> = { PGUSER: user, PGHOST: e.PGHOST ?? e.POSTGRES_HOST ?? '127.0.0.1', PGPORT: e.PGPORT ?? e.POSTGRES_PORT ?? '5432' }
  for (const k of ['PGSSLMODE', 'PGSSLROOTCERT', 'PGCONNECT_TIMEOUT']) if (e[k]) env[k] = e[k]!
  const password = e.PGPASSWORD ?? e.POSTGRES_PASSWORD
  return { env, secretEnv: password ? { PGPASSWORD: password } : {}, user }
}

/** A database argument: the plain name when safe, else a conninfo string (a name with = would be parsed as one). */
export function dbArg(db: string): string {
  return /^[A-Za-z0-9_]+$/.test(db) ? db : `dbname='${db.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
export const ident = (s: string) => `"${s.replace(/"/g, '""')}"`
export const literal = (s: string) => `'${s.replace(/'/g, "''")}'`

/**
 * File name of a database's dump: readable, safe in paths and S3 keys, and unique: a name with other
 * characters gets a hash of the whole name ("a (b)" and "a [b]" read the same once made safe).
 */
export function dumpName(db: string): string {
  const safe = db.replace(/[^A-Za-z0-9_.-]/g, '_')
  return safe === db ? `db-${db}.dump` : `db-${safe}-${createHash('sha256').update(db).digest('hex').slice(0, 16)}.dump`
}

/**
 * Every table whose data pg_dump writes (extension members and system schemas excluded), plus the
 * large objects' count: with its rows counted ("count <table>|<n>", a read of every table), or with
 * the rows the server says were inserted into it ("inserted <table>|<n>": the cumulative statistics,
 * no table read).
 */
function tablesSql(rows: 'count' | 'inserted'): string {
  const row = rows === 'count'
    ? `'count ' || format('%I.%I', n.nspname, c.relname) || '|' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text`
    : `'inserted ' || format('%I.%I', n.nspname, c.relname) || '|' || pg_stat_get_tuples_inserted(c.oid)`
  return `SELECT ${row}
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL SELECT 'count pg_largeobject_metadata|' || count(*) FROM pg_largeobject_metadata
ORDER BY 1;`
}
export const COUNT_SQL = tablesSql('count')
export const INSERTED_SQL = tablesSql('inserted')

/**
 * Waits (up to 10 s) until no session named `app` is connected any more. A backend publishes its
 * statistics before it leaves pg_stat_activity (PostgreSQL 15: the flush is a before_shmem_exit
 * hook, the entry's removal an on_shmem_exit one), so after this the load's inserts are all counted.
 */
export function waitForSessionsSql(app: string): string {
  return `DO $$BEGIN FOR i IN 1..1000 LOOP PERFORM pg_stat_clear_snapshot();
  EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = ${literal(app)}); PERFORM pg_sleep(0.01); END LOOP; END$$`
}

/** "count <name>|<n>" lines (and with prefix "inserted ", those) as name: n. */
export function parseCounts(lines: string[], prefix = 'count '): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of lines) {
    if (!line.startsWith(prefix)) continue
    const body = line.slice(prefix.length)
    const bar = body.lastIndexOf('|')
    out[body.slice(0, bar)] = Number(body.slice(bar + 1))
  }
  return out
}

export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const problems: string[] = []
  for (const [t, n] of Object.entries(expected)) {
    if (!(t in actual)) problems.push(`table ${t} is missing after the restore`)
    else if (actual[t] !== n) problems.push(`table ${t} has ${actual[t]} rows after the restore, ${n} in the backup`)
  }
  for (const t of Object.keys(actual)) if (!(t in expected)) problems.push(`table ${t} appeared after the restore`)
  return problems
}

export function psqlArgv(db: string, extra: string[] = []): string[] {
  return ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dbArg(db), ...extra]
}

export async function psql(ctx: Ctx, run: DriverRun, db: string, sql: string | string[], o: { mutates?: boolean } = {}): Promise<string[]> {
  const conn = pgConnection(run)
  // several statements: one psql, each its own -c (its own transaction: CREATE DATABASE may not be in
  // one), stopping at the first that fails (ON_ERROR_STOP)
  const cs = (Array.isArray(sql) ? sql : [sql]).flatMap((q) => ['-c', q])
  const r = await run.target.run(ctx, 'postgres', psqlArgv(db, cs), { env: conn.env, secretEnv: conn.secretEnv, mutates: o.mutates, timeout: run.settings.timeoutMs })
  return r.stdout.split('\n').filter((l) => l !== '')
}


export function fileInput(run: DriverRun, path: string): { args: string[]; stdinFile?: string } {
  return run.target.kind === 'direct' ? { args: [path] } : { args: [], stdinFile: path }
}

/** pg_restore's start: a set taken without superuser rights restores without owners and grants. */
const pgRestoreHead = (superuser: boolean) => ['pg_restore', '--exit-on-error', ...(superuser ? [] : ['--no-owner', '--no-privileges'])]

export function pgRestoreArgv(run: DriverRun, superuser: boolean): string[] {
  return [...pgRestoreHead(superuser),
    ...(run.settings.jobs > 1 && run.target.kind === 'direct' ? [`--jobs=${run.settings.jobs}`] : [])]
}

/**
 * What loadDump did: pg_restore's result (its stdout left out), and the rows the server says each
 * table was loaded with, read once the load's sessions were gone (INSERTED_SQL's lines; null: not read).
 */
export interface Loaded { result: ExecResult; inserted: string[] | null }

/**
 * A dump restored into an existing (empty) database by pg_restore itself (--jobs on a direct
 * target). Its sessions carry a name of this load alone; once they are gone, the same rows the
 * server answered each COPY with are in its statistics: read then, in one query that reads no table.
 */
export async function loadDump(ctx: Ctx, run: DriverRun, superuser: boolean, db: string, file: string, title: string): Promise<Loaded> {
  const conn = pgConnection(run)
  const input = fileInput(run, file)
  const app = `owp-load-${randomBytes(8).toString('hex')}`
  // A scratch copy's commits need not wait for the disk (pg_restore commits each statement): a
  // crash loses only a copy that is dropped anyway, and the swap's own commit, synchronous, flushes
  // the log up to it, and so every change of the load before it.
  const env = { ...conn.env, PGOPTIONS: '-c synchronous_commit=off', PGAPPNAME: app }
  const result = await run.target.run(ctx, 'postgres', [...pgRestoreArgv(run, superuser), '-d', dbArg(db), ...input.args],
    { env, secretEnv: conn.secretEnv, stdinFile: input.stdinFile, mutates: true, allowFailure: true, timeout: run.settings.timeoutMs, title })
  if (result.exitCode !== 0 || ctx.dryRun) return { result, inserted: null }
  // not read (an old server, a database without PL/pgSQL): the rows are counted instead
  const inserted = await psql(ctx, run, db, [waitForSessionsSql(app), INSERTED_SQL]).catch(() => null)
  return { result, inserted }
}

/**
 * How a loaded database differs from the row counts expected of it (none: proven), and its counts.
 * The rows the server inserted into each table prove it when they are equal to what is expected;
 * anything else (statistics off, reset, or a count that differs) is settled by counting the rows.
 */
export async function proveCounts(ctx: Ctx, run: DriverRun, db: string, expected: Record<string, number>, loaded: Loaded): Promise<{ problems: string[]; counts: Record<string, number> }> {
  const inserted = loaded.inserted && insertedCounts(loaded.inserted)
  if (inserted && !compareCounts(expected, inserted).length) return { problems: [], counts: inserted }
  const counts = parseCounts(await psql(ctx, run, db, COUNT_SQL))
  return { problems: compareCounts(expected, counts), counts }
}

/** INSERTED_SQL's lines in parseCounts' form: each table's inserted rows, and the large objects' count. */
export function insertedCounts(lines: string[]): Record<string, number> {
  return { ...parseCounts(lines), ...parseCounts(lines, 'inserted ') }
}

/**
 * A database's own properties as its dump holds them (pg_dump writes them into every archive;
 * pg_restore prints them with --create only): owner, settings (of the database and of roles in it),
 * connection limit, comment, grants, security labels. The statements name the database as it was
 * backed up; CREATE DATABASE is left out. Without superuser rights in the set (restored with
 * --no-owner --no-privileges), the owner, grants and roles' settings are left out too.
 */
export function databaseStatements(sql: string, superuser: boolean): string[] {
  const out: string[] = []
  const lines = sql.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const head = /^-- Name: (.*); Type: (DATABASE|DATABASE PROPERTIES|COMMENT|ACL|SECURITY LABEL); Schema: -; Owner: /.exec(lines[i]!)
    if (!head || (!head[2]!.startsWith('DATABASE') && !head[1]!.startsWith('DATABASE '))) continue
    if (!superuser && head[2] === 'ACL') continue
    const body: string[] = []
    for (i += 2; i < lines.length && lines[i] !== '--' && !lines[i]!.startsWith('\\'); i++) body.push(lines[i]!)
    i--
    // one statement per line, but a string (a comment) may span lines: split at "; + newline"
    for (const stmt of body.join('\n').split(/;\n/).map((x) => x.trim()).filter(Boolean)) {
      if (/^CREATE DATABASE /.test(stmt)) continue
      if (!superuser && (/^ALTER DATABASE .* OWNER TO /.test(stmt) || /^ALTER ROLE .* IN DATABASE /.test(stmt))) continue
      out.push(stmt.endsWith(';') ? stmt : `${stmt};`)
    }
  }
  return out
}

/** Globals without the connecting role's own statements: restoring its old password would lock the restore out. */
export function filterGlobals(sql: string, user: string): string {
  const own = new RegExp(`^(CREATE|ALTER) ROLE ${user.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( |;)`)
  return sql.split('\n').filter((l) => !own.test(l)).join('\n')
}

/** fn over items, at most n at once; the first failure is thrown once the running ones end, and no new one starts after it. */
export async function eachAtMost<T>(n: number, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failed: unknown = null
  const worker = async () => {
    while (failed === null && next < items.length) {
      const item = items[next++]!
      try { await fn(item) } catch (e) { if (failed === null) failed = e }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
  if (failed !== null) throw failed
}
