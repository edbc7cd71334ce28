// Backup metrics for node-exporter's textfile collector: the names the chart and alerts use,
// accepted by promtool, written atomically, and a failed run keeps the last success time.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpDir } from '../helpers/tmp.ts'
import { renderMetrics, writeMetrics, metricsFile } from '../../scripts/lib/backup/metrics.ts'

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
})
