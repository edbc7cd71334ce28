// Backup metrics for node-exporter's textfile collector: the names the chart and alerts use,
// accepted by promtool, written atomically, and a failed run keeps the last success time.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpDir } from '../helpers/tmp.ts'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { renderMetrics, writeMetrics, metricsFile, pushMetrics } from '../../scripts/lib/backup/metrics.ts'
import { testCtx } from '../helpers/context.ts'
import { closedPort } from '../helpers/net.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'

/** A stand-in for a Prometheus Pushgateway (a fake): records PUT/POST /metrics/job/<job>/<label>/<value>. */
async function fakePushgateway() {
  const pushes: { method: string; path: string; body: string }[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => { body += d })
    req.on('end', () => {
      pushes.push({ method: req.method!, path: req.url!, body })
      const ok = /^\/metrics\/job\/[^/]+(\/[^/]+\/[^/]+)*$/.test(req.url!) && (req.method === 'PUT' || req.method === 'POST')
      res.writeHead(ok ? 200 : 400)
      res.end(ok ? '' : 'bad push')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, pushes, close: () => new Promise<void>((r) => server.close(() => r())) }
}

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

  it('promtool rejects a broken textfile (the check can fail)', () => {
    expect(() => promtoolLint('# TYPE backup_size_bytes gauge\nbackup_size_bytes{store="x"} not-a-number\n')).toThrow(/rejected/)
  })

  it('pushes to a Pushgateway grouped by job and store: PUT replaces the group on success, POST keeps the last success on failure', async () => {
    const gw = await fakePushgateway()
    try {
      const at = new Date('2025-06-30T02:00:10Z')
      const where = await pushMetrics(gw.url, { store: 'redis', success: true, durationSeconds: 2, sizeBytes: 1000, at })
      expect(where).toBe(`${gw.url}/metrics/job/owp-backup/store/redis`)
      expect(gw.pushes[0]).toMatchObject({ method: 'PUT', path: '/metrics/job/owp-backup/store/redis' })
      expect(gw.pushes[0]!.body).toContain('backup_last_success_timestamp_seconds 1751248810\n')
      expect(gw.pushes[0]!.body).not.toContain('store=') // grouping labels must not be in the pushed metrics
      promtoolLint(gw.pushes[0]!.body)

      // A real failing run (Redis on a closed port) pushes only last_run_success and duration.
      const tmp2 = tmpDir('owp-push-')
      writeFileSync(join(tmp2.path, 'empty.env'), '')
      const ctx = testCtx({ env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(await closedPort()), BACKUP_STAGING_DIR: tmp2.path } })
      const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest: join(tmp2.path, 'dest'), 'env-file': join(tmp2.path, 'empty.env') })
      const report = await runBackup(ctx, { stores: ['redis'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [], retention: retentionFrom({}), pushgateway: gw.url })
      tmp2.remove()
      expect(report.ok).toBe(false)
      expect(report.stores[0]!.metricsPushed).toBe(`${gw.url}/metrics/job/owp-backup/store/redis`)
      expect(gw.pushes[1]).toMatchObject({ method: 'POST', path: '/metrics/job/owp-backup/store/redis' })
      expect(gw.pushes[1]!.body).toMatch(/^backup_last_run_success 0$/m)
      expect(gw.pushes[1]!.body).not.toContain('backup_last_success_timestamp_seconds')
      promtoolLint(gw.pushes[1]!.body)
    } finally {
      await gw.close()
    }
  })
})
