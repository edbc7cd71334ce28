// PostgreSQL restore that never destroys before it proves: every database of the set is restored
// into a scratch database beside the live one (the set's checksums read beside the first load, the
// writers still run) and its row counts are checked (the rows the server inserted, else counted); only
// when ALL are proven, and the checksums too, are the writers stopped and does one transaction
// rename each live database aside and each scratch database into its
// name, and give each its own properties from the dump (owner, settings, grants, comment) (renames
// are transactional: a kill leaves either every old or every new database under the production
// names). What a live database held is kept, as the file stores, Redis and Neo4j keep what they
// replace: the same transaction marks its copy "owp-replaced:<database>:<set id>:<time>" (never backed up; the
// operator drops it once the restore is confirmed, and every later restore names it). With
// BACKUP_RESTORE_KEEP_PREVIOUS=false the old copies are dropped after the commit instead. Objects
// of a run are marked by a database comment "owp-restore:<new|old>:<database>:<set id>", so the
// next run recognises and clears a killed run's leftovers instead of failing with "already exists".
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import type { DriverRun, Manifest, RestoreResult } from '../types.ts'
import { ensureSpace, formatSize } from '../space.ts'
import { sha256File } from '../manifest.ts'
import { databaseStatements, eachAtMost, fileInput, filterGlobals, ident, literal, loadDump, pgConnection, proveCounts, psql, type PgDetails } from './pg-common.ts'
import { exitCodeAndWhy, outputTail, colonLines } from '../../core/exec.ts'

const MARK = 'owp-restore'
/** The comment of a live database's copy a restore replaced and kept: "owp-replaced:<db>:<set id>:<time>". */
export const REPLACED = 'owp-replaced'
// Admin statements connect to template1: "postgres" itself may be one of the databases swapped.
const MAINT = 'template1'
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A marked name: short, valid for any database name length (63 bytes), unique per run and database. */
function markedName(kind: 'new' | 'old', db: string, id: string): string {
  const h = createHash('sha256').update(`${db}\0${id}`).digest('hex').slice(0, 10)
  return `${db.replace(/[^a-z0-9_]/gi, '').slice(0, 30).toLowerCase()}_owp_${kind}_${h}`
}

interface Leftover { name: string; kind: 'new' | 'old'; of: string; id: string; allowconn: boolean }
/** A copy an earlier restore replaced and kept (its comment: REPLACED:<of>:<set id>:<when>). */
export interface Kept { name: string; of: string; id: string; when: string; bytes: number }

/** The copies earlier restores replaced and kept: "kept|<bytes>|<name>|<comment>" rows (parseKept). */
export const KEPT_SQL = `SELECT 'kept|' || pg_database_size(oid) || '|' || datname || '|' || shobj_description(oid, 'pg_database')
      FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '${REPLACED}:%'`

/** A KEPT_SQL row after its tag. A marked name is ours (no '|'); the comment: the database (which may hold ':' or '|'), the set, the time. */
export function parseKept(rest: string[]): Kept {
  const [bytes, name, ...comment] = rest
  const parts = comment.join('|').split(':')
  return { name: name!, bytes: Number(bytes), when: parts.at(-1)!, id: parts.at(-2)!, of: parts.slice(1, -2).join(':') }
}
interface LiveDb { allowconn: boolean; owner: string; member: boolean }
/** The role the restore connects as. */
interface Me { name: string; superuser: boolean; createdb: boolean }

/**
 * What the restore needs to know of the server before it changes anything, in one round trip:
 * a killed run's marked leftovers (and the older unmarked "<db>_pre_restore_<id>"), each database
 * of the set that exists (owner, open to connections), their size together, and where the server
 * keeps its data (null without the right to see it: pg_settings then has no such row).
 */
interface Catalogue { leftovers: Leftover[]; older: string[]; kept: Kept[]; live: Array<LiveDb | null>; liveBytes: number; dataDir: string | null; me: Me }

async function readCatalogue(ctx: Ctx, run: DriverRun, dbs: string[]): Promise<Catalogue> {
  const wanted = dbs.length ? `(VALUES ${dbs.map((d, i) => `(${i}, ${literal(d)})`).join(', ')}) v(i, n)` : `(SELECT 0, ''::name WHERE false) v(i, n)`
  const rows = await psql(ctx, run, MAINT, `SELECT 'mark|' || datallowconn || '|' || datname || '|' || shobj_description(oid, 'pg_database')
      FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '${MARK}:%'
    UNION ALL SELECT 'older|' || datname FROM pg_database WHERE datname ~ '_pre_restore_[0-9a-z]+$'
    UNION ALL ${KEPT_SQL}
    UNION ALL SELECT 'live|' || v.i || '|' || d.datallowconn || '|' || pg_has_role(current_user, d.datdba, 'MEMBER') || '|' || pg_get_userbyid(d.datdba) FROM ${wanted} JOIN pg_database d ON d.datname = v.n
    UNION ALL SELECT 'me|' || rolsuper || '|' || rolcreatedb || '|' || rolname FROM pg_roles WHERE rolname = current_user
    UNION ALL SELECT 'size|' || coalesce(sum(pg_database_size(d.datname)), 0) FROM ${wanted} JOIN pg_database d ON d.datname = v.n
    UNION ALL SELECT 'dir|' || setting FROM pg_settings WHERE name = 'data_directory'`)
  const c: Catalogue = { leftovers: [], older: [], kept: [], live: dbs.map(() => null), liveBytes: 0, dataDir: null, me: { name: '', superuser: true, createdb: true } }
  const yes = (v: string | undefined) => v === 't' || v === 'true'
  for (const row of rows) {
    const [tag, ...rest] = row.split('|')
    const value = rest.join('|')
    if (tag === 'mark') {
      // a marked name is ours (no '|'); the comment after it is "owp-restore:<kind>:<db>:<set id>"
      const [allow, name, ...comment] = rest
      const [, kind, of, ...id] = comment.join('|').split(':')
      c.leftovers.push({ name: name!, kind: kind as 'new' | 'old', of: of!, id: id.join(':'), allowconn: allow === 't' || allow === 'true' })
    } else if (tag === 'older') c.older.push(value)
    else if (tag === 'kept') c.kept.push(parseKept(rest))
    else if (tag === 'live') {
      const [i, allow, member, ...owner] = rest
      c.live[Number(i)] = { allowconn: yes(allow), member: yes(member), owner: owner.join('|') }
    } else if (tag === 'me') {
      const [su, createdb, ...name] = rest
      c.me = { name: name.join('|'), superuser: yes(su), createdb: yes(createdb) }
    } else if (tag === 'size') c.liveBytes = Number(value)
    else if (tag === 'dir') c.dataDir = value || null
  }
  return c
}

async function exists(ctx: Ctx, run: DriverRun, db: string): Promise<LiveDb | null> {
  return (await readCatalogue(ctx, run, [db])).live[0]!
}

const mutate = (ctx: Ctx, run: DriverRun, sql: string | string[]) => psql(ctx, run, MAINT, sql, { mutates: true })

/** Where the server keeps its data (superuser or pg_read_all_settings), or null. */
export async function dataDirectory(ctx: Ctx, run: DriverRun): Promise<string | null> {
  return (await psql(ctx, run, MAINT, 'SHOW data_directory').catch(() => []))[0] ?? null
}

/**
 * Converge after a killed restore: scratch databases are dropped (they were never swapped in);
 * a set-aside copy whose production name is empty goes back under it; one whose production
 * database exists (the swap committed) is dropped as the run would have. A production database
 * left refusing connections by the run is opened again.
 */
export async function recoverPostgres(ctx: Ctx, run: DriverRun, read?: Catalogue): Promise<string[]> {
  const done: string[] = []
  const { leftovers: found, older } = read ?? await readCatalogue(ctx, run, [])
  for (const l of found) {
    if (l.kind === 'new') {
      await mutate(ctx, run, `DROP DATABASE IF EXISTS ${ident(l.name)} WITH (FORCE)`)
      const live = await exists(ctx, run, l.of)
      if (live && !live.allowconn) await mutate(ctx, run, `ALTER DATABASE ${ident(l.of)} ALLOW_CONNECTIONS true`)
      done.push(`dropped the scratch database ${l.name} of an interrupted restore of ${l.of}`)
    } else if (!(await exists(ctx, run, l.of))) {
      await mutate(ctx, run, `BEGIN; ALTER DATABASE ${ident(l.name)} RENAME TO ${ident(l.of)}; COMMENT ON DATABASE ${ident(l.of)} IS NULL; ALTER DATABASE ${ident(l.of)} ALLOW_CONNECTIONS true; COMMIT;`)
      done.push(`put ${l.of} back under its name (it was set aside by an interrupted restore)`)
    } else {
      await mutate(ctx, run, `DROP DATABASE IF EXISTS ${ident(l.name)} WITH (FORCE)`)
      done.push(`dropped ${l.name}, the copy of ${l.of} an interrupted restore had replaced`)
    }
  }
  // The kit before marks: "<db>_pre_restore_<id>" with no database under its name goes back.
  for (const name of older) {
    const of = name.replace(/_pre_restore_[0-9a-z]+$/, '')
    if (await exists(ctx, run, of)) { ctx.log.warn(`postgres: ${name} (set aside by an earlier restore) is kept: drop it when it is not needed`); continue }
    await mutate(ctx, run, `BEGIN; ALTER DATABASE ${ident(name)} RENAME TO ${ident(of)}; ALTER DATABASE ${ident(of)} ALLOW_CONNECTIONS true; COMMIT;`)
    done.push(`put ${of} back under its name (${name} was left by an interrupted restore)`)
  }
  for (const d of done) ctx.log.warn(`postgres: ${d}`)
  return done
}

/** The statement that ends every session of dbs (none when there are no dbs). */
function endSessions(dbs: string[]): string[] {
  return dbs.length ? [`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (${dbs.map(literal).join(', ')}) AND pid <> pg_backend_pid()`] : []
}


/** The copies earlier restores replaced and kept, in one line for the report (empty when none). */
function keptCopies(kept: Kept[]): string {
  if (!kept.length) return ''
  const total = kept.reduce((n, k) => n + k.bytes, 0)
  const each = kept.map((k) => `${k.name} (${k.of} before the restore of set ${k.id} at ${k.when}, ${formatSize(k.bytes)})`)
  return `earlier restores kept what they replaced, ${formatSize(total)} in all: ${each.join(', ')}; drop each once it is not needed: ${kept.map((k) => `DROP DATABASE ${ident(k.name)};`).join(' ')}`
}

/** What the connecting role lacks to restore the set, before anything changes. */
function rightsMissing(me: Me, details: PgDetails, live: ReadonlyArray<readonly [string, LiveDb | null]>): string[] {
  if (me.superuser) return []
  const out: string[] = []
  // owners, grants and roles' settings come back only as a superuser: without, they would be lost
  if (details.superuser) out.push('the set was taken as a superuser: its owners, grants and database settings restore only as one')
  if (!me.createdb) out.push(`${me.name} may not create databases (CREATEDB): every database is restored beside the live one first`)
  for (const [db, l] of live) if (l && !l.member) out.push(`database ${db} belongs to ${l.owner}, and ${me.name} is not a member of that role`)
  return out
}

export async function restorePostgres(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  const details = manifest.details as unknown as PgDetails
  const conn = pgConnection(run)
  const opts = { env: conn.env, secretEnv: conn.secretEnv }
  const result: RestoreResult = { restored: [], warnings: [] }
  const dbs = Object.entries(details.databases)
  // the set's checksums, when restore.ts left them to us: started beside the first load (or when
  // needed earlier), awaited before production changes
  const proven = run.proof ?? (() => Promise.resolve())
  const live = new Map<string, LiveDb | null>()
  if (ctx.dryRun) for (const [db] of dbs) live.set(db, null)
  else {
    // the reads before anything changes, in one round trip; read again only when a killed run's
    // leftovers were put right (a database put back under its name, one opened again)
    let read = await readCatalogue(ctx, run, dbs.map(([db]) => db))
    const denied = rightsMissing(read.me, details, dbs.map(([db], i) => [db, read.live[i]!] as const))
    if (denied.length) throw new KitError(`the role ${read.me.name} cannot restore this set; nothing was changed:\n  ${denied.join('\n  ')}`, 1, 'restore as a superuser (the image\'s POSTGRES_USER), or, for a set taken without superuser rights, as a role with CREATEDB that is a member of every database\'s owner')
    // each one is told on stderr as it is done (a run that fails later still told it); the summary lists them
    // a killed run's leftovers are put right only for a set whose checksums are proven
    if (read.leftovers.length || read.older.length) await proven()
    const recovered = await recoverPostgres(ctx, run, read)
    result.restored.push(...recovered.map((r) => `first, after an interrupted restore: ${r}`))
    if (recovered.length) read = await readCatalogue(ctx, run, dbs.map(([db]) => db))
    dbs.forEach(([db], i) => live.set(db, read.live[i]!))
    // what earlier restores replaced and kept is the operator's to drop: named on every restore
    const kept = keptCopies(read.kept)
    if (kept) result.warnings.push(kept)
    // Every scratch database lives beside its live one until the swap: the server needs room for all.
    const dumpBytes = manifest.files.filter((f) => f.kind === 'database').reduce((n, f) => n + (f.plain?.bytes ?? f.bytes), 0)
    await ensureSpace(ctx, run.target, 'postgres', read.dataDir, Math.max(read.liveBytes, dumpBytes * 3), 'the scratch databases of the restore')
      .catch((e: Error) => {
        throw kept && e instanceof KitError ? new KitError(`${e.message}\n  ${kept}`, e.exitCode, e.hint) : e
      })
  }

  // Globals: roles the databases' owners and grants need (existing ones are left as they are). They
  // load while the scratch databases are created (a live database's owner exists already), and
  // before any pg_restore starts; a plan lists them first.
  const globals = (async () => {
    // roles are changed in place (ALTER ROLE): their file must be proven first (a small one: read
    // here at once rather than after the dumps)
    const sum = manifest.files.find((f) => f.name === 'globals.sql')?.sha256
    if (run.proof && (!sum || (await sha256File(join(run.dir, 'globals.sql'))) !== sum)) await proven()
    const globalsFile = join(run.scratch, 'globals.sql')
    writeFileSync(globalsFile, filterGlobals(readFileSync(join(run.dir, 'globals.sql'), 'utf8'), conn.user), { mode: 0o600 })
    const gin = fileInput(run, globalsFile)
    const g = await run.target.run(ctx, 'postgres', ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', 'postgres', ...gin.args.flatMap((f) => ['-f', f])],
      { ...opts, stdinFile: gin.stdinFile, mutates: true, allowFailure: true, timeout: run.settings.timeoutMs })
    const errors = g.stderr.split('\n').filter((l) => /ERROR:/.test(l) && !/already exists/.test(l))
    for (const e of errors) result.warnings.push(`globals: ${e.replace(/^.*?ERROR:\s*/, '')}`)
    // ON_ERROR_STOP=0 lets failed statements pass (listed above); a non-zero exit is psql itself failing
    if (g.exitCode !== 0 && !g.skipped) result.warnings.push(`globals: psql exited ${exitCodeAndWhy(ctx, g)}`)
    result.restored.push(`roles and tablespaces (globals.sql${errors.length ? `, ${errors.length} statement(s) failed` : ''})`)
  })()
  globals.catch(() => {}) // awaited below; never an unhandled rejection meanwhile
  if (ctx.dryRun) await globals

  // 1. Restore every database beside the live one and prove it. Nothing live changes here.
  const scratch = new Map<string, string>()
  // each database's own properties (owner, settings, grants, comment), applied in the swap
  const properties = new Map<string, string[]>()
  const dropScratch = async () => {
    for (const name of scratch.values()) await mutate(ctx, run, `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`).catch((e) => ctx.log.warn(`could not drop ${name}: ${(e as Error).message}`))
  }
  const unregister = ctx.cleanups.add(dropScratch)
  // one CREATE DATABASE at a time: the first load starts as soon as its own copy exists, and the
  // next copy is created beside it (two at once slow each other down on a busy server)
  let creating: Promise<unknown> = Promise.resolve()
  const restoreOne = async ([db, info]: (typeof dbs)[number]) => {
    const name = markedName('new', db, run.id)
    scratch.set(db, name)
    const owner = live.get(db)?.owner
    // the kit's own scratch name for this set: a run killed between CREATE and COMMENT left it unmarked
    const create = creating.then(() => mutate(ctx, run, [`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`,
      `CREATE DATABASE ${ident(name)} TEMPLATE template0 ENCODING ${literal(info.encoding)} LC_COLLATE ${literal(info.collate)} LC_CTYPE ${literal(info.ctype)}${owner ? ` OWNER ${ident(owner)}` : ''}`,
      `COMMENT ON DATABASE ${ident(name)} IS ${literal(`${MARK}:new:${db}:${run.id}`)}`]))
    creating = create.catch(() => {})
    await create
    await globals
    const input = fileInput(run, join(run.dir, info.file))
    // the properties come from the archive's table of contents (pre-data reads no table data), beside the restore
    const props = run.target.run(ctx, 'postgres', ['pg_restore', '--create', '--schema-only', '--section=pre-data', '-f', '-', ...input.args],
      { stdinFile: input.stdinFile, timeout: run.settings.timeoutMs, title: `the properties of ${db} in its dump` })
    props.catch(() => {}) // awaited below; never an unhandled rejection meanwhile
    // pg_restore itself; the rows the server inserted into each table, read after it, prove the
    // copy without a second read of every table
    const loading = loadDump(ctx, run, details.superuser, name, join(run.dir, info.file), `pg_restore ${db}`)
    // the set's checksums are read beside the first load (not beside the CREATE it waits for)
    proven().catch(() => {}) // awaited before the swap; never an unhandled rejection meanwhile
    const loaded = await loading
    const r = loaded.result
    const read = await props.catch((e: Error) => e) // nothing of this run still runs when it reports
    if (r.exitCode !== 0) throw new KitError(`pg_restore of database ${db} failed (exit ${r.exitCode}); the live database is untouched${colonLines(outputTail(ctx, r, 6, '\n'))}`)
    if (read instanceof Error) throw new KitError(`the properties of database ${db} could not be read from its dump (${read.message}); the live database is untouched`)
    properties.set(db, databaseStatements(read.stdout, details.superuser))
    if (!ctx.dryRun && info.tables) {
      const { problems } = await proveCounts(ctx, run, name, info.tables, loaded)
      if (problems.length) throw new KitError(`the restored copy of database ${db} does not match the backup; the live database is untouched:\n  ${problems.slice(0, 20).join('\n  ')}`)
    }
    if (!ctx.dryRun) ctx.log.info(`postgres: ${db} restored beside the live database and proven${info.tables ? ' (row counts equal)' : ''}`)
  }
  try {
    // two databases at a time (a set holds several: Open WebUI's, GraphRAG's, postgres); the first
    // failure stops the others from starting, and every scratch copy is dropped below
    // the largest first (the longest load sets the restore's time); a plan lists them in order
    const bytes = (file: string) => { const f = manifest.files.find((m) => m.name === file || m.name === `${file}.age`); return f?.plain?.bytes ?? f?.bytes ?? 0 }
    await eachAtMost(ctx.dryRun ? 1 : 2, ctx.dryRun ? dbs : [...dbs].sort((a, b) => bytes(b[1].file) - bytes(a[1].file)), restoreOne)
    await globals // a set without databases still loads its roles
    // nothing production sees has changed so far: the set must be proven whole, and the writers
    // stopped (they ran beside the copy until now), before the swap
    await proven()
    await run.quiesce?.()
  } catch (e) {
    await globals.catch(() => {}) // nothing of this run still runs when it reports
    unregister()
    await dropScratch()
    throw e
  }

  // 2. The swap: one transaction renames every live database aside and every proven copy into its name.
  // A copy kept is marked as such in the same transaction (a kill after it leaves nothing to finish);
  // its name is unique per restore, so one set restored twice keeps both copies it replaced.
  const keep = run.settings.keepPrevious !== false
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  const aside = new Map<string, string>()
  // unique per restore, also for one set restored twice within a second by one process: a random part
  const nonce = randomBytes(8).toString('hex')
  for (const [db] of dbs) if (live.get(db)) aside.set(db, markedName('old', db, `${run.id}\0${when}\0${nonce}`))
  const swap = ['BEGIN;']
  for (const [db] of dbs) {
    const old = aside.get(db)
    if (old) {
      swap.push(`ALTER DATABASE ${ident(db)} RENAME TO ${ident(old)};`)
      swap.push(...keep
        // it takes connections again as the live database did (closed above for the swap)
        ? [`COMMENT ON DATABASE ${ident(old)} IS ${literal(`${REPLACED}:${db}:${run.id}:${when}`)};`, `ALTER DATABASE ${ident(old)} ALLOW_CONNECTIONS ${live.get(db)!.allowconn};`]
        : [`COMMENT ON DATABASE ${ident(old)} IS ${literal(`${MARK}:old:${db}:${run.id}`)};`])
    }
    swap.push(`ALTER DATABASE ${ident(scratch.get(db)!)} RENAME TO ${ident(db)};`, `COMMENT ON DATABASE ${ident(db)} IS NULL;`, ...properties.get(db) ?? [])
  }
  swap.push('COMMIT;')
  const liveNames = [...aside.keys()]
  try {
    // New sessions would block the rename: refuse them, end the open ones and swap, in one psql, so
    // the live databases refuse connections for one round trip (a rename waits up to 5 s for ended
    // sessions to go); a rename that still finds a session is retried.
    const close = liveNames.map((db) => `ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS false`)
    for (let attempt = 1; ; attempt++) {
      try {
        await mutate(ctx, run, [...(attempt === 1 ? close : []), ...endSessions(liveNames), swap.join(' ')])
        break
      } catch (e) {
        if (attempt >= 20 || !/being accessed by other users/.test((e as Error).message)) throw e
        await delay(250)
      }
    }
  } catch (e) {
    for (const db of liveNames) await mutate(ctx, run, `ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS true`).catch(() => {})
    unregister()
    await dropScratch()
    throw new KitError(`could not swap the restored databases in; the live databases are untouched: ${(e as Error).message}`)
  }
  unregister()
  ctx.log.info(`postgres: swapped in ${dbs.map(([d]) => d).join(', ')}${aside.size ? ` (what ${keep ? 'they held is kept' : 'they held is dropped next'})` : ''}`)

  // 3. What the live databases held: kept (named in the report), or dropped with
  // BACKUP_RESTORE_KEEP_PREVIOUS=false (DROP DATABASE forces a checkpoint: the restored data is
  // written out before the restore ends).
  if (aside.size && !keep) await mutate(ctx, run, [...aside.values()].map((old) => `DROP DATABASE IF EXISTS ${ident(old)} WITH (FORCE)`))
  if (keep && aside.size && !ctx.dryRun) {
    const them = aside.size > 1 ? 'them' : 'it'
    result.warnings.push(`what ${[...aside.keys()].join(', ')} held before this restore is kept as ${[...aside.values()].join(', ')} (not backed up; ` +
      `with BACKUP_RESTORE_KEEP_PREVIOUS=false a restore drops ${them} instead): once the restore is confirmed, drop ${them}: ${[...aside.values()].map((o) => `DROP DATABASE ${ident(o)};`).join(' ')}`)
  }
  for (const [db, info] of dbs) {
    const tables = info.tables ? ` (${Object.keys(info.tables).length - 1} tables${ctx.dryRun ? '' : ', row counts checked'})` : ''
    result.restored.push(`database ${db}${tables}`)
  }
  return result
}
