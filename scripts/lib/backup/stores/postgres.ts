// PostgreSQL: `pg_dumpall --globals-only` plus `pg_dump -Fc` per database. Verification restores
// each dump into a scratch database and compares per-table row counts with counts taken in the
// very snapshot the dump used (pg_dump --snapshot), so concurrent writes cannot cause false alarms.
// `pg_restore --list` is not enough: it passes on a truncated dump.
import { readFileSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import type { ExecResult } from '../../core/exec.ts'
import { finishFile, partialPath } from '../manifest.ts'
import type { DriverRun, DumpResult, Manifest, ProducedFile, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'

interface PgConn { env: Record<string, string>; secretEnv: Record<string, string>; user: string }

export interface PgDatabase { file: string; encoding: string; collate: string; ctype: string; tables: Record<string, number> | null }
interface PgDetails { databases: Record<string, PgDatabase>; superuser: boolean; globalsWithoutPasswords?: boolean }

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

/** File name of a database's dump: readable, unique, safe in paths and S3 keys. */
export function dumpName(db: string): string {
  const safe = db.replace(/[^A-Za-z0-9_.-]/g, '_')
  return safe === db ? `db-${db}.dump` : `db-${safe}-${Buffer.from(db).toString('hex').slice(0, 16)}.dump`
}

/** Row counts of every table whose data pg_dump writes (extension members and system schemas excluded), plus large objects. */
export const COUNT_SQL = `SELECT 'count ' || format('%I.%I', n.nspname, c.relname) || '|' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL SELECT 'count pg_largeobject_metadata|' || count(*) FROM pg_largeobject_metadata
ORDER BY 1;`

export function parseCounts(lines: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of lines) {
    if (!line.startsWith('count ')) continue
    const body = line.slice(6)
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

function psqlArgv(db: string, extra: string[] = []): string[] {
  return ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dbArg(db), ...extra]
}

async function psql(ctx: Ctx, run: DriverRun, db: string, sql: string, o: { mutates?: boolean } = {}): Promise<string[]> {
  const conn = pgConnection(run)
  const r = await run.target.run(ctx, 'postgres', psqlArgv(db, ['-c', sql]), { env: conn.env, secretEnv: conn.secretEnv, mutates: o.mutates, timeout: run.settings.timeoutMs })
  return r.stdout.split('\n').filter((l) => l !== '')
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Open a read-only REPEATABLE READ transaction, export its snapshot and count rows in it, hold it
 * while `use` runs pg_dump --snapshot, then cancel it. psql writes each result as it comes, so we
 * read the snapshot id from its output file while it still holds the transaction.
 */
async function withSnapshot<T>(ctx: Ctx, run: DriverRun, db: string, use: (snapshot: string, counts: Record<string, number>) => Promise<T>): Promise<T> {
  const conn = pgConnection(run)
  const out = join(run.scratch, `snapshot-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`)
  const holdSeconds = Math.ceil(run.settings.timeoutMs / 1000)
  const script = ['BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;',
    "SELECT 'snapshot ' || pg_export_snapshot() || ' ' || pg_backend_pid();", COUNT_SQL, "SELECT 'counted';",
    `SELECT pg_sleep(${holdSeconds});`, 'COMMIT;', ''].join('\n')
  let settled: ExecResult | Error | null = null
  const holder = run.target.run(ctx, 'postgres', psqlArgv(db), { env: conn.env, secretEnv: conn.secretEnv, input: script, stdoutFile: out, allowFailure: true, timeout: run.settings.timeoutMs + 60_000, title: 'psql snapshot' })
    .then((r) => { settled = r; return r }, (e: Error) => { settled = e; return e })
  const lines = async (): Promise<string[]> => (existsSync(out) ? readFileSync(out, 'utf8').split('\n') : [])
  const deadline = Date.now() + run.settings.timeoutMs
  let text: string[] = []
  while (!(text = await lines()).includes('counted')) {
    if (settled) {
      const s = settled as ExecResult | Error
      throw new KitError(`could not open a snapshot of database ${db}: ${s instanceof Error ? s.message : s.stderr.trim() || `psql exited ${s.exitCode}`}`)
    }
    if (Date.now() > deadline) throw new KitError(`counting rows of database ${db} took longer than ${run.settings.timeoutMs}ms`)
    await delay(25)
  }
  const [, snapshot, pid] = text.find((l) => l.startsWith('snapshot '))!.split(' ')
  try {
    return await use(snapshot!, parseCounts(text))
  } finally {
    await psql(ctx, run, 'postgres', `SELECT pg_cancel_backend(${Number(pid)})`).catch(() => {})
    await holder
  }
}

async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const conn = pgConnection(run)
  const opts = { env: conn.env, secretEnv: conn.secretEnv }
  const tools = { pg_dump: (await run.target.run(ctx, 'postgres', ['pg_dump', '--version'], opts)).stdout.trim() }
  // One round trip for the server facts: version, whether we are superuser, the databases to dump.
  const facts = await psql(ctx, run, 'postgres', `SELECT 'version|' || current_setting('server_version')
    UNION ALL SELECT 'superuser|' || rolsuper FROM pg_roles WHERE rolname = current_user
    UNION ALL (SELECT 'db|' || datname || '|' || pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype
      FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname)`)
  const version = facts.find((l) => l.startsWith('version|'))?.slice(8)
  const superuser = facts.find((l) => l.startsWith('superuser|'))?.slice(10)
  const dbs = facts.filter((l) => l.startsWith('db|'))
    .map((l) => { const [, name, encoding, collate, ctype] = l.split('|'); return { name: name!, encoding: encoding!, collate: collate!, ctype: ctype! } })
  const files: ProducedFile[] = []
  const details: PgDetails = { databases: {}, superuser: superuser === 'true' || superuser === 't' }

  const globals = async (extra: string[]) => run.target.run(ctx, 'postgres', ['pg_dumpall', '--globals-only', ...extra],
    { ...opts, mutates: true, stdoutFile: partialPath(run.dir, 'globals.sql'), timeout: run.settings.timeoutMs, allowFailure: true })
  let started = Date.now()
  let g = await globals([])
  if (g.exitCode !== 0 && /pg_authid/.test(g.stderr)) {
    ctx.log.warn(`${conn.user} may not read role passwords (pg_authid): dumping roles without passwords`)
    details.globalsWithoutPasswords = true
    g = await globals(['--no-role-passwords'])
  }
  if (g.exitCode !== 0) throw new KitError(`pg_dumpall --globals-only failed (exit ${g.exitCode}):\n${ctx.secrets.mask(g.stderr.trim())}`)
  if (!ctx.dryRun) finishFile(run.dir, 'globals.sql')
  files.push({ name: 'globals.sql', kind: 'globals', durationMs: Date.now() - started })

  for (const db of dbs) {
    const file = dumpName(db.name)
    started = Date.now()
    const dump = (extra: string[]) => run.target.run(ctx, 'postgres', ['pg_dump', '-Fc', ...extra, '-d', dbArg(db.name)],
      { ...opts, mutates: true, stdoutFile: partialPath(run.dir, file), timeout: run.settings.timeoutMs, title: `pg_dump ${db.name}` })
    let tables: Record<string, number> | null = null
    if (run.verify && !ctx.dryRun) {
      await withSnapshot(ctx, run, db.name, async (snapshot, counts) => { tables = counts; await dump([`--snapshot=${snapshot}`]) })
    } else {
      await dump([])
    }
    if (!ctx.dryRun) finishFile(run.dir, file)
    files.push({ name: file, kind: 'database', of: db.name, durationMs: Date.now() - started })
    details.databases[db.name] = { file, encoding: db.encoding, collate: db.collate, ctype: db.ctype, tables }
  }
  return { files, tools, server: { version: version ?? 'unknown' }, details: details as unknown as Record<string, unknown> }
}

async function scratchDatabase<T>(ctx: Ctx, run: DriverRun, like: PgDatabase, use: (name: string) => Promise<T>): Promise<T> {
  const name = `owp_verify_${run.id.replace(/\W/g, '').toLowerCase().slice(0, 20)}_${Math.random().toString(36).slice(2, 8)}`
  await psql(ctx, run, 'postgres', `CREATE DATABASE ${ident(name)} TEMPLATE template0 ENCODING ${literal(like.encoding)} LC_COLLATE ${literal(like.collate)} LC_CTYPE ${literal(like.ctype)}`, { mutates: true })
  const drop = () => psql(ctx, run, 'postgres', `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`, { mutates: true }).then(() => {})
  const unregister = ctx.cleanups.add(drop)
  try {
    return await use(name)
  } finally {
    unregister()
    await drop().catch((e) => ctx.log.warn(`could not drop the scratch database ${name}: ${(e as Error).message}`))
  }
}

/** A dump as a tool's input: a path on the host (direct, allows --jobs), streamed on stdin into a container. */
function fileInput(run: DriverRun, path: string): { args: string[]; stdinFile?: string } {
  return run.target.kind === 'direct' ? { args: [path] } : { args: [], stdinFile: path }
}

function pgRestoreArgv(run: DriverRun, superuser: boolean): string[] {
  return ['pg_restore', '--exit-on-error', ...(superuser ? [] : ['--no-owner', '--no-privileges']),
    ...(run.settings.jobs > 1 && run.target.kind === 'direct' ? [`--jobs=${run.settings.jobs}`] : [])]
}

async function verify(ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult> {
  const details = dump.details as unknown as PgDetails
  const conn = pgConnection(run)
  const globals = readFileSync(join(run.dir, 'globals.sql'), 'utf8')
  if (!/-- PostgreSQL database cluster dump complete\n--\s*$/.test(globals.split('\n').slice(-6).join('\n'))) {
    throw new KitError('globals.sql is incomplete: it lacks the "cluster dump complete" trailer')
  }
  const checked: string[] = []
  for (const [db, info] of Object.entries(details.databases)) {
    await scratchDatabase(ctx, run, info, async (scratch) => {
      const input = fileInput(run, join(run.dir, info.file))
      const r = await run.target.run(ctx, 'postgres', [...pgRestoreArgv(run, details.superuser), '-d', dbArg(scratch), ...input.args],
        { env: conn.env, secretEnv: conn.secretEnv, stdinFile: input.stdinFile, mutates: true, allowFailure: true, timeout: run.settings.timeoutMs, title: `pg_restore ${db}` })
      if (r.exitCode !== 0) throw new KitError(`verification of database ${db} failed: pg_restore into a scratch database exited ${r.exitCode}:\n${ctx.secrets.mask(r.stderr.trim().split('\n').slice(-6).join('\n'))}`)
      const restored = parseCounts(await psql(ctx, run, scratch, COUNT_SQL))
      const problems = compareCounts(info.tables ?? {}, restored)
      if (info.tables && problems.length) throw new KitError(`verification of database ${db} failed:\n  ${problems.slice(0, 20).join('\n  ')}`)
      checked.push(`${db} (${Object.keys(restored).length - 1} tables)`)
    })
  }
  return { method: 'pg_restore into a scratch database, per-table row counts equal to the dump snapshot', detail: checked.join(', ') }
}

/** Globals without the connecting role's own statements: restoring its old password would lock the restore out. */
export function filterGlobals(sql: string, user: string): string {
  const own = new RegExp(`^(CREATE|ALTER) ROLE ${user.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( |;)`)
  return sql.split('\n').filter((l) => !own.test(l)).join('\n')
}

async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  const details = manifest.details as unknown as PgDetails
  const conn = pgConnection(run)
  const opts = { env: conn.env, secretEnv: conn.secretEnv }
  const result: RestoreResult = { restored: [], warnings: [] }
  const globalsFile = join(run.scratch, 'globals.sql')
  writeFileSync(globalsFile, filterGlobals(readFileSync(join(run.dir, 'globals.sql'), 'utf8'), conn.user), { mode: 0o600 })
  const gin = fileInput(run, globalsFile)
  const g = await run.target.run(ctx, 'postgres', ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', 'postgres', ...gin.args.flatMap((f) => ['-f', f])],
    { ...opts, stdinFile: gin.stdinFile, mutates: true, allowFailure: true, timeout: run.settings.timeoutMs })
  const errors = g.stderr.split('\n').filter((l) => /ERROR:/.test(l) && !/already exists/.test(l))
  for (const e of errors) result.warnings.push(`globals: ${e.replace(/^.*?ERROR:\s*/, '')}`)
  result.restored.push(`roles and tablespaces (globals.sql${errors.length ? `, ${errors.length} statement(s) failed` : ''})`)

  for (const [db, info] of Object.entries(details.databases)) {
    const maint = db === 'postgres' ? 'template1' : 'postgres'
    const aside = `${db.slice(0, 40)}_pre_restore_${run.id.replace(/\W/g, '').toLowerCase()}`.slice(0, 63)
    const [exists] = await psql(ctx, run, maint, `SELECT count(*) FROM pg_database WHERE datname = ${literal(db)}`)
    const moved = exists === '1'
    if (moved) {
      // Keep the current database until the restore is proven: set it aside, restore, then drop it.
      await psql(ctx, run, maint, `ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS false`, { mutates: true })
      await psql(ctx, run, maint, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${literal(db)} AND pid <> pg_backend_pid()`, { mutates: true })
      await psql(ctx, run, maint, `ALTER DATABASE ${ident(db)} RENAME TO ${ident(aside)}`, { mutates: true })
    }
    const undo = async () => {
      await psql(ctx, run, maint, `DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`, { mutates: true })
      if (moved) {
        await psql(ctx, run, maint, `ALTER DATABASE ${ident(aside)} RENAME TO ${ident(db)}`, { mutates: true })
        await psql(ctx, run, maint, `ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS true`, { mutates: true })
      }
    }
    const unregister = ctx.cleanups.add(undo)
    try {
      const input = fileInput(run, join(run.dir, info.file))
      const r = await run.target.run(ctx, 'postgres', [...pgRestoreArgv(run, details.superuser), '--create', '-d', dbArg(maint), ...input.args],
        { ...opts, stdinFile: input.stdinFile, mutates: true, allowFailure: true, timeout: run.settings.timeoutMs, title: `pg_restore ${db}` })
      if (r.exitCode !== 0) throw new KitError(`pg_restore of database ${db} failed (exit ${r.exitCode}):\n${ctx.secrets.mask(r.stderr.trim().split('\n').slice(-6).join('\n'))}`)
      if (!ctx.dryRun && info.tables) {
        const problems = compareCounts(info.tables, parseCounts(await psql(ctx, run, db, COUNT_SQL)))
        if (problems.length) throw new KitError(`restored database ${db} does not match the backup:\n  ${problems.slice(0, 20).join('\n  ')}`)
      }
    } catch (e) {
      ctx.log.warn(`restore of ${db} failed: putting the previous database back`)
      await undo().catch((u) => ctx.log.error(`could not put ${db} back: ${(u as Error).message}${moved ? ` (it is kept as ${aside})` : ''}`))
      unregister()
      throw e
    }
    unregister()
    if (moved) await psql(ctx, run, maint, `DROP DATABASE IF EXISTS ${ident(aside)} WITH (FORCE)`, { mutates: true })
    const tables = info.tables ? ` (${Object.keys(info.tables).length - 1} tables${ctx.dryRun ? '' : ', row counts checked'})` : ''
    result.restored.push(`database ${db}${tables}`)
  }
  return result
}

export const postgresDriver: StoreDriver = {
  name: 'postgres',
  backup,
  verify,
  restore,
  describeRestore: (m) => `roles and the databases ${Object.keys((m.details as unknown as PgDetails).databases).join(', ')} (each is replaced)`,
}
