// Fault rows of the backup half (docs/reliability.md, "Backup and restore"): a backup whose lock is
// held, killed, or whose destination fills up, with a real Redis; what the operator sees after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parse } from 'yaml'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { runScript } from '../helpers/run-script.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { acquireLock } from '../../scripts/lib/core/lock.ts'
import { COMPOSE_FILE } from '../../scripts/lib/core/paths.ts'
import { defaultMetricsSinks } from '../../scripts/lib/backup/metrics.ts'

const tmp = tmpDir('owp-fault-backup-')
let redis: Redis
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
    const holder = acquireLock(testCtx(), join(dest, '.locks', 'redis.lock'), 'backup of redis')
    try {
      const r = await backup(dest, ['--metrics-dir', metrics])
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
})
