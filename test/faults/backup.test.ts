// Fault rows of the backup half (docs/reliability.md, "Backup and restore"): a backup whose lock is
// held, killed, or whose destination fills up, with a real Redis; what the operator sees after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { parse } from 'yaml'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { runScript } from '../helpers/run-script.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { acquireLock } from '../../scripts/lib/core/lock.ts'
import { storeLockPath } from '../../scripts/lib/backup/locks.ts'
import { createTarget } from '../../scripts/lib/backup/targets.ts'
import { COMPOSE_FILE } from '../../scripts/lib/core/paths.ts'
import { defaultMetricsSinks } from '../../scripts/lib/backup/metrics.ts'
import { listSets, which, wrapper } from '../backup/support.ts'

const tmp = tmpDir('owp-fault-backup-')
let redis: Redis
const set0 = (dest: string) => listSets(dest, 'redis')[0]!.dir
const emptyEnv = () => join(tmp.path, 'empty.env')
const backup = (dest: string, extra: string[] = [], env: Record<string, string> = {}) =>
  runScript('scripts/backup.ts', ['--store', 'redis', '--target', 'direct', '--env-file', emptyEnv(), '--dest', dest, ...extra],
    { env: { ...redis.env, BACKUP_STAGING_DIR: join(tmp.path, 'staging'), ...env }, timeoutMs: 120_000 })

beforeAll(async () => {
  writeFileSync(emptyEnv(), '')
  mkdirSync(join(tmp.path, 'staging'))
  redis = await startRedis()
  for (let i = 0; i < 200; i++) redis.cli(['SET', `k${i}`, `value ${i}`])
})
afterAll(async () => {
  await redis?.stop()
  tmp.remove()
})

describe('backup faults (real Redis)', () => {
  it('F-BACKUP-LOCKED-1: a run that cannot take the lock exits 75 and writes a metric saying so', async () => {
    const dest = join(tmp.path, 'locked')
    const metrics = join(tmp.path, 'metrics-locked')
    // the store lease of this Redis (store and target, whatever the destination), held by "another run"
    const lockDir = join(tmp.path, 'locks')
    const target = createTarget({ kind: 'direct', env: { ...redis.env } as Record<string, string> })
    const holder = acquireLock(testCtx(), storeLockPath({ lockDir: () => lockDir }, target, 'redis'), 'backup of redis')
    try {
      const r = await backup(dest, ['--metrics-dir', metrics, '--lock-dir', lockDir])
      expect(r.code, r.stderr).toBe(75)
      const text = readFileSync(join(metrics, 'backup_redis.prom'), 'utf8')
      expect(text).toMatch(/^backup_last_run_success\{store="redis"\} 0$/m)
      expect(text).toMatch(/^backup_last_run_locked\{store="redis"\} 1$/m)
      expect(text).toMatch(/^backup_last_run_timestamp_seconds\{store="redis"\} \d{10}$/m)
    } finally {
      holder()
    }
    const ok = await backup(dest, ['--metrics-dir', metrics])
    expect(ok.code, ok.stderr).toBe(0)
    expect(readFileSync(join(metrics, 'backup_redis.prom'), 'utf8')).toMatch(/^backup_last_run_locked\{store="redis"\} 0$/m)
  })

  it('F-BACKUP-METRICS-1: with no flag, a compose backup writes its metrics where the compose node-exporter reads them', () => {
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8')) as { services: Record<string, { volumes?: string[]; command?: string[] }> }
    const ne = compose.services['node-exporter']!
    const textfileIn = ne.command!.find((c) => c.startsWith('--collector.textfile.directory='))!.split('=')[1]
    const mount = ne.volumes!.find((v) => v.endsWith(`:${textfileIn}:ro`))!
    // ${BACKUP_METRICS_DIR:-./.generated/textfile}: relative paths are relative to the compose file.
    const m = /^\$\{BACKUP_METRICS_DIR:-([^}]+)\}:/.exec(mount)
    expect(m, mount).not.toBeNull()
    const hostDir = resolve(dirname(COMPOSE_FILE), m![1]!)
    expect(defaultMetricsSinks('compose', COMPOSE_FILE, {}).metricsDir).toBe(hostDir)
    expect(defaultMetricsSinks('compose', COMPOSE_FILE, { BACKUP_METRICS_DIR: '/srv/textfile' }).metricsDir).toBe('/srv/textfile')
    expect(defaultMetricsSinks('k8s', COMPOSE_FILE, { BACKUP_PUSHGATEWAY_URL: 'http://owp-pushgateway:9091' }))
      .toEqual({ metricsDir: undefined, pushgateway: 'http://owp-pushgateway:9091' })
    // The docs' cron lines add no metrics flag and no other directory.
    for (const doc of ['README.md', 'docs/backup.md']) {
      const cron = readFileSync(join(dirname(dirname(COMPOSE_FILE)), doc), 'utf8').split('\n').filter((l) => /scripts\/backup\.ts .*--target compose/.test(l))
      expect(cron.length, doc).toBeGreaterThan(0)
      for (const l of cron) expect(l).not.toMatch(/METRICS_DIR=|--metrics-dir/)
    }
    expect(existsSync(COMPOSE_FILE)).toBe(true)
  })

  it('F-BACKUP-ENCRYPT-1: --encrypt to a local destination never puts plaintext in the backup tree', async () => {
    const dest = join(tmp.path, 'encrypted')
    const key = join(tmp.path, 'age.key')
    execFileSync('age-keygen', ['-o', key], { stdio: 'pipe' })
    const recipient = execFileSync('age-keygen', ['-y', key]).toString().trim()
    // age itself reports what the set directory holds at the moment it encrypts.
    const seen = join(tmp.path, 'seen-by-age.txt')
    const bin = wrapper(join(tmp.path, 'bin-age'), 'age', `out=; prev=; for a in "$@"; do [ "$prev" = -o ] && out=$a; prev=$a; done
[ -n "$out" ] && { echo "-- age -o $out" >> "${seen}"; ls -A "$(dirname "$out")" >> "${seen}"; }
exec "${which('age')}" "$@"`)
    const r = await backup(dest, ['--encrypt', recipient, '--metrics-dir', join(tmp.path, 'metrics-enc')], { PATH: `${bin}:${process.env.PATH}` })
    expect(r.code, r.stderr).toBe(0)
    const listed = readFileSync(seen, 'utf8').split('\n').filter(Boolean)
    expect(listed.filter((l) => l.startsWith('-- age -o '))).toEqual([`-- age -o ${join(set0(dest), 'dump.rdb.age.partial')}`])
    expect(listed.filter((f) => !f.startsWith('-- ') && !/\.age(\.partial)?$/.test(f))).toEqual([])
    expect(listSets(dest, 'redis')[0]!.files).toEqual(['dump.rdb.age', 'manifest.json'])
    // and the private staging directory is gone
    expect(readdirSync(join(tmp.path, 'staging'))).toEqual([])
  })
})
