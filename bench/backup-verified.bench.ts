// Benchmark: a VERIFIED PostgreSQL backup by the kit (pg_dump -Fc in a snapshot with row counts,
// sha256, restore into a scratch database, compare the counts) against the same work by hand
// (pg_dump -Fc, sha256sum, createdb + pg_restore into a scratch database, count the rows, dropdb),
// and the kit's restore of that set against a bare pg_restore into a fresh database, and against
// the same by hand over an existing database (dropdb, createdb, pg_restore: the old copy removed,
// without the kit's proof and swap). The kit keeps what the live database held (as a bare
// pg_restore into a new database leaves the old one): those copies are dropped after each round,
// outside the timings, as the peers' databases are. Same data, same run; rounds alternate their
// order. Raw medians and ratios printed, nothing asserted.
// Goals: verified backup <= 1.1, restore <= 1.1.
// Needs root (or the postgres user) and PostgreSQL 15 (Debian postgresql): it starts its own server.
// Run: tsx bench/backup-verified.bench.ts     BENCH_ROWS=200000 shrinks the data; BENCH_ROUNDS=3.
// The test helper's server does not wait for the disk (fsync=off); BENCH_DURABLE=1 runs it with
// PostgreSQL's own defaults instead (fsync, synchronous_commit, full_page_writes on), as production.
import { spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { startPostgres } from '../test/helpers/postgres.ts'
import { tmpDir } from '../test/helpers/tmp.ts'
import { testCtx } from '../test/helpers/context.ts'
import { resolveShared, retentionFrom } from '../scripts/lib/backup/settings.ts'
import { runBackup } from '../scripts/lib/backup/backup.ts'
import { runRestore } from '../scripts/lib/backup/restore.ts'
import { withPgClientPath } from '../scripts/lib/tools/pg-client.ts'

const rows = Number(process.env.BENCH_ROWS ?? 1_000_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const tmp = tmpDir('owp-bench-verified-')
const durable = process.env.BENCH_DURABLE === '1'
const pg = await startPostgres(durable ? { settings: ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on'] } : {})
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const secs = (ms: number) => `${(ms / 1000).toFixed(2)}s`
// the peers run the same programs as the kit: on Debian the newest version's own, not the pg_wrapper
// script in front of them (scripts/lib/tools/pg-client.ts; ~30 ms of Perl per command)
const env = withPgClientPath({ ...process.env, ...pg.env } as Record<string, string>, process.env.PATH)

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))))
  })
}
// the comparison the kit makes: the row count of every table
const counts = (db: string) => run('psql', ['-X', '-At', '-d', db, '-c', "SELECT (SELECT count(*) FROM events) || ',' || (SELECT count(*) FROM docs)"])

try {
  pg.sql('CREATE DATABASE bench')
  pg.sql(`CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, payload text, score double precision);
    INSERT INTO events SELECT g, '2025-01-01'::timestamptz + g * interval '1 second', (ARRAY['login','chat','upload','error'])[1 + g % 4],
      md5(g::text) || repeat(' lorem ipsum', g % 7), random() FROM generate_series(1, ${rows}) g;
    CREATE TABLE docs (id int PRIMARY KEY, body text); INSERT INTO docs SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, ${Math.round(rows / 20)}) g`, 'bench')
  pg.sql('VACUUM ANALYZE', 'bench')
  console.log(`database: ${(Number(pg.sql("SELECT pg_database_size('bench')")) / 1048576).toFixed(0)} MiB (${rows} + ${Math.round(rows / 20)} rows)`)
  const emptyEnv = join(tmp.path, 'empty.env')
  writeFileSync(emptyEnv, '')

  const handBackup: number[] = []
  const kitBackup: number[] = []
  const handRestore: number[] = []
  const handReplace: number[] = []
  const kitRestore: number[] = []
  let lastSet = ''
  const byHandBackup = async (i: number) => {
    const file = join(tmp.path, `hand-${i}.dump`)
    const t0 = performance.now()
    await run('pg_dump', ['-Fc', '-d', 'bench', '-f', file])
    await run('sha256sum', [file])
    await run('createdb', [`hand_verify_${i}`])
    await run('pg_restore', ['--exit-on-error', '-d', `hand_verify_${i}`, file])
    const [a, b] = await Promise.all([counts('bench'), counts(`hand_verify_${i}`)])
    if (a !== b) throw new Error(`by hand: counts differ ${a} / ${b}`)
    await run('dropdb', [`hand_verify_${i}`])
    handBackup.push(performance.now() - t0)
    const t1 = performance.now()
    await run('createdb', [`hand_restore_${i}`])
    await run('pg_restore', ['--exit-on-error', '-d', `hand_restore_${i}`, file])
    handRestore.push(performance.now() - t1)
    // over an existing database (the one just restored stands for the live copy)
    const t2 = performance.now()
    await run('dropdb', [`hand_restore_${i}`])
    await run('createdb', [`hand_restore_${i}`])
    await run('pg_restore', ['--exit-on-error', '-d', `hand_restore_${i}`, file])
    handReplace.push(performance.now() - t2)
    await run('dropdb', [`hand_restore_${i}`])
    rmSync(file)
  }
  const byKit = async (i: number) => {
    const dest = join(tmp.path, `kit-${i}`)
    mkdirSync(dest)
    const ctx = testCtx({ env: { ...pg.env, BACKUP_STAGING_DIR: tmp.path }, yes: true })
    const shared = await resolveShared(ctx, { store: 'postgres', target: 'direct', dest, 'env-file': emptyEnv })
    const common = { explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings }
    const t0 = performance.now()
    const report = await runBackup(ctx, { ...common, stores: ['postgres'], verify: true, recipients: [], retention: retentionFrom({}) })
    kitBackup.push(performance.now() - t0)
    if (!report.ok) throw new Error(`kit backup failed: ${ctx.stderr()}`)
    const t1 = performance.now()
    const restored = await runRestore(ctx, { ...common, stores: ['postgres'], from: 'latest' })
    kitRestore.push(performance.now() - t1)
    if (!restored.ok) throw new Error(`kit restore failed: ${ctx.stderr()}`)
    lastSet = restored.stores[0]?.set ?? ''
    for (const kept of pg.sql("SELECT string_agg(datname, ' ') FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE 'owp-replaced:%'").split(' ').filter(Boolean)) await run('dropdb', [kept])
    rmSync(dest, { recursive: true, force: true })
  }
  console.log(`server: ${durable ? 'durable (fsync, synchronous_commit, full_page_writes on)' : 'the test helper\'s (fsync off)'}`)
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  for (let i = 0; i < rounds; i++) {
    for (const step of i % 2 === 0 ? [byHandBackup, byKit] : [byKit, byHandBackup]) await step(i)
    console.log(`round ${i + 1}: verified backup by hand ${secs(handBackup.at(-1)!)}, kit ${secs(kitBackup.at(-1)!)}; restore bare pg_restore ${secs(handRestore.at(-1)!)}, over an existing database by hand ${secs(handReplace.at(-1)!)}, kit ${secs(kitRestore.at(-1)!)}`)
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (last kit set ${lastSet})`)
  console.log(`median verified backup: by hand ${secs(median(handBackup))}, kit ${secs(median(kitBackup))}; ratio kit / by hand = ${(median(kitBackup) / median(handBackup)).toFixed(3)} (goal <= 1.1)`)
  console.log(`median restore: bare pg_restore ${secs(median(handRestore))}, kit ${secs(median(kitRestore))}; ratio kit / bare = ${(median(kitRestore) / median(handRestore)).toFixed(3)} (goal <= 1.1)`)
  // what the kit adds (checksums, the row counts that prove the copy, the swap, the drop of the old
  // copy) grows far slower than pg_restore with the data: the difference says more than one ratio
  console.log(`median restore difference kit - bare: ${secs(median(kitRestore.map((k, i) => k - handRestore[i]!)))} (paired by round)`)
  console.log(`median restore over an existing database: by hand (dropdb, createdb, pg_restore) ${secs(median(handReplace))}, kit ${secs(median(kitRestore))}; ratio = ${(median(kitRestore) / median(handReplace)).toFixed(3)}`)
} finally {
  await pg.stop()
  tmp.remove()
}
