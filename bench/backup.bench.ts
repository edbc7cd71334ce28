// Benchmark: a PostgreSQL backup by the kit (pg_dumpall globals + pg_dump -Fc of every database +
// sha256 + manifest, without the verification restore) vs a bare `pg_dump -Fc` of the same
// database, on a generated database of a few hundred MB in a real PostgreSQL 15. Goal: <= 1.15.
// Runs alternate, and the order flips every round, so cache and background load hit both alike;
// the medians and the minimums (the least disturbed runs) are both printed, with the load average.
// Run: tsx bench/backup.bench.ts        BENCH_ROWS=200000 shrinks the table; BENCH_ROUNDS=3 by default.
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { startPostgres } from '../test/helpers/postgres.ts'
import { tmpDir } from '../test/helpers/tmp.ts'
import { testCtx } from '../test/helpers/context.ts'
import { ROOT } from '../scripts/lib/core/paths.ts'
import { resolveShared, retentionFrom } from '../scripts/lib/backup/settings.ts'
import { runBackup } from '../scripts/lib/backup/backup.ts'
import { withPgClientPath } from '../scripts/lib/tools/pg-client.ts'

const rows = Number(process.env.BENCH_ROWS ?? 2_500_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const tmp = tmpDir('owp-bench-backup-')
const pg = await startPostgres()
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const secs = (ms: number) => `${(ms / 1000).toFixed(2)}s`

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => { err += d })
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} exited ${code}: ${err}`))))
  })
}

try {
  const genStart = performance.now()
  pg.sql('CREATE DATABASE bench')
  pg.sql(`CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, payload text, score double precision);
    INSERT INTO events SELECT g, '2025-01-01'::timestamptz + g * interval '1 second', (ARRAY['login','chat','upload','error'])[1 + g % 4],
      md5(g::text) || md5((g * 31)::text) || repeat(' lorem ipsum', g % 7), random() FROM generate_series(1, ${rows}) g;
    CREATE TABLE docs (id int PRIMARY KEY, body text); INSERT INTO docs SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, ${Math.round(rows / 20)}) g`, 'bench')
  pg.sql('VACUUM ANALYZE', 'bench')
  const size = Number(pg.sql("SELECT pg_database_size('bench')"))
  console.log(`database: ${(size / 1048576).toFixed(0)} MiB (${rows} + ${Math.round(rows / 20)} rows), generated in ${secs(performance.now() - genStart)}`)

  // the same programs as the kit: without Debian's pg_wrapper in front (scripts/lib/tools/pg-client.ts)
  const env = withPgClientPath({ ...process.env, ...pg.env } as Record<string, string>, process.env.PATH)
  const emptyEnv = join(tmp.path, 'empty.env')
  writeFileSync(emptyEnv, '')
  const bare: number[] = []
  const kitCli: number[] = []
  const kitLib: number[] = []
  let dumpBytes = 0
  let kitBytes = 0
  // Warm-up: one bare dump, so the first measured run does not pay for a cold cache alone.
  await timed('pg_dump', ['-Fc', '-d', 'bench', '-f', join(tmp.path, 'warm.dump')], env)
  const runBare = async (i: number) => {
    const out = join(tmp.path, `bare-${i}.dump`)
    bare.push(await timed('pg_dump', ['-Fc', '-d', 'bench', '-f', out], env))
    dumpBytes = statSync(out).size
    rmSync(out)
  }
  const runCli = async (i: number) => {
    const dest = join(tmp.path, `cli-${i}`)
    kitCli.push(await timed(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/backup.ts'), '--store', 'postgres', '--target', 'direct',
      '--dest', dest, '--no-verify', '--env-file', emptyEnv], { ...env, NO_COLOR: '1' }))
    rmSync(dest, { recursive: true, force: true })
  }
  const runLib = async (i: number) => {
    const ctx = testCtx({ env: { ...pg.env, BACKUP_STAGING_DIR: tmp.path } })
    const libDest = join(tmp.path, `lib-${i}`)
    mkdirSync(libDest)
    const shared = await resolveShared(ctx, { store: 'postgres', target: 'direct', dest: libDest, 'env-file': emptyEnv })
    const t0 = performance.now()
    const report = await runBackup(ctx, { stores: ['postgres'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: false, recipients: [], retention: retentionFrom({}) })
    kitLib.push(performance.now() - t0)
    if (!report.ok) throw new Error(`backup failed: ${ctx.stderr()}`)
    kitBytes = report.stores[0]!.bytes ?? 0
    rmSync(libDest, { recursive: true, force: true })
  }
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? [runBare, runCli, runLib] : [runLib, runCli, runBare]
    for (const step of order) await step(i)
    console.log(`round ${i + 1}: bare pg_dump -Fc ${secs(bare.at(-1)!)}, kit CLI ${secs(kitCli.at(-1)!)}, kit library ${secs(kitLib.at(-1)!)}`)
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  const b = median(bare)
  console.log(`dump ${(dumpBytes / 1048576).toFixed(1)} MiB (kit set ${(kitBytes / 1048576).toFixed(1)} MiB: + globals, postgres db, manifest)`)
  console.log(`median: bare pg_dump -Fc ${secs(b)}, kit CLI ${secs(median(kitCli))}, kit library ${secs(median(kitLib))}`)
  console.log(`ratio kit CLI / bare pg_dump = ${(median(kitCli) / b).toFixed(3)} (goal <= 1.15); kit library / bare = ${(median(kitLib) / b).toFixed(3)}`)
  const mb = Math.min(...bare)
  console.log(`ratio of the fastest runs: kit CLI / bare = ${(Math.min(...kitCli) / mb).toFixed(3)}; kit library / bare = ${(Math.min(...kitLib) / mb).toFixed(3)}`)
  console.log(`host: ${execFileSync('nproc').toString().trim()} CPUs, node ${process.version}`)
} finally {
  await pg.stop()
  tmp.remove()
}
