// The compose and k8s targets end to end: the kit's real argv go to shims of `docker compose` and
// kubectl (test/fixtures/backup/shims) that run the in-container command on this host, against a
// real PostgreSQL and Redis, with only the environment a container would have. Every kubectl argv
// is then fed to the real kubectl, whose parser rejects a wrong flag before any connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPostgres, type Postgres } from '../helpers/postgres.ts'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'
import { COMPOSE_FILE, ROOT, TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { listSets } from './support.ts'

const SHIMS = join(ROOT, 'test', 'fixtures', 'backup', 'shims')
const tmp = tmpDir('owp-targets-')
const calls = join(tmp.path, 'calls')
const emptyEnv = join(tmp.path, 'empty.env')
let pg: Postgres
let redis: Redis

function recorded(program: string): string[][] {
  return readdirSync(calls).sort().filter((f) => f.endsWith(`.${program}`)).map((f) => {
    const parts = readFileSync(join(calls, f), 'utf8').split('\0')
    parts.pop()
    return parts
  })
}

function realKubectl(): string {
  const bundled = join(TOOLS_BIN, 'kubectl')
  if (existsSync(bundled)) return bundled
  try { return execFileSync('which', ['kubectl'], { env: { PATH: process.env.PATH?.split(':').filter((p) => p !== SHIMS).join(':') } }).toString().trim() } catch {
    throw new Error('kubectl is not installed: run `make setup`')
  }
}

async function setup(kind: 'compose' | 'k8s', store: 'postgres' | 'redis', kitEnv: Record<string, string>, dest: string) {
  rmSync(calls, { recursive: true, force: true })
  mkdirSync(calls)
  const ctx = testCtx({
    yes: true,
    env: {
      PATH: `${SHIMS}:${process.env.PATH}`, SHIM_CALLS: calls, BACKUP_STAGING_DIR: tmp.path, ...kitEnv,
      // What the containers themselves hold: a local trust connection for postgres, the port Redis listens on.
      SHIM_POSTGRES_ENV: `PGHOST=127.0.0.1 PGPORT=${pg.port} PGPASSWORD=${pg.password}`,
      SHIM_REDIS_PORT: String(redis.port),
    },
  })
  const shared = await resolveShared(ctx, { store, target: kind, dest, 'env-file': emptyEnv, timeout: '60' })
  const backup = () => runBackup(ctx, { stores: [store], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [], retention: retentionFrom({}) })
  const restore = () => runRestore(ctx, { stores: [store], explicit: true, from: 'latest', target: shared.target, dest: shared.dest, settings: shared.settings })
  return { ctx, backup, restore }
}

beforeAll(async () => {
  writeFileSync(emptyEnv, '')
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis({ supervised: true })])
  pg.sql('CREATE DATABASE app')
  pg.sql("CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'note ✓ ' || g FROM generate_series(1, 500) g", 'app')
  redis.cli(['HSET', 'h', 'a', '1', 'b', '2'])
  redis.cli(['XADD', 's', '*', 'k', 'v'])
})

afterAll(async () => {
  await Promise.all([pg?.stop(), redis?.stop()])
  tmp.remove()
})

describe('compose target (docker compose exec)', () => {
  it('streams pg_dump out of the postgres service and pg_restore back in, with no password anywhere', async () => {
    const dest = join(tmp.path, 'compose-pg')
    const { ctx, backup, restore } = await setup('compose', 'postgres', { POSTGRES_USER: 'postgres' }, dest)
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const base = ['docker', 'compose', '-p', 'owp', '-f', COMPOSE_FILE, '--env-file', emptyEnv, 'exec', '-T', '-e', 'PGUSER', 'postgres']
    const docker = recorded('docker')
    expect(docker).toContainEqual([...base, 'pg_dumpall', '--globals-only'])
    expect(docker).toContainEqual([...base, 'pg_dump', '-Fc', expect.stringMatching(/^--snapshot=[0-9A-F-]+$/), '-d', 'app'])
    // Verification streams the dump into pg_restore's stdin (nothing is copied into the container);
    // the rows the server inserted are compared with the snapshot's counts. Its scratch copy's
    // commits do not wait for the disk (PGOPTIONS -c synchronous_commit=off), and its session is
    // named for this load (PGAPPNAME), values never in argv.
    const load = [...base.slice(0, -1), '-e', 'PGOPTIONS', '-e', 'PGAPPNAME', 'postgres']
    expect(docker).toContainEqual([...load, 'pg_restore', '--exit-on-error', '-d', expect.stringMatching(/^owp_verify_\w+$/)])
    expect(docker.flat().join(' ')).not.toContain(pg.password)

    pg.sql('DROP DATABASE app')
    const result = await restore()
    expect(result.ok, ctx.stderr()).toBe(true)
    expect(result.stores[0]!.into).toBe('compose service postgres (project owp)')
    expect(pg.sql("SELECT count(*) || ' ' || max(body) FROM notes", 'app')).toBe('500 note ✓ 99')
    // Restored beside the live database (a marked scratch name), proven by the rows the server
    // inserted, then swapped in by rename; the dump streams in on stdin.
    expect(recorded('docker')).toContainEqual([...load, 'pg_restore', '--exit-on-error', '-d', expect.stringMatching(/^app_owp_new_[0-9a-f]{10}$/)])
    expect(recorded('docker').flat().join(' ')).not.toContain('query_to_xml')
  })

  it('passes the Redis password as `-e REDISCLI_AUTH` (value from the environment), never in argv', async () => {
    const dest = join(tmp.path, 'compose-redis')
    const { ctx, backup } = await setup('compose', 'redis', { REDIS_PASSWORD: redis.password }, dest)
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const docker = recorded('docker')
    expect(docker).toContainEqual(['docker', 'compose', '-p', 'owp', '-f', COMPOSE_FILE, '--env-file', emptyEnv, 'exec', '-T', '-e', 'REDISCLI_AUTH', 'redis',
      'redis-cli', '-h', '127.0.0.1', '-p', '6379', '--rdb', expect.stringMatching(new RegExp(`^${redis.dir}/owp-.*dump\\.rdb\\.partial$`))])
    expect(docker.flat().join(' ')).not.toContain(redis.password)
    expect(readdirSync(redis.dir).filter((f) => f.startsWith('owp-'))).toEqual([]) // scratch copies removed
  })
})

describe('k8s target (kubectl exec)', () => {
  it('finds pods by the chart labels, passes the Redis password on stdin, backs up and restores', async () => {
    const dest = join(tmp.path, 'k8s-redis')
    const { ctx, backup, restore } = await setup('k8s', 'redis', { REDIS_PASSWORD: redis.password }, dest)
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const kubectl = recorded('kubectl')
    expect(kubectl[0]).toEqual(['kubectl', 'get', 'pods', '-n', 'openwebui-prod', '-l', 'app.kubernetes.io/instance=owp,app.kubernetes.io/component=redis',
      '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[*].metadata.name}'])
    expect(kubectl).toContainEqual(['kubectl', 'exec', '-i', '-n', 'openwebui-prod', 'owp-redis-0', '-c', 'redis', '--', 'sh', '-c',
      'IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec "$@"', 'sh', 'redis-cli', '-h', '127.0.0.1', '-p', '6379', 'INFO', 'server'])
    expect(kubectl.flat().join(' ')).not.toContain(redis.password)

    redis.cli(['FLUSHALL'])
    const result = await restore()
    expect(result.ok, ctx.stderr()).toBe(true)
    expect(redis.cli(['HGET', 'h', 'b']).trim()).toBe('2')
    expect(redis.cli(['XLEN', 's']).trim()).toBe('1')
    expect(recorded('kubectl').flat().join(' ')).not.toContain(redis.password)
    expect(listSets(dest, 'redis').filter((s) => s.complete)).toHaveLength(1)

    // Every argv the kit gave kubectl must pass the real kubectl's flag parser.
    const kubeconfig = join(tmp.path, 'kubeconfig')
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${await closedPort()}"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`)
    const seen = new Set<string>()
    for (const argv of recorded('kubectl')) {
      const key = argv.slice(0, 3).join(' ')
      if (seen.has(key)) continue
      seen.add(key)
      let stderr = ''
      try {
        execFileSync(realKubectl(), [`--kubeconfig=${kubeconfig}`, '--request-timeout=2s', ...argv.slice(1)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 })
      } catch (e) { stderr = String((e as { stderr?: Buffer }).stderr ?? '') }
      expect(stderr, argv.join(' ')).toMatch(/refused|connect|Unable to connect|unreachable|dial tcp/i)
      expect(stderr, argv.join(' ')).not.toMatch(/unknown (flag|shorthand|command)|invalid argument|flag needs an argument/i)
    }
  })

  it('a secret and a stdin stream cannot both go to kubectl exec: it says so instead of leaking', async () => {
    const { ctx } = await setup('k8s', 'redis', {}, join(tmp.path, 'k8s-x'))
    const { createTarget } = await import('../../scripts/lib/backup/targets.ts')
    const t = createTarget({ kind: 'k8s', env: {} })
    await expect(t.run(ctx, 'redis', ['cat'], { secretEnv: { X: 'secret-value' }, input: 'data' })).rejects.toThrow('cannot take both secrets and stdin')
  })
})
