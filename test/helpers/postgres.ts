// A real PostgreSQL 15 for tests: initdb in a temp dir as user postgres, a free port on 127.0.0.1,
// password auth over TCP (so PGPASSWORD handling is exercised), stopped by PID.
import { existsSync, mkdirSync, writeFileSync, chownSync, readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { freePort } from './net.ts'
import { startService, type Service } from './service.ts'
import { tmpDir } from './tmp.ts'

export const PG_BIN = '/usr/lib/postgresql/15/bin'
const INSTALL_HINT = 'install PostgreSQL 15 (Debian: apt-get install postgresql, or `make setup`)'

export interface Postgres {
  port: number
  host: string
  user: string
  password: string
  /** PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE for a client on this host. */
  env: Record<string, string>
  dataDir: string
  /** Unix socket directory (pgBackRest and the kit's point-in-time recovery connect through it). */
  socketDir: string
  /** Run SQL through psql and return unaligned, tuples-only output. */
  sql(query: string, db?: string): string
  stop(): Promise<void>
}

/** Fail loudly (never skip) when the server binaries are missing. */
export function requirePostgres(): void {
  for (const bin of ['initdb', 'postgres', 'pg_ctl']) {
    if (!existsSync(join(PG_BIN, bin))) throw new Error(`${join(PG_BIN, bin)} is missing: ${INSTALL_HINT}`)
  }
  for (const tool of ['psql', 'pg_dump', 'pg_restore', 'pg_dumpall']) {
    try { execFileSync('which', [tool], { stdio: 'ignore' }) } catch { throw new Error(`${tool} is not on PATH: ${INSTALL_HINT}`) }
  }
}

/** The uid/gid PostgreSQL (and other servers that refuse root, PgBouncer) run as: user postgres when we are root. */
export function postgresIds(): { uid: number; gid: number } {
  if (userInfo().uid !== 0) return { uid: userInfo().uid, gid: userInfo().gid }
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    return { uid, gid }
  } catch {
    throw new Error(`user postgres does not exist (PostgreSQL refuses to run as root): ${INSTALL_HINT}`)
  }
}

export interface StartOptions {
  password?: string
  /** Continuous archiving with pgBackRest: archive_mode=on, archive_command through this pgbackrest.conf. */
  archive?: { pgbackrestConfig: string; timeoutSeconds?: number }
  /** More `-c name=value` settings (after the helper's own: the last one wins). */
  settings?: string[]
}

export async function startPostgres(o: StartOptions = {}): Promise<Postgres> {
  requirePostgres()
  const ids = postgresIds()
  const tmp = tmpDir('owp-pg-')
  const dataDir = join(tmp.path, 'data')
  const sockDir = join(tmp.path, 'sock')
  const pwFile = join(tmp.path, 'pw')
  const password = o.password ?? `pg-test-${Math.random().toString(36).slice(2)}-secret`
  mkdirSync(dataDir)
  mkdirSync(sockDir)
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 })
  for (const p of [tmp.path, dataDir, sockDir, pwFile]) chownSync(p, ids.uid, ids.gid)
  execFileSync(join(PG_BIN, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--pwfile', pwFile, '-E', 'UTF8',
    '--locale=C.UTF-8', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync'],
  { uid: ids.uid, gid: ids.gid, stdio: 'pipe' })
  const port = await freePort()
  let svc: Service
  try {
    svc = await startService({
      cmd: join(PG_BIN, 'postgres'),
      args: ['-D', dataDir, '-p', String(port), '-k', sockDir, '-c', 'listen_addresses=127.0.0.1',
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=40',
        ...(o.archive ? ['-c', 'archive_mode=on', '-c', 'archive_command=pgbackrest --stanza=owp archive-push %p', '-c', `archive_timeout=${o.archive.timeoutSeconds ?? 60}`] : []),
        ...(o.settings ?? []).flatMap((v) => ['-c', v])],
      port, uid: ids.uid, gid: ids.gid, cwd: tmp.path,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...(o.archive ? { PGBACKREST_CONFIG: o.archive.pgbackrestConfig } : {}) },
      ready: async () => {
        try { execFileSync('pg_isready', ['-h', sockDir, '-p', String(port)], { stdio: 'ignore' }); return true } catch { return false }
      },
    })
  } catch (e) {
    tmp.remove()
    throw e
  }
  const env = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'postgres', PGPASSWORD: password, PGDATABASE: 'postgres' }
  return {
    port, host: '127.0.0.1', user: 'postgres', password, env, dataDir, socketDir: sockDir,
    sql(query, db = 'postgres') {
      // the program itself, not Debian's pg_wrapper in front of it (30 ms of Perl per call)
      return execFileSync(join(PG_BIN, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', query],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 }).toString().trimEnd()
    },
    async stop() {
      // SIGINT is the "fast" shutdown: open sessions are disconnected instead of waited for.
      try { process.kill(svc.pid, 'SIGINT') } catch { /* gone */ }
      await svc.stop()
      // A point-in-time recovery restarts the server with pg_ctl: that one is not our child.
      await stopPostmaster(dataDir)
      tmp.remove()
    },
  }
}

/** Stop the postmaster a data directory's postmaster.pid names (fast shutdown), waiting for it to go. */
export async function stopPostmaster(dataDir: string): Promise<void> {
  const file = join(dataDir, 'postmaster.pid')
  if (!existsSync(file)) return
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0])
  if (!pid) return
  try { process.kill(pid, 'SIGINT') } catch { return }
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    try { process.kill(pid, 0) } catch { return }
    await new Promise((r) => setTimeout(r, 100))
  }
  try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
}
