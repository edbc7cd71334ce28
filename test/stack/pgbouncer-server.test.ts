// PgBouncer for real, without a Docker engine: the image's own entrypoint (docker/pgbouncer/entrypoint.sh)
// renders the configuration from the environment compose gives the `pgbouncer` service and starts
// Debian's pgbouncer (the package the image installs) on 127.0.0.1, in front of a real PostgreSQL 15
// with compose's max_connections. Open WebUI, the GraphRAG API and the Celery worker and beat connect
// with the DATABASE_URL compose gives them, in transaction pooling, and the pool size holds under load.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chownSync, copyFileSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { composeEnvironment, loadCompose } from '../../scripts/lib/stack/env.ts'
import { lintDockerfileFile, parseDockerfile } from '../../scripts/lib/stack/dockerfile-lint.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { startPostgres, postgresIds, type Postgres } from '../helpers/postgres.ts'
import { startService, type Service } from '../helpers/service.ts'
import { freePort } from '../helpers/net.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { requireTool, testEnv } from './tools.ts'

const ENTRYPOINT = join(ROOT, 'docker', 'pgbouncer', 'entrypoint.sh')
const DOCKERFILE = join(ROOT, 'docker', 'Dockerfile.pgbouncer')
// what compose runs with PGBOUNCER_ENABLED=true and transaction pooling (the defaults: 1 replica, 2 workers)
const compose = loadCompose(composeEnvironment({ ...testEnv(), PGBOUNCER_ENABLED: 'true', PGBOUNCER_POOL_MODE: 'transaction' })).doc
type Svc = { environment: Record<string, string>; command?: string[]; healthcheck: { test: string[] }; user?: string }
const service = (name: string) => compose.services[name] as unknown as Svc
const APPS = ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat']
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`

let pg: Postgres
let bouncer: Service
let port: number
const tmp = tmpDir('owp-pgbouncer-')

/** psql through PgBouncer with the DATABASE_URL compose gives a service (host and port: this PgBouncer). */
function appEnv(app: string): Record<string, string> {
  const url = new URL(service(app).environment.DATABASE_URL!)
  expect(url.host, `${app} connects through pgbouncer`).toBe('pgbouncer:6432')
  return {
    PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: url.pathname.slice(1), PGAPPNAME: app, PATH,
  }
}
/** SQL on psql's stdin: one statement per round trip, as an application's driver sends them; the rows printed, no command tags. */
function psql(env: Record<string, string>, sql: string): string {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1'], { env, input: sql, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }).trimEnd()
}
/** PgBouncer's admin console (SHOW ...) as the stats user the entrypoint names, rows keyed by column. */
function show(what: string): Array<Record<string, string>> {
  const out = execFileSync('psql', ['-X', '-A', '-F', '|', '-P', 'footer=off', '-c', `SHOW ${what}`], { env: { ...appEnv('openwebui'), PGDATABASE: 'pgbouncer' }, encoding: 'utf8' })
  const [header, ...rows] = out.trim().split('\n')
  const cols = header!.split('|')
  return rows.map((r) => Object.fromEntries(r.split('|').map((v, i) => [cols[i]!, v])))
}
const poolOf = (db: string) => show('POOLS').find((p) => p.database === db)!

beforeAll(async () => {
  requireTool('psql')
  if (spawnSync('sh', ['-c', 'command -v pgbouncer'], { env: { PATH } }).status !== 0) throw new Error('pgbouncer is not installed: make setup (Debian package pgbouncer: apt-get install pgbouncer)')
  pg = await startPostgres({ settings: [service('postgres').command!.find((a) => a.startsWith('max_connections='))!] })
  const e = service('pgbouncer').environment
  // the official postgres image makes POSTGRES_USER (the applications' role) the superuser and creates POSTGRES_DB
  pg.sql(`CREATE ROLE "${e.DB_USER}" SUPERUSER LOGIN PASSWORD '${e.DB_PASSWORD}'`)
  pg.sql(`CREATE DATABASE "${e.DB_NAME}" OWNER "${e.DB_USER}"`)
  // PgBouncer refuses to run as root: the run directory (the image's tmpfs) belongs to its user
  const ids = postgresIds()
  chownSync(tmp.path, ids.uid, ids.gid)
  // the image has the script in its own layer; a checkout may sit under a directory that user
  // cannot enter (a clone into `mktemp -d`, mode 0700): run a copy from the run's directory
  const entrypoint = join(tmp.path, 'entrypoint.sh')
  copyFileSync(ENTRYPOINT, entrypoint)
  chownSync(entrypoint, ids.uid, ids.gid)
  port = await freePort()
  bouncer = await startService({
    cmd: 'sh', args: [entrypoint], port, uid: ids.uid, gid: ids.gid, cwd: tmp.path,
    env: { ...e, DB_HOST: '127.0.0.1', DB_PORT: String(pg.port), PGBOUNCER_LISTEN_ADDR: '127.0.0.1', PGBOUNCER_LISTEN_PORT: String(port), PGBOUNCER_RUN_DIR: join(tmp.path, 'run'), PATH },
  })
}, 120_000)

afterAll(async () => {
  await bouncer?.stop()
  await pg?.stop()
  tmp.remove()
})

describe('PgBouncer as the image runs it, in front of a real PostgreSQL', () => {
  it('runs the configuration the entrypoint renders: transaction pooling, sized from the replicas and workers, the password only in the 0600 user list', () => {
    const config = Object.fromEntries(show('CONFIG').map((r) => [r.key, r.value]))
    expect(config).toMatchObject({ pool_mode: 'transaction', default_pool_size: '40', max_db_connections: '40', max_client_conn: '160', auth_type: 'scram-sha-256', listen_port: String(port) })
    const cmdline = readFileSync(`/proc/${bouncer.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
    expect(cmdline).toEqual(['pgbouncer', join(tmp.path, 'run', 'pgbouncer.ini')])
    expect(cmdline.join(' ')).not.toContain(service('pgbouncer').environment.DB_PASSWORD)
    expect(statSync(join(tmp.path, 'run', 'userlist.txt')).mode & 0o777).toBe(0o600)
  })

  it("answers the compose service's healthcheck", () => {
    const [kind, cmd] = service('pgbouncer').healthcheck.test
    expect(kind).toBe('CMD-SHELL')
    const e = service('pgbouncer').environment
    const r = spawnSync('sh', ['-c', cmd!.replace('-p 6432', `-p ${port}`)], { env: { PATH, DB_USER: e.DB_USER, DB_NAME: e.DB_NAME }, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
  })

  it('Open WebUI, the GraphRAG API, the Celery worker and beat connect with their DATABASE_URL and write in transactions', () => {
    psql(appEnv('openwebui'), 'CREATE TABLE IF NOT EXISTS pooled (app text, n int)')
    for (const app of APPS) {
      // transaction pooling: every statement of a transaction runs on the same server connection
      const out = psql(appEnv(app), `BEGIN;\nINSERT INTO pooled VALUES ('${app}', 1);\nSELECT pg_backend_pid();\nINSERT INTO pooled VALUES ('${app}', 2);\nSELECT pg_backend_pid();\nCOMMIT;\nSELECT sum(n) FROM pooled WHERE app = '${app}';\n`).split('\n')
      expect(out).toHaveLength(3)
      expect(out[0], app).toBe(out[1])
      expect(out[2], app).toBe('3')
      // a failed transaction leaves nothing behind, and the next client gets a clean server connection
      expect(() => psql(appEnv(app), `BEGIN;\nINSERT INTO pooled VALUES ('${app}', 100);\nSELECT 1/0;\nCOMMIT;\n`)).toThrow(/division by zero/)
    }
    expect(pg.sql("SELECT app || ':' || sum(n) FROM pooled GROUP BY app ORDER BY app", 'openwebui').split('\n')).toEqual(APPS.slice().sort().map((a) => `${a}:3`))
    expect(poolOf('openwebui').pool_mode).toBe('transaction')
  })

  it('holds the pool size: 10 clients more than the pool queue in PgBouncer while the pool fills PostgreSQL, and all finish', async () => {
    const pool = 40
    const clients = pool + 10
    // a lock every client waits for, held by an admin connected to PostgreSQL directly
    const holder = spawn('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1'], { env: { ...process.env, ...pg.env, PGDATABASE: 'openwebui' }, stdio: ['pipe', 'pipe', 'pipe'] })
    let held = ''
    holder.stdout.on('data', (d) => { held += d })
    holder.stdin.write("SELECT 'locked' FROM pg_advisory_lock(4242);\n")
    await until(() => held.includes('locked'), 'the admin holds the lock')
    const runs = Array.from({ length: clients }, (_, i) => new Promise<number | null>((resolve) => {
      const app = APPS[i % APPS.length]!
      const c = spawn('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', 'SELECT pg_advisory_xact_lock_shared(4242)'], { env: appEnv(app), stdio: 'ignore' })
      c.on('close', (code) => resolve(code))
    }))
    try {
      await until(() => Number(poolOf('openwebui').cl_waiting) === clients - pool, `${clients - pool} clients queue in PgBouncer`)
      const p = poolOf('openwebui')
      expect({ active: Number(p.cl_active), waiting: Number(p.cl_waiting), servers: Number(p.sv_active) + Number(p.sv_idle) + Number(p.sv_used) }).toEqual({ active: pool, waiting: clients - pool, servers: pool })
      // PostgreSQL sees exactly the pool, every connection waiting on the lock
      expect(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'openwebui' AND usename = 'openwebui'")).toBe(String(pool))
      expect(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'openwebui' AND usename = 'openwebui' AND wait_event_type = 'Lock'")).toBe(String(pool))
    } finally {
      holder.stdin.end('SELECT pg_advisory_unlock(4242);\n')
    }
    expect(await Promise.all(runs)).toEqual(Array(clients).fill(0))
    expect(Number(poolOf('openwebui').cl_waiting)).toBe(0)
  })
})

describe('the PgBouncer image builds in principle', () => {
  const steps = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'))
  const arg = (keyword: string) => steps.filter((s) => s.keyword === keyword).map((s) => s.args)

  it('passes the Dockerfile lint', () => {
    expect(lintDockerfileFile(DOCKERFILE)).toEqual([])
  })

  it('runs the entrypoint this suite runs, as the user compose names, and installs packages Debian has', () => {
    const [copy] = arg('COPY')
    expect(copy).toBe('docker/pgbouncer/entrypoint.sh /usr/local/bin/pgbouncer-entrypoint')
    expect(arg('ENTRYPOINT')).toEqual(['["/usr/local/bin/pgbouncer-entrypoint"]'])
    // the build context lets exactly the entrypoint through
    expect(readFileSync(`${DOCKERFILE}.dockerignore`, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['*', '!docker/pgbouncer/entrypoint.sh'])
    expect(arg('USER')).toEqual([service('pgbouncer').user])
    const install = arg('RUN').join(' ').match(/apt-get install -y --no-install-recommends ([^&]+)/)![1]!.trim().split(/\s+/)
    expect(install).toEqual(['pgbouncer', 'postgresql-client-15'])
    for (const pkg of install) {
      const policy = execFileSync('apt-cache', ['policy', pkg], { encoding: 'utf8' })
      expect(policy, `${pkg} is not in this host's Debian release`).toMatch(/Candidate: (?!\(none\))\S+/)
    }
  })
})

async function until(ok: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
