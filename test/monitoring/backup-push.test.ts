// Backup metrics on Kubernetes: a CronJob pushes them to a Pushgateway (BACKUP_PUSHGATEWAY_URL).
// Tested against the real Pushgateway (Debian prometheus-pushgateway) on 127.0.0.1: what Prometheus
// then scrapes is what the textfile gives on compose, and a failed run keeps the last success.
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pushGroupUrl, pushMetrics, previousSamples } from '../../scripts/lib/backup/metrics-push.ts'
import { renderMetrics } from '../../scripts/lib/backup/metrics.ts'
import { KitError } from '../../scripts/lib/core/errors.ts'
import { closedPort, freePort } from '../helpers/net.ts'
import { startService, type Service } from '../helpers/service.ts'

const BIN = 'prometheus-pushgateway'

function requirePushgateway(): string {
  try {
    return execFileSync('which', [BIN], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`${BIN} is missing: run \`make setup\` (Debian package prometheus-pushgateway; by hand: apt-get install prometheus-pushgateway)`)
  }
}

let gateway: Service
let url: string
beforeAll(async () => {
  const bin = requirePushgateway()
  const port = await freePort()
  // --persistence.file= : Debian's default file is shared between runs
  gateway = await startService({ cmd: bin, args: [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file='], port })
  url = `http://127.0.0.1:${port}`
})
afterAll(async () => { await gateway?.stop() })

const scrape = async () => (await fetch(`${url}/metrics`)).text()
/** The backup samples Prometheus scrapes (honorLabels: the pushed job and store stay), values as numbers (Go prints 1.7e+09). */
const samples = async (store: string) => (await scrape()).split('\n').filter((l) => l.startsWith('backup_') && l.includes(`store="${store}"`))
  .map((l) => l.replace(/ (\S+)$/, (_, v: string) => ` ${Number(v)}`)).sort()

describe('pushing backup metrics to a Pushgateway', () => {
  const at = new Date('2025-09-01T02:05:00Z')

  it('a successful run publishes the series of the textfile, labelled job="backup" and its store', async () => {
    const group = await pushMetrics(url, { store: 'postgres', success: true, durationSeconds: 12.3456, sizeBytes: 4096, at })
    expect(group).toBe(`${url}/metrics/job/backup/store/postgres`)
    expect(await samples('postgres')).toEqual([
      'backup_duration_seconds{instance="",job="backup",store="postgres"} 12.346',
      'backup_last_run_locked{instance="",job="backup",store="postgres"} 0',
      'backup_last_run_success{instance="",job="backup",store="postgres"} 1',
      `backup_last_run_timestamp_seconds{instance="",job="backup",store="postgres"} ${at.getTime() / 1000}`,
      `backup_last_success_timestamp_seconds{instance="",job="backup",store="postgres"} ${at.getTime() / 1000}`,
      'backup_size_bytes{instance="",job="backup",store="postgres"} 4096',
    ])
  })

  it('a failed run flags the failure and keeps the last success timestamp and size (BackupStale keeps counting)', async () => {
    await pushMetrics(url, { store: 'postgres', success: false, durationSeconds: 3, sizeBytes: 0, at: new Date(at.getTime() + 86_400_000) })
    expect(await samples('postgres')).toEqual([
      'backup_duration_seconds{instance="",job="backup",store="postgres"} 3',
      'backup_last_run_locked{instance="",job="backup",store="postgres"} 0',
      'backup_last_run_success{instance="",job="backup",store="postgres"} 0',
      `backup_last_run_timestamp_seconds{instance="",job="backup",store="postgres"} ${at.getTime() / 1000 + 86_400}`,
      `backup_last_success_timestamp_seconds{instance="",job="backup",store="postgres"} ${at.getTime() / 1000}`,
      'backup_size_bytes{instance="",job="backup",store="postgres"} 4096',
    ])
  })

  it('a store whose first run fails gets last success 0, so BackupStale fires as with the textfile', async () => {
    await pushMetrics(url, { store: 'redis', success: false, durationSeconds: 1, sizeBytes: 0, at })
    expect(await samples('redis')).toContain('backup_last_success_timestamp_seconds{instance="",job="backup",store="redis"} 0')
    expect(await samples('redis')).toContain('backup_last_run_success{instance="",job="backup",store="redis"} 0')
    // one group per store: redis did not touch postgres
    expect(await samples('postgres')).toHaveLength(6)
  })

  it('reads a group back as the textfile renderMetrics knows (only that job and store)', () => {
    const page = [
      'backup_size_bytes{instance="",job="backup",store="qdrant"} 1.5e+06',
      'backup_size_bytes{instance="",job="other",store="qdrant"} 7',
      'backup_size_bytes{instance="",job="backup",store="neo4j"} 9',
      'push_time_seconds{instance="",job="backup",store="qdrant"} 1.7e+09',
    ].join('\n')
    expect(previousSamples(page, 'qdrant')).toBe('backup_size_bytes{store="qdrant"} 1500000')
    expect(renderMetrics({ store: 'qdrant', success: false, durationSeconds: 1, sizeBytes: 0, at }, previousSamples(page, 'qdrant'))).toContain('backup_size_bytes{store="qdrant"} 1500000\n')
    expect(pushGroupUrl('http://pgw:9091/', 'neo4j')).toBe('http://pgw:9091/metrics/job/backup/store/neo4j')
  })

  it('fails with a hint when the Pushgateway is unreachable, and names the refusal when it says no', async () => {
    const port = await closedPort()
    const unreachable = pushMetrics(`http://127.0.0.1:${port}`, { store: 'neo4j', success: false, durationSeconds: 1, sizeBytes: 0, at }, { timeoutMs: 2000 })
    await expect(unreachable).rejects.toThrow(KitError)
    await expect(unreachable).rejects.toMatchObject({ message: expect.stringMatching(/^cannot reach the Pushgateway at http:\/\/127\.0\.0\.1:\d+\/metrics/), hint: expect.stringContaining('BACKUP_PUSHGATEWAY_URL') })
    await expect(pushMetrics(`${url}/no-such-prefix`, { store: 'neo4j', success: true, durationSeconds: 1, sizeBytes: 1, at }))
      .rejects.toThrow(/^the Pushgateway refused PUT http:\/\/127\.0\.0\.1:\d+\/no-such-prefix\/metrics\/job\/backup\/store\/neo4j: HTTP 404/)
  })
})
