// Fault row of a backup whose destination fills up while the set is written: a real Redis, a real
// small tmpfs as the destination (mounted by the test, which runs as root; unmounted in every path).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { listSets } from '../backup/support.ts'

const root = process.getuid?.() === 0
const tmp = tmpDir('owp-fault-disk-')
const dest = join(tmp.path, 'dest')
const metrics = join(tmp.path, 'metrics')
let redis: Redis
let mounted = false

const umount = () => {
  if (!mounted) return
  execFileSync('umount', [dest])
  mounted = false
}
const backup = () => runScript('scripts/backup.ts', ['--store', 'redis', '--target', 'direct', '--env-file', join(tmp.path, 'empty.env'), '--dest', dest, '--metrics-dir', metrics],
  { env: { ...redis.env, BACKUP_STAGING_DIR: join(tmp.path, 'staging') }, timeoutMs: 120_000 })

beforeAll(async () => {
  if (!root) return
  writeFileSync(join(tmp.path, 'empty.env'), '')
  mkdirSync(join(tmp.path, 'staging'))
  mkdirSync(dest)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', dest])
  mounted = true
  redis = await startRedis()
  for (let i = 0; i < 20; i++) redis.cli(['SET', `small:${i}`, `value ${i}`])
})
afterAll(async () => {
  try { umount() } finally {
    await redis?.stop()
    tmp.remove()
  }
})

describe('backup to a destination that fills up (real tmpfs)', { timeout: 180_000 }, () => {
  it('F-DISK-1: the destination fills up while the dump is written: a clear error, no partial set, earlier sets untouched, a failure metric', async (t) => {
    if (!root) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    const first = await backup()
    expect(first.code, first.stderr).toBe(0)
    const [earlier] = listSets(dest, 'redis')
    const before = Object.fromEntries(earlier!.files.map((f) => [f, readFileSync(join(earlier!.dir, f))]))
    // ~2 MiB of incompressible values: the RDB no longer fits in the 512 KiB destination
    for (let i = 0; i < 64; i++) redis.cli(['SET', `big:${i}`, randomBytes(24 * 1024).toString('base64')])

    const r = await backup()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/redis: the destination .* filled up while the set was written \(No space left on device\): the incomplete set was removed; earlier sets are untouched/)
    expect(r.stderr).toMatch(/hint: free space in .*dest|hint: .*free/)
    // no partial set: only the earlier one, byte for byte
    expect(readdirSync(join(dest, 'redis'))).toEqual([earlier!.id])
    expect(listSets(dest, 'redis').map((s) => s.id)).toEqual([earlier!.id])
    for (const [f, data] of Object.entries(before)) expect(readFileSync(join(earlier!.dir, f)).equals(data), f).toBe(true)
    const restore = await runScript('scripts/restore.ts', ['--store', 'redis', '--target', 'direct', '--env-file', join(tmp.path, 'empty.env'), '--dest', dest, '--list'], { env: { ...redis.env }, timeoutMs: 60_000 })
    expect(restore.stdout).not.toMatch(/INCOMPLETE/)
    // the failure is a run in the metrics
    const text = readFileSync(join(metrics, 'backup_redis.prom'), 'utf8')
    expect(text).toMatch(/^backup_last_run_success\{store="redis"\} 0$/m)
    umount()
  })
})
