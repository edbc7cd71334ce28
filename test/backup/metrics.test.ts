// Backup metrics for node-exporter's textfile collector (and a Pushgateway): the names the chart
// and alerts use, accepted by promtool, written atomically, and a failed run keeps the last success time.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../helpers/tmp.ts'
import { renderMetrics, writeMetrics, metricsFile } from '../../scripts/lib/backup/metrics.ts'
import { pushMetrics } from '../../scripts/lib/backup/metrics-push.ts'
import { startService } from '../helpers/service.ts'
import { testCtx } from '../helpers/context.ts'
import { closedPort, freePort } from '../helpers/net.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'

const tmp = tmpDir('owp-metrics-')
afterAll(() => tmp.remove())

function promtoolLint(text: string): string {
  let path: string
  try { path = execFileSync('which', ['promtool']).toString().trim() } catch { throw new Error('promtool is missing: run `make setup` (Debian package prometheus)') }
  try {
    return execFileSync(path, ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] }).toString()
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer }
    throw new Error(`promtool check metrics rejected:\n${text}\n${err.stdout}${err.stderr}`)
  }
}

/** The real Pushgateway (Debian prometheus-pushgateway) on 127.0.0.1. */
async function pushgateway(): Promise<{ url: string; stop(): Promise<void> }> {
  let bin: string
  try { bin = execFileSync('which', ['prometheus-pushgateway']).toString().trim() } catch {
    throw new Error('prometheus-pushgateway is missing: run `make setup` (Debian package prometheus-pushgateway)')
  }
  const port = await freePort()
  // Debian's build persists to /var/lib/prometheus/pushgateway.data by default: shared between runs. Not here.
  const svc = await startService({ cmd: bin, args: [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file='], port })
  return { url: `http://127.0.0.1:${port}`, stop: () => svc.stop() }
}

describe('backup metrics textfile', () => {
  it('writes the four gauges per store, which promtool accepts', () => {
    const at = new Date('2025-06-30T02:00:10Z')
    const file = writeMetrics(tmp.path, { store: 'postgres', success: true, durationSeconds: 12.3456, sizeBytes: 123456789, at })
    expect(file).toBe(metricsFile(tmp.path, 'postgres'))
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('backup_last_success_timestamp_seconds{store="postgres"} 1751248810\n')
    expect(text).toContain('backup_last_run_success{store="postgres"} 1\n')
    expect(text).toContain('backup_duration_seconds{store="postgres"} 12.346\n')
    expect(text).toContain('backup_size_bytes{store="postgres"} 123456789\n')
    expect(text).toMatch(/^# TYPE backup_size_bytes gauge$/m)
    promtoolLint(text)
    expect(readdirSync(tmp.path)).toEqual(['backup_postgres.prom']) // no temp file left behind
  })

  it('a failed run sets last_run_success 0 and keeps the last success timestamp and size', () => {
    writeMetrics(tmp.path, { store: 'postgres', success: false, durationSeconds: 3, sizeBytes: 0, at: new Date('2025-07-01T02:00:00Z') })
    const text = readFileSync(metricsFile(tmp.path, 'postgres'), 'utf8')
    expect(text).toContain('backup_last_run_success{store="postgres"} 0\n')
    expect(text).toContain('backup_last_success_timestamp_seconds{store="postgres"} 1751248810\n')
    expect(text).toContain('backup_size_bytes{store="postgres"} 123456789\n')
    promtoolLint(text)
  })

  it('a store that never succeeded reports 0 as its last success time', () => {
    const text = renderMetrics({ store: 'neo4j', success: false, durationSeconds: 1, sizeBytes: 0, at: new Date() })
    expect(text).toContain('backup_last_success_timestamp_seconds{store="neo4j"} 0\n')
    promtoolLint(text)
  })

  it('what restores kept: the store that keeps such copies says how much and since when; a run that did not look keeps the last values', () => {
    const dir = tmpDir('owp-metrics-kept-')
    try {
      const since = new Date('2025-06-20T08:30:00Z')
      writeMetrics(dir.path, { store: 'postgres', success: true, durationSeconds: 1, sizeBytes: 10, at: new Date('2025-06-30T02:00:10Z'), kept: { names: ['app_owp_old_0123456789'], bytes: 4096, since } })
      let text = readFileSync(metricsFile(dir.path, 'postgres'), 'utf8')
      expect(text).toContain('backup_restore_kept_bytes{store="postgres"} 4096\n')
      expect(text).toContain('backup_restore_kept_since_timestamp_seconds{store="postgres"} 1750408200\n')
      promtoolLint(text)
      // a run that failed before it looked (the server did not answer): the last values stay
      writeMetrics(dir.path, { store: 'postgres', success: false, durationSeconds: 1, sizeBytes: 0, at: new Date('2025-07-01T02:00:10Z') })
      text = readFileSync(metricsFile(dir.path, 'postgres'), 'utf8')
      expect(text).toContain('backup_restore_kept_bytes{store="postgres"} 4096\n')
      expect(text).toContain('backup_restore_kept_since_timestamp_seconds{store="postgres"} 1750408200\n')
      // the copies were dropped: 0 and 0
      writeMetrics(dir.path, { store: 'postgres', success: true, durationSeconds: 1, sizeBytes: 10, at: new Date('2025-07-02T02:00:10Z'), kept: { names: [], bytes: 0, since: null } })
      text = readFileSync(metricsFile(dir.path, 'postgres'), 'utf8')
      expect(text).toContain('backup_restore_kept_bytes{store="postgres"} 0\n')
      expect(text).toContain('backup_restore_kept_since_timestamp_seconds{store="postgres"} 0\n')
      // a store whose driver keeps nothing of the kind has no such series
      expect(renderMetrics({ store: 'redis', success: true, durationSeconds: 1, sizeBytes: 1, at: new Date() })).not.toContain('backup_restore_kept')
    } finally {
      dir.remove()
    }
  })

  it('promtool rejects a broken textfile (the check can fail)', () => {
    expect(() => promtoolLint('# TYPE backup_size_bytes gauge\nbackup_size_bytes{store="x"} not-a-number\n')).toThrow(/rejected/)
  })

  it('a backup run pushes its metrics to the Pushgateway: a failed store reports 0 and keeps its last success', async () => {
    const gw = await pushgateway()
    const tmp2 = tmpDir('owp-push-')
    try {
      await pushMetrics(gw.url, { store: 'redis', success: true, durationSeconds: 2, sizeBytes: 1000, at: new Date('2025-06-30T02:00:10Z') })
      writeFileSync(join(tmp2.path, 'empty.env'), '')
      // Redis on a closed port: the run fails.
      const ctx = testCtx({ env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(await closedPort()), BACKUP_STAGING_DIR: tmp2.path } })
      const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest: join(tmp2.path, 'dest'), 'env-file': join(tmp2.path, 'empty.env') })
      const report = await runBackup(ctx, { stores: ['redis'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [], retention: retentionFrom({}), pushgateway: gw.url })
      expect(report.ok).toBe(false)
      expect(report.stores[0]!.metricsPushed).toBe(`${gw.url}/metrics/job/backup/store/redis`)
      const scraped = (await (await fetch(`${gw.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('backup_'))
      expect(scraped).toContain('backup_last_run_success{instance="",job="backup",store="redis"} 0')
      expect(scraped.find((l) => l.startsWith('backup_last_success_timestamp_seconds') && l.includes('store="redis"'))).toMatch(/ 1\.75124881e\+09$/)
    } finally {
      tmp2.remove()
      await gw.stop()
    }
  })
})
