// PostgreSQL: `pg_dumpall --globals-only` plus `pg_dump -Fc` per database. Verification restores
// each dump into a scratch database and compares per-table row counts with counts taken in the
// very snapshot the dump used (pg_dump --snapshot), so concurrent writes cannot cause false alarms.
// `pg_restore --list` is not enough: it passes on a truncated dump.
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { colonLines, failureReason, outputTail, type ExecResult } from '../../core/exec.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { COUNT_SQL, dbArg, dumpName, eachAtMost, ident, literal, loadDump, parseCounts, pgConnection, proveCounts, psql, psqlArgv, type PgDatabase, type PgDetails } from './pg-common.ts'
import { dataDirectory, KEPT_SQL, parseKept, REPLACED, restorePostgres } from './postgres-restore.ts'
import { ensureSpace } from '../space.ts'
export { COUNT_SQL, compareCounts, dbArg, dumpName, filterGlobals, ident, literal, parseCounts, pgConnection, type PgDatabase } from './pg-common.ts'
export { recoverPostgres } from './postgres-restore.ts'
import type { DriverRun, DumpResult, KeptCopies, ProducedFile, StoreDriver, VerifyResult } from '../types.ts'

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
      throw new KitError(`could not open a snapshot of database ${db}: ${s instanceof Error ? s.message : failureReason(ctx, { ...s, stdout: '' }, 6, '\n')}`)
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

/** A database that is the kit's scratch copy: a verification's, or a restore's (marked by its comment). */
const SCRATCH_DB = `(datname ~ '^owp_verify_' OR coalesce(shobj_description(oid, 'pg_database'), '') LIKE 'owp-restore:%')`
/** What a restore replaced and kept for the operator (postgres-restore.ts): never part of a set. */
const REPLACED_DB = `coalesce(shobj_description(oid, 'pg_database'), '') LIKE '${REPLACED}:%'`

/**
 * The facts' KEPT_SQL rows as one report: what restores replaced and kept, their bytes, and when
 * the oldest was replaced (its comment ends with the time of the restore, YYYY-MM-DDTHH-MM-SSZ;
 * another time is not counted).
 */
export function keptFromFacts(facts: string[]): KeptCopies {
  const out: KeptCopies = { names: [], bytes: 0, since: null }
  for (const line of facts) {
    if (!line.startsWith('kept|')) continue
    const kept = parseKept(line.split('|').slice(1))
    out.names.push(kept.name)
    out.bytes += Number.isFinite(kept.bytes) ? kept.bytes : 0
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)Z$/.exec(kept.when ?? '')
    const at = m ? new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) : null
    if (at && !Number.isNaN(at.getTime()) && (!out.since || at < out.since)) out.since = at
  }
  return out
}

async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const conn = pgConnection(run)
  const opts = { env: conn.env, secretEnv: conn.secretEnv }
  // One round trip for the server facts (version, whether we are superuser, the databases to dump),
  // beside the client's version.
  const [client, facts] = await Promise.all([
    run.target.run(ctx, 'postgres', ['pg_dump', '--version'], opts),
    psql(ctx, run, 'postgres', `SELECT 'version|' || current_setting('server_version')
    UNION ALL SELECT 'superuser|' || rolsuper FROM pg_roles WHERE rolname = current_user
    UNION ALL (SELECT CASE WHEN ${SCRATCH_DB} THEN 'skip|' || datname
        ELSE 'db|' || datname || '|' || pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype END
      FROM pg_database WHERE datallowconn AND NOT datistemplate AND NOT ${REPLACED_DB} ORDER BY datname)
    UNION ALL ${KEPT_SQL}`),
  ])
  // the kit's own scratch copies, left by a killed verification or restore, are no user's data
  const skipped = facts.filter((l) => l.startsWith('skip|')).map((l) => l.slice(5))
  if (skipped.length) ctx.log.warn(`postgres: not backed up: ${skipped.join(', ')} (scratch copies of a verification or a restore of the kit)`)
  const kept = keptFromFacts(facts)
  if (kept.names.length) ctx.log.warn(`postgres: not backed up: ${kept.names.join(', ')} (what a restore replaced, kept until you drop it)`)
  const tools = { pg_dump: client.stdout.trim() }
  const version = facts.find((l) => l.startsWith('version|'))?.slice(8)
  const superuser = facts.find((l) => l.startsWith('superuser|'))?.slice(10)
  const dbs = facts.filter((l) => l.startsWith('db|'))
    .map((l) => { const [, name, encoding, collate, ctype] = l.split('|'); return { name: name!, encoding: encoding!, collate: collate!, ctype: ctype! } })
  const files: ProducedFile[] = []
  const details: PgDetails = { databases: {}, superuser: superuser === 'true' || superuser === 't' }

  const globals = async (extra: string[]) => run.target.run(ctx, 'postgres', ['pg_dumpall', '--globals-only', ...extra],
    { ...opts, mutates: true, stdoutFile: partialPath(run.dir, 'globals.sql'), timeout: run.settings.timeoutMs, allowFailure: true })
  const started = Date.now()
  const globalsDone = (async () => {
    let g = await globals([])
    if (g.exitCode !== 0 && /pg_authid/.test(g.stderr)) {
      ctx.log.warn(`${conn.user} may not read role passwords (pg_authid): dumping roles without passwords`)
      details.globalsWithoutPasswords = true
      g = await globals(['--no-role-passwords'])
    }
    if (g.exitCode !== 0) throw new KitError(`pg_dumpall --globals-only failed (exit ${g.exitCode})${colonLines(outputTail(ctx, { ...g, stdout: '' }, 12, '\n'))}`)
    if (!ctx.dryRun) finishFile(run.dir, 'globals.sql')
    return { name: 'globals.sql', kind: 'globals', durationMs: Date.now() - started } satisfies ProducedFile
  })()
  // the roles are dumped beside the databases (a plan lists them first); what the verification will
  // need to know of the server is read meanwhile
  if (ctx.dryRun) await globalsDone
  else globalsDone.catch(() => {})
  const spaceRead = run.verify && !ctx.dryRun ? verifySpace(ctx, run, dbs.map((d) => d.name)) : null
  spaceRead?.catch(() => {})

  // two databases at a time (the first failure stops new ones); the manifest lists them in name order
  const dumped = new Map<string, { file: ProducedFile; tables: Record<string, number> | null }>()
  await eachAtMost(ctx.dryRun ? 1 : 2, dbs, async (db) => {
    const file = dumpName(db.name)
    const t0 = Date.now()
    const dump = (extra: string[]) => run.target.run(ctx, 'postgres', ['pg_dump', '-Fc', ...extra, '-d', dbArg(db.name)],
      { ...opts, mutates: true, stdoutFile: partialPath(run.dir, file), timeout: run.settings.timeoutMs, title: `pg_dump ${db.name}` })
    let tables: Record<string, number> | null = null
    if (run.verify && !ctx.dryRun) {
      await withSnapshot(ctx, run, db.name, async (snapshot, counts) => { tables = counts; await dump([`--snapshot=${snapshot}`]) })
    } else {
      await dump([])
    }
    if (!ctx.dryRun) finishFile(run.dir, file)
    dumped.set(db.name, { file: { name: file, kind: 'database', of: db.name, durationMs: Date.now() - t0 }, tables })
  }).finally(() => globalsDone.catch(() => {})) // a failed dump reports once the roles' dump ended too
  files.push(await globalsDone)
  for (const db of dbs) {
    const d = dumped.get(db.name)!
    files.push(d.file)
    details.databases[db.name] = { file: d.file.name, encoding: db.encoding, collate: db.collate, ctype: db.ctype, tables: d.tables }
  }
  const result: DumpResult = { files, tools, server: { version: version ?? 'unknown' }, details: details as unknown as Record<string, unknown>, kept }
  if (spaceRead) spaceReads.set(result, spaceRead)
  return result
}

interface VerifyRead { bytes: number; dataDir: string | null; scratch: string[] }

/**
 * The room the verification's scratch copies need (the two largest databases), where the server
 * keeps its data, and the scratch databases of verifications there already.
 */
async function verifySpace(ctx: Ctx, run: DriverRun, dbs: string[]): Promise<VerifyRead> {
  const [sizes, dataDir, scratch] = await Promise.all([
    psql(ctx, run, 'postgres', `SELECT pg_database_size(datname) FROM pg_database WHERE datname IN (${dbs.map(literal).join(', ') || "''"}) ORDER BY 1 DESC LIMIT 2`),
    dataDirectory(ctx, run),
    psql(ctx, run, 'postgres', "SELECT datname FROM pg_database WHERE datname ~ '^owp_verify_'"),
  ])
  return { bytes: sizes.reduce((n, x) => n + Number(x), 0), dataDir, scratch }
}
/** What verifySpace read while the dump ran, by the dump it is for. */
const spaceReads = new WeakMap<DumpResult, Promise<VerifyRead>>()

/** A verification's scratch database outlives its run only when the run was killed (SIGKILL, a lost node): after this long it is a leftover. */
const STALE_VERIFY_MS = 12 * 3600_000

/** The scratch databases of verifications killed long ago (their name holds the set id, the time their backup started). */
export function staleVerifyDatabases(names: string[], now: Date): string[] {
  return names.filter((n) => {
    const m = /^owp_verify_(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})z_/.exec(n)
    if (!m) return false
    const started = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
    return now.getTime() - started > STALE_VERIFY_MS
  })
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
async function verify(ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult> {
  const details = dump.details as unknown as PgDetails
  const globals = readFileSync(join(run.dir, 'globals.sql'), 'utf8')
  if (!/-- PostgreSQL database cluster dump complete\n--\s*$/.test(globals.split('\n').slice(-6).join('\n'))) {
    throw new KitError('globals.sql is incomplete: it lacks the "cluster dump complete" trailer')
  }
  const entries = Object.entries(details.databases)
  const checked = new Map<string, string>()
  // The scratch copies land on the production server's volume: refuse before filling it. Two are
  // restored at a time: room for the two largest (read while the dump ran, else now).
  const names = entries.map(([d]) => d)
  const { bytes, dataDir, scratch } = await (spaceReads.get(dump) ?? verifySpace(ctx, run, names)).catch(() => verifySpace(ctx, run, names))
  // a backup killed while it verified (no cleanup runs on SIGKILL) left its scratch copy: the next one drops it
  const stale = staleVerifyDatabases(scratch, new Date())
  for (const name of stale) {
    await psql(ctx, run, 'postgres', `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`, { mutates: true })
    ctx.log.warn(`postgres: dropped ${name}, the scratch database of a verification that was killed`)
  }
  const others = scratch.filter((n) => !stale.includes(n))
  if (others.length) ctx.log.warn(`postgres: ${others.join(', ')} belong(s) to a verification running beside this one or killed less than 12 h ago (then a backup drops it once it is 12 h old, or drop it yourself)`)
  await ensureSpace(ctx, run.target, 'postgres', dataDir, bytes, entries.length > 1 ? 'the scratch databases of the verification (two at a time)' : 'the scratch database of the verification')
  await eachAtMost(ctx.dryRun ? 1 : 2, entries, async ([db, info]) => {
    await scratchDatabase(ctx, run, info, async (scratch) => {
      // the rows the server inserted against the dump snapshot's counts, else counted
      const loaded = await loadDump(ctx, run, details.superuser, scratch, join(run.dir, info.file), `pg_restore ${db}`)
      const r = loaded.result
      if (r.exitCode !== 0) throw new KitError(`verification of database ${db} failed: pg_restore into a scratch database exited ${r.exitCode}${colonLines(outputTail(ctx, r, 6, '\n'))}`)
      const { problems, counts } = await proveCounts(ctx, run, scratch, info.tables ?? {}, loaded)
      if (info.tables && problems.length) throw new KitError(`verification of database ${db} failed:\n  ${problems.slice(0, 20).join('\n  ')}`)
      checked.set(db, `${db} (${Object.keys(counts).length - 1} tables)`)
    })
  })
  return { method: 'pg_restore into a scratch database, per-table row counts equal to the dump snapshot', detail: entries.map(([db]) => checked.get(db)).join(', ') }
}


export const postgresDriver: StoreDriver = {
  name: 'postgres',
  backup,
  verify,
  restore: restorePostgres,
  restoresBeside: true,
  describeRestore: (m) => `roles and the databases ${Object.keys((m.details as unknown as PgDetails).databases).join(', ')} (each is replaced)`,
}
