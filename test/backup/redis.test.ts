// Redis backups against a real redis-server the suite starts (AOF on, under a restart loop like
// systemd or a container restart policy), driven in-process through the same lib the CLI uses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { redisDriver } from '../../scripts/lib/backup/stores/redis.ts'
import { listSets, readManifestJson, waitFor } from './support.ts'

let redis: Redis
const tmp = tmpDir('owp-redis-backup-')
const emptyEnv = join(tmp.path, 'empty.env')

function seed(r: Redis): void {
  const cli = (...a: string[]) => r.cli(a)
  cli('SET', 'greeting', 'héllo wörld ✓')
  cli('SET', 'counter', '42')
  cli('SET', 'session:tmp', 'expires later', 'EX', '3600')
  cli('RPUSH', 'queue', 'a', 'b', 'c', 'ü')
  cli('SADD', 'tags', 'red', 'green', '青')
  cli('ZADD', 'scores', '1.5', 'alice', '-3', 'bob', '1e10', 'carol')
  cli('HSET', 'user:1', 'name', 'Zoë', 'email', 'zoe@example.com', 'age', '31')
  cli('XADD', 'events', '1-1', 'type', 'login', 'user', '1')
  cli('XADD', 'events', '2-0', 'type', 'chat', 'text', 'hi ✓')
  cli('XGROUP', 'CREATE', 'events', 'workers', '0')
  r.cli(['-n', '1', 'SET', 'db1:key', 'in database one'])
  // A binary value with NUL and high bytes.
  execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(r.port), '-x', 'SET', 'blob'], { input: Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]), env: { ...process.env, REDISCLI_AUTH: r.password } })
}

/** Every key of db 0 and 1 with its type and content, in a comparable form. */
function snapshot(r: Redis): Record<string, string> {
  const out: Record<string, string> = {}
  for (const db of ['0', '1']) {
    const keys = r.cli(['-n', db, '--raw', 'KEYS', '*']).split('\n').filter(Boolean).sort()
    for (const k of keys) {
      const type = r.cli(['-n', db, 'TYPE', k]).trim()
      const read: Record<string, string[]> = {
        string: ['GET', k], list: ['LRANGE', k, '0', '-1'], set: ['SMEMBERS', k], zset: ['ZRANGE', k, '0', '-1', 'WITHSCORES'],
        hash: ['HGETALL', k], stream: ['XRANGE', k, '-', '+'],
      }
      let content = r.cli(['-n', db, ...read[type]!])
      if (type === 'set' || type === 'hash') content = content.split('\n').sort().join('\n')
      if (type === 'stream') content += r.cli(['-n', db, 'XINFO', 'GROUPS', k])
      const ttl = Number(r.cli(['-n', db, 'TTL', k]))
      out[`${db}:${k}`] = `${type}|${ttl > 0 ? 'ttl' : 'none'}|${Buffer.from(content).toString('base64')}`
    }
  }
  return out
}

async function options(dest: string, extra: Record<string, string | boolean> = {}) {
  const ctx = testCtx({ env: { ...redis.env, BACKUP_STAGING_DIR: tmp.path }, yes: true })
  const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest, 'env-file': emptyEnv, timeout: '60', ...extra })
  return { ctx, shared }
}

async function backup(dest: string, extra: Record<string, string | boolean> = {}) {
  const { ctx, shared } = await options(dest, extra)
  const report = await runBackup(ctx, {
    stores: shared.stores, explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings,
    verify: true, recipients: [], retention: retentionFrom({}),
  })
  return { ctx, report }
}

beforeAll(async () => {
  writeFileSync(emptyEnv, '')
  redis = await startRedis({ supervised: true, appendonly: true })
  seed(redis)
})

afterAll(async () => {
  await redis?.stop()
  tmp.remove()
})

describe('Redis backup and restore with a real redis-server', () => {
  it('backs up every value type with redis-cli --rdb, and restores it over changed data with AOF rebuilt on the RDB', async () => {
    const before = snapshot(redis)
    expect(Object.values(before).map((v) => v.split('|')[0]).sort()).toEqual(['hash', 'list', 'set', 'stream', 'string', 'string', 'string', 'string', 'string', 'zset'])
    const dest = join(tmp.path, 'rdb')
    const { ctx, report } = await backup(dest)
    expect(report.stores[0], ctx.stderr()).toMatchObject({ store: 'redis', ok: true, verified: true })
    expect(ctx.stderr()).not.toContain(redis.password)
    const [set] = listSets(dest, 'redis')
    expect(set!.files).toEqual(['dump.rdb', 'manifest.json'])
    const m = readManifestJson(set!.dir)
    expect(m.details).toMatchObject({ keys: 10, expires: 1, keyspace: 10, method: 'rdb' })
    expect(m.verified.method).toBe('redis-check-rdb')
    expect(m.tools['redis-cli']).toMatch(/^redis-cli \d/)

    // Change everything: the restore must bring back exactly the backup.
    redis.cli(['FLUSHALL'])
    redis.cli(['SET', 'junk', 'after the backup'])
    redis.cli(['RPUSH', 'queue', 'not', 'this'])
    const pidBefore = /process_id:(\d+)/.exec(redis.cli(['INFO', 'server']))![1]

    const { ctx: rctx, shared } = await options(dest)
    const result = await runRestore(rctx, { stores: ['redis'], explicit: true, from: 'latest', target: shared.target, dest: shared.dest, settings: shared.settings })
    expect(result.ok, rctx.stderr()).toBe(true)
    expect(result.stores[0]!.restored![0]).toMatch(/^dump\.rdb into .*: 10 keys loaded; AOF rebuilt on the restored RDB/)
    expect(/process_id:(\d+)/.exec(redis.cli(['INFO', 'server']))![1]).not.toBe(pidBefore)
    expect(snapshot(redis)).toEqual(before)
    expect(redis.cli(['CONFIG', 'GET', 'appendonly'])).toContain('yes')
    const aofDir = join(redis.dir, 'appendonlydir')
    expect(readdirSync(aofDir).sort()).toEqual(expect.arrayContaining(['appendonly.aof.1.base.rdb', 'appendonly.aof.1.incr.aof', 'appendonly.aof.manifest']))
    expect(readdirSync(redis.dir).some((f) => f.startsWith('appendonlydir.pre-restore-'))).toBe(true)

    // A crash now restarts from the AOF: it must hold the restored data, not the old or an empty set.
    redis.cli(['SET', 'written-after-restore', 'yes'])
    const pid = Number(/process_id:(\d+)/.exec(redis.cli(['INFO', 'server']))![1])
    process.kill(pid, 'SIGKILL')
    await waitFor('redis to come back', () => { try { return redis.cli(['PING']).trim() === 'PONG' && !redis.cli(['INFO', 'server']).includes(`process_id:${pid}\r`) } catch { return false } })
    expect(snapshot(redis)).toEqual({ ...before, '0:written-after-restore': expect.stringMatching(/^string\|none\|/) })
    redis.cli(['DEL', 'written-after-restore'])
  })

  it('restoring the same set again keeps what each restore replaced under its own name: no copy an earlier restore kept is overwritten', async () => {
    const dest = join(tmp.path, 'rdb')
    const { ctx, shared } = await options(dest)
    const restoreLatest = async (marker: string) => {
      redis.cli(['SET', 'between-restores', marker])
      await waitFor('SAVE', () => redis.cli(['SAVE']).trim() === 'OK') // the live dump.rdb holds the marker
      const result = await runRestore(ctx, { stores: ['redis'], explicit: true, from: 'latest', target: shared.target, dest: shared.dest, settings: shared.settings })
      expect(result.ok, ctx.stderr()).toBe(true)
      const kept = /^the previous dump\.rdb is kept as dump\.rdb\.pre-restore-(\S+) in /.exec(result.stores[0]!.warnings!.join('\n'))![1]!
      expect(result.stores[0]!.restored![0]).toContain(`(the previous AOF is kept as appendonlydir.pre-restore-${kept})`)
      return kept
    }
    const rdb = (suffix: string) => readFileSync(join(redis.dir, `dump.rdb.pre-restore-${suffix}`))
    const first = await restoreLatest('held-before-the-first-restore')
    const firstBytes = rdb(first)
    const second = await restoreLatest('held-before-the-second-restore')
    expect(second).not.toBe(first)
    expect(second).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.\d+$/) // the set's id and a number
    expect(rdb(first).equals(firstBytes)).toBe(true)
    expect(firstBytes.includes('held-before-the-first-restore')).toBe(true)
    expect(rdb(second).includes('held-before-the-second-restore')).toBe(true)
    expect(readdirSync(join(redis.dir, `appendonlydir.pre-restore-${first}`))).not.toContain('appendonlydir') // not moved into the earlier copy
    expect(redis.cli(['EXISTS', 'between-restores']).trim()).toBe('0')
  })

  it('the next backup says what restores kept in the data directory, and writes its size and age as the kept-copies metrics', async () => {
    const metricsDir = join(tmp.path, 'kept-metrics')
    const { ctx, shared } = await options(join(tmp.path, 'after-restores'))
    const report = await runBackup(ctx, { stores: shared.stores, explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [], retention: retentionFrom({}), metricsDir })
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true })
    const kept = readdirSync(redis.dir).filter((f) => /^(dump\.rdb|appendonlydir)\.pre-restore-/.test(f)).sort()
    expect(kept.length).toBeGreaterThanOrEqual(4) // the RDB and AOF directory of each restore above
    expect(ctx.stderr()).toMatch(new RegExp(`redis: not backed up: .*dump\\.rdb\\.pre-restore-.* in ${redis.dir} \\(what a restore replaced, kept until you remove it\\)`))
    const prom = readFileSync(join(metricsDir, 'backup_redis.prom'), 'utf8')
    const sample = (name: string) => Number(new RegExp(`^${name}\\{store="redis"\\} (\\d+)$`, 'm').exec(prom)?.[1])
    const du = Number(execFileSync('du', ['-sk', ...kept], { cwd: redis.dir }).toString().trim().split('\n').map((l) => Number(l.split('\t')[0])).reduce((a, b) => a + b, 0)) * 1024
    expect(sample('backup_restore_kept_bytes')).toBe(du)
    expect(Math.abs(sample('backup_restore_kept_since_timestamp_seconds') - Date.now() / 1000)).toBeLessThan(600)
  })

  it('backs up with BGSAVE and LASTSAVE polling', async () => {
    const dest = join(tmp.path, 'bgsave')
    const { ctx, report } = await backup(dest, { 'redis-method': 'bgsave' })
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const [set] = listSets(dest, 'redis')
    expect(readManifestJson(set!.dir).details).toMatchObject({ keys: 10, method: 'bgsave' })
    expect(statSync(join(set!.dir, 'dump.rdb')).size).toBeGreaterThan(100)
  })

  it('a truncated RDB fails verification', async () => {
    const dest = join(tmp.path, 'rdb')
    const [set] = listSets(dest, 'redis')
    const dir = join(tmp.path, 'truncated')
    mkdirSync(dir)
    copyFileSync(join(set!.dir, 'dump.rdb'), join(dir, 'dump.rdb'))
    truncateSync(join(dir, 'dump.rdb'), statSync(join(dir, 'dump.rdb')).size - 20)
    const { ctx, shared } = await options(dest)
    const run = { target: shared.target, dir, scratch: dir, id: 'x', settings: shared.settings, verify: true }
    await expect(redisDriver.verify(ctx, run, { files: [], tools: {}, server: { version: '' }, details: { dir: '' } }))
      .rejects.toThrow(/verification of dump\.rdb failed: redis-check-rdb exited 1/)
  })

  it('refuses a direct restore when the data directory is not on this host, before changing anything', async () => {
    const dest = join(tmp.path, 'rdb')
    redis.cli(['CONFIG', 'SET', 'dir', redis.dir]) // sanity: the real dir exists
    const { ctx, shared } = await options(dest)
    const fakeDir = join(tmp.path, 'no-such-dir')
    // Point the check at a directory that does not exist here, as for a remote server.
    const target = { ...shared.target, kind: shared.target.kind, where: shared.target.where.bind(shared.target), run: async (c: typeof ctx, s: 'redis', argv: string[], o?: object) => {
      if (argv[0] === 'redis-cli' && argv.includes('CONFIG') && argv.includes('GET')) return { argv, exitCode: 0, stdout: `dir\n${fakeDir}\ndbfilename\ndump.rdb\nappendonly\nyes\n`, stderr: '', durationMs: 0, skipped: false }
      return shared.target.run(c, s, argv, o)
    } }
    const result = await runRestore(ctx, { stores: ['redis'], explicit: true, from: 'latest', target: target as typeof shared.target, dest: shared.dest, settings: shared.settings })
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toContain(`the Redis data directory ${fakeDir} is not on this host`)
    expect(existsSync(fakeDir)).toBe(false)
    expect(redis.cli(['GET', 'greeting']).trim()).toBe('héllo wörld ✓')
  })
})

