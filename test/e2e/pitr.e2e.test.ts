// Point-in-time recovery of the compose PostgreSQL on the real engine: the kit's postgres image
// (the e2e stand-in: Debian's PostgreSQL 15 with pgBackRest) archives its WAL through the compose
// file's archive_command; a base backup, rows written before and after a moment, then
// `restore --store postgres --to <moment>`: the rows before are there as they were, the rows after
// are not, and the stack the files share is whole again (postgres on the recovered volume).
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest'
import { kit, ps, psql, pgChecksum, until, ensureStack, type Stack } from './kit.ts'
import type { StackPaths } from './harness/stack.ts'

const { env: engineEnv } = inject('e2e')
let stack: Stack
let paths: StackPaths
const timings: Record<string, number> = {}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now()
  try { return await fn() } finally { timings[name] = Math.round((performance.now() - t0) / 100) / 10 }
}

/** Close the current WAL segment and wait until the server's archiver has pushed it through pgBackRest. */
async function archiveNow(): Promise<void> {
  const segment = await psql(stack, 'SELECT pg_walfile_name(pg_switch_wal())')
  await until(`WAL ${segment} archived`, async () => (await psql(stack, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= segment, 120_000, 1000)
}

beforeAll(async () => {
  ;({ stack, paths } = await timed('stack', () => ensureStack(engineEnv)))
}, 1_200_000)

afterAll(() => {
  process.stderr.write(`pitr e2e timings (s): ${JSON.stringify(timings)}\n`)
})

describe('point-in-time recovery of the compose PostgreSQL on a real engine', () => {
  it('recovers to a moment between two transactions: rows after it gone, rows before it intact, the stack whole again', async () => {
    const base = await timed('base backup', () => kit(stack, 'scripts/backup.ts', ['--store', 'postgres', '--pitr', '--target', 'compose', '--env-file', paths.envFile,
      '--dest', paths.backups, '--metrics-dir', paths.textfile]))
    expect(base.code, base.stderr.slice(-4000)).toBe(0)
    expect(base.stdout).toMatch(/postgres \(pitr\): (full|diff) backup \S+ finished/)

    await psql(stack, `CREATE TABLE pitr_rows (id int PRIMARY KEY, phase text NOT NULL, body text);
      INSERT INTO pitr_rows SELECT i, 'before', md5(i::text) FROM generate_series(1, 500) i;`)
    const before = await pgChecksum(stack, ['pitr_rows'])
    await sleep(1100)
    const target = await psql(stack, `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`)
    await sleep(1100)
    await psql(stack, "INSERT INTO pitr_rows SELECT i, 'after', md5(i::text) FROM generate_series(501, 800) i; UPDATE pitr_rows SET body = 'changed' WHERE id <= 10;")
    await timed('archive', archiveNow)

    const r = await timed('restore --to', () => kit(stack, 'scripts/restore.ts', ['--store', 'postgres', '--to', target, '--target', 'compose', '--env-file', paths.envFile,
      '--dest', paths.backups, '--yes'], 900_000))
    expect(r.code, r.stderr.slice(-6000)).toBe(0)
    expect(r.stdout).toContain(`postgres: recovered to ${target}`)

    const after = Number(await psql(stack, "SELECT count(*) FROM pitr_rows WHERE phase = 'after'"))
    const intact = JSON.stringify(await pgChecksum(stack, ['pitr_rows'])) === JSON.stringify(before)
    const line = `pitr: target ${target}, rows after target ${after}, rows before target ${intact ? 'intact' : 'CHANGED'}`
    process.stderr.write(`${line}\n`)
    expect(line).toBe(`pitr: target ${target}, rows after target 0, rows before target intact`)
    expect(await psql(stack, 'SELECT pg_is_in_recovery()')).toBe('f')

    // the files after this one share the stack: every container up and healthy again
    await timed('stack healthy', () => until('every container running and healthy after the switch', async () => {
      const all = await ps(stack)
      return all.length > 10 && all.every((c) => c.State === 'running' && ['healthy', ''].includes(c.Health))
    }, 180_000, 2000))
    await psql(stack, 'DROP TABLE pitr_rows')
  })
})
