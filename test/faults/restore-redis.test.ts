// Fault rows of the Redis restore (docs/reliability.md, "Backup and restore"), with a real
// redis-server under a restart loop (as a container restart policy or systemd would run it), and
// one whose data directory is a real small tmpfs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { listSets } from '../backup/support.ts'
import { canMount, dfAvailable, mountTmpfs } from '../helpers/tmpfs.ts'

const tmp = tmpDir('owp-fault-redis-')
const dest = join(tmp.path, 'dest')
let redis: Redis

async function kit(server: Redis = redis, to = dest) {
  const ctx = testCtx({ yes: true, env: { ...server.env, BACKUP_STAGING_DIR: tmp.path } })
  const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest: to, 'env-file': join(tmp.path, 'empty.env'), timeout: '60' })
  const common = { stores: ['redis' as const], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings }
  return {
    ctx,
    backup: () => runBackup(ctx, { ...common, verify: true, recipients: [], retention: retentionFrom({}) }),
    restore: () => runRestore(ctx, { ...common, from: 'latest' }),
  }
}

/**
 * SAVE until Redis says OK: the backup's `redis-cli --rdb` has the server fork a save for the
 * replica it looks like, which can still run when the backup returns (on a loaded machine), and
 * SAVE then answers "ERR Background save already in progress" without writing dump.rdb.
 */
async function save(server: Redis): Promise<void> {
  let out = ''
  for (let i = 0; i < 300; i++) {
    out = server.cli(['SAVE']).trim()
    if (out === 'OK') return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`SAVE never answered OK: ${out}`)
}

beforeAll(async () => {
  writeFileSync(join(tmp.path, 'empty.env'), '')
  redis = await startRedis({ supervised: true })
  for (let i = 0; i < 50; i++) redis.cli(['SET', `backed-up:${i}`, String(i)])
})
afterAll(async () => {
  await redis?.stop()
  tmp.remove()
})

describe('redis restore faults (real redis-server)', { timeout: 120_000 }, () => {
  it('F-RESTORE-REDIS-1: the RDB to restore fails its check (key count differs from the manifest): the live data and dump.rdb are untouched', async () => {
    const b = await kit()
    const report = await b.backup()
    expect(report.ok, b.ctx.stderr()).toBe(true)
    const [set] = listSets(dest, 'redis')
    for (let i = 0; i < 5; i++) redis.cli(['SET', `live:${i}`, 'now'])
    await save(redis)
    const rdbBefore = readFileSync(join(redis.dir, 'dump.rdb'))
    const file = join(set!.dir, 'manifest.json')
    const m = JSON.parse(readFileSync(file, 'utf8'))
    m.details.keys += 1
    writeFileSync(file, JSON.stringify(m))

    const r = await kit()
    const result = await r.restore()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(/the dump\.rdb to restore failed its check \(it holds 50 keys, the manifest says 51\); the live Redis data is untouched/)
    expect(redis.cli(['DBSIZE']).trim()).toBe('55')
    expect(redis.cli(['GET', 'live:3']).trim()).toBe('now')
    expect(readFileSync(join(redis.dir, 'dump.rdb'))).toEqual(rdbBefore)
    expect(readdirSync(redis.dir).filter((f) => f.includes('owp-restore') || f.includes('pre-restore'))).toEqual([])
  })
  it('F-RESTORE-REDIS-3: the server comes back on other data than the proven RDB (something changed its data directory while it was down): the previous data is put back from what this restore set aside, and a copy an earlier restore of the same set kept stays as it was', async () => {
    const hook = join(tmp.path, 'before-restart.sh')
    const server = await startRedis({ supervised: true, beforeRestart: hook })
    const other = await startRedis()
    try {
      const to = join(tmp.path, 'dest-3')
      for (let i = 0; i < 20; i++) server.cli(['SET', `set:${i}`, String(i)])
      const b = await kit(server, to)
      expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
      server.cli(['SET', 'marker', 'before the first restore'])
      await save(server)
      expect((await (await kit(server, to)).restore()).ok).toBe(true)
      const [set] = listSets(to, 'redis')
      const firstKept = join(server.dir, `dump.rdb.pre-restore-${set!.id}`)
      const firstBytes = readFileSync(firstKept)
      expect(firstBytes.includes('before the first restore')).toBe(true)

      // what the second restore replaces, on disk; and an RDB of three other keys, which the
      // server finds in its data directory when it restarts on the restored data
      for (let i = 0; i < 5; i++) server.cli(['SET', `live:${i}`, 'now'])
      server.cli(['SET', 'marker', 'before the second restore'])
      await save(server)
      const before = server.cli(['DBSIZE']).trim()
      for (let i = 0; i < 3; i++) other.cli(['SET', `other:${i}`, 'x'])
      await save(other)
      writeFileSync(hook, `cp '${join(other.dir, 'dump.rdb')}' dump.rdb\n`)

      const r = await kit(server, to)
      const result = await r.restore()
      expect(result.ok).toBe(false)
      expect(result.stores[0]!.error).toBe('redis held 3 keys after the restore, the backup has 20 (0 with an expiry): the previous data was put back')
      expect(server.cli(['DBSIZE']).trim()).toBe(before)
      expect(server.cli(['GET', 'marker']).trim()).toBe('before the second restore')
      expect(readFileSync(firstKept).equals(firstBytes)).toBe(true)
      expect(readdirSync(server.dir).filter((f) => f.includes('owp-restore') || f.includes('pre-restore')).sort()).toEqual([`dump.rdb.pre-restore-${set!.id}`])
    } finally {
      await other.stop()
      await server.stop()
    }
  })
  it('F-RESTORE-REDIS-2: the data directory has too little room for the incoming dump.rdb (a 256 KiB tmpfs, a ~330 KiB set): the restore stops before the copy, the live data untouched and the server still able to save', async (t) => {
    if (!canMount) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    // the set: ~330 KiB of incompressible values, taken from another server
    const big = await startRedis()
    let small: Redis | undefined
    const unmount = mountTmpfs(join(tmp.path, 'small'), '256k')
    try {
      for (let i = 0; i < 80; i++) big.cli(['SET', `big:${i}`, randomBytes(3 * 1024).toString('base64')])
      const b = await kit(big, join(tmp.path, 'dest-big'))
      expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
      // the live server: a few keys, its dump.rdb on the small disk
      small = await startRedis({ dir: join(tmp.path, 'small') })
      for (let i = 0; i < 5; i++) small.cli(['SET', `live:${i}`, 'now'])
      await save(small)
      const rdbBefore = readFileSync(join(small.dir, 'dump.rdb'))
      const free = dfAvailable(small.dir)

      const r = await kit(small, join(tmp.path, 'dest-big'))
      const result = await r.restore()
      expect(result.ok).toBe(false)
      expect(result.stores[0]!.error).toMatch(new RegExp(`^not enough space for the dump\\.rdb to restore beside the live one on redis:${small.dir}: needs about [\\d.]+ KiB \\([\\d.]+ KiB \\+ 20%\\), ${(free / 1024).toFixed(1)} KiB free; nothing was changed$`))
      expect(readdirSync(small.dir)).toEqual(['dump.rdb'])
      expect(readFileSync(join(small.dir, 'dump.rdb'))).toEqual(rdbBefore)
      expect(small.cli(['DBSIZE']).trim()).toBe('5')
      // the disk was not filled: the live server still saves
      expect(small.cli(['SAVE']).trim()).toBe('OK')
    } finally {
      await small?.stop()
      unmount()
      await big.stop()
    }
  })
})
