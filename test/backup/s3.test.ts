// The S3 destination through @aws-sdk/client-s3 + lib-storage against a small S3-compatible
// FAKE on 127.0.0.1 (test/fixtures/backup/s3-fake.ts): layout, manifest last, multipart, listing
// across pages, deletes manifest first, no optional checksums sent (what R2/B2/MinIO need).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFileSync, readFileSync, existsSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { startFakeS3, type FakeS3 } from '../fixtures/backup/s3-fake.ts'
import { S3Destination, objectKey, parseS3Url, s3ClientConfig } from '../../scripts/lib/backup/s3.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { MANIFEST_FORMAT, type Manifest } from '../../scripts/lib/backup/types.ts'

const tmp = tmpDir('owp-s3-')
const creds = { AWS_ACCESS_KEY_ID: 'AKIAOWPTEST', AWS_SECRET_ACCESS_KEY: 's3-secret-key-for-tests-0123456789' }
let s3: FakeS3
let redis: Redis
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

function manifestFor(id: string, files: { name: string; data: Buffer }[], startedAt = new Date().toISOString()): Manifest {
  return {
    format: MANIFEST_FORMAT, store: 'redis', id, startedAt, finishedAt: startedAt, durationMs: 1, host: 'test',
    target: { kind: 'direct', where: 'test' }, tools: {}, server: { version: '7' }, bytes: files.reduce((n, f) => n + f.data.length, 0),
    files: files.map((f) => ({ name: f.name, bytes: f.data.length, sha256: sha(f.data), kind: 'rdb', durationMs: 1 })),
    verified: { ok: true, method: 'test', durationMs: 1 }, encryption: null, details: {},
  }
}

beforeAll(async () => {
  ;[s3, redis] = await Promise.all([startFakeS3({ bucket: 'owp-backups', accessKey: creds.AWS_ACCESS_KEY_ID, pageSize: 3 }), startRedis({ supervised: true })])
  writeFileSync(join(tmp.path, 'empty.env'), '')
})

afterAll(async () => {
  await Promise.all([s3?.close(), redis?.stop()])
  tmp.remove()
})

describe('S3 destination', () => {
  it('parses s3:// URLs and lays out keys as <prefix>/<store>/<set id>/<file>', () => {
    expect(parseS3Url('s3://owp-backups/prod/eu')).toEqual({ bucket: 'owp-backups', prefix: 'prod/eu' })
    expect(parseS3Url('s3://owp-backups')).toEqual({ bucket: 'owp-backups', prefix: '' })
    expect(() => parseS3Url('s3://A_Bad_Bucket/x')).toThrow('not an s3://bucket/prefix URL')
    expect(objectKey({ bucket: 'b', prefix: 'prod' }, 'postgres', '2025-01-31T02-00-00Z', 'db-app.dump')).toBe('prod/postgres/2025-01-31T02-00-00Z/db-app.dump')
    expect(objectKey({ bucket: 'b', prefix: '' }, 'redis', '2025-01-31T02-00-00Z', 'dump.rdb')).toBe('redis/2025-01-31T02-00-00Z/dump.rdb')
    const cfg = s3ClientConfig({ dest: 's3://b/p', env: { BACKUP_S3_ENDPOINT: 'https://x.r2.cloudflarestorage.com', ...creds } })
    expect(cfg).toMatchObject({ requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', forcePathStyle: true, endpoint: 'https://x.r2.cloudflarestorage.com' })
    expect(s3ClientConfig({ dest: 's3://b/p', env: {} })).not.toHaveProperty('forcePathStyle')
  })

  it('uploads the files (multipart for a large one), then manifest.json last; lists, fetches and removes (manifest first)', async () => {
    const dest = new S3Destination({ dest: 's3://owp-backups/prod', env: { ...creds, BACKUP_S3_ENDPOINT: s3.endpoint }, stagingDir: tmp.path })
    const ctx = testCtx()
    const id = '2025-03-01T02-00-00Z'
    const work = dest.workDir('redis', id)
    const big = randomBytes(20 * 1024 * 1024 + 123)
    const small = Buffer.from('small file ✓')
    writeFileSync(join(work, 'dump.rdb'), big)
    writeFileSync(join(work, 'notes.txt'), small)
    const m = manifestFor(id, [{ name: 'dump.rdb', data: big }, { name: 'notes.txt', data: small }], '2025-03-01T02:00:00.000Z')
    s3.requests.length = 0
    const where = await dest.publish(ctx, 'redis', id, work, m)
    expect(where).toBe(`s3://owp-backups/prod/redis/${id}/`)
    expect(existsSync(work)).toBe(false) // staging removed
    const writes = s3.requests.filter((r) => r.method === 'PUT' || (r.method === 'POST' && r.query.includes('upload')))
    expect(writes.at(-1)).toMatchObject({ method: 'PUT', key: `prod/redis/${id}/manifest.json` })
    expect(s3.requests.filter((r) => r.query.includes('partNumber='))).toHaveLength(2) // 16 MiB parts
    for (const r of writes) {
      expect(Object.keys(r.headers).filter((h) => h.startsWith('x-amz-checksum') || h === 'x-amz-sdk-checksum-algorithm' || h === 'x-amz-trailer'), `${r.method} ${r.key}`).toEqual([])
    }
    expect(sha(s3.objects.get(`prod/redis/${id}/dump.rdb`)!)).toBe(sha(big))

    // Debris of an interrupted upload: objects without a manifest.
    s3.objects.set('prod/redis/2025-03-02T02-00-00Z/dump.rdb', Buffer.from('half'))
    const sets = await dest.list(ctx, 'redis')
    expect(sets.map((s) => [s.id, Boolean(s.manifest), s.incomplete ?? ''])).toEqual([
      [id, true, ''], ['2025-03-02T02-00-00Z', false, 'no manifest.json (the run did not finish)'],
    ])
    const fetched = await dest.fetch(ctx, sets[0]!)
    expect(sha(readFileSync(join(fetched.dir, 'dump.rdb')))).toBe(sha(big))
    fetched.done()

    s3.requests.length = 0
    await dest.remove(ctx, sets[0]!)
    const deletes = s3.requests.filter((r) => r.method === 'DELETE' || r.query.includes('delete'))
    expect(deletes[0]).toMatchObject({ method: 'DELETE', key: `prod/redis/${id}/manifest.json` })
    expect([...s3.objects.keys()].filter((k) => k.includes(id))).toEqual([])
  })

  it('backs Redis up to S3, prunes old sets there after verification, and restores from S3', async () => {
    const env = { ...redis.env, ...creds, BACKUP_S3_ENDPOINT: s3.endpoint, BACKUP_STAGING_DIR: tmp.path }
    const ctx = testCtx({ env, yes: true })
    // Two old complete sets: with keep-daily 1 only the new one stays.
    for (const id of ['2024-01-01T02-00-00Z', '2024-01-02T02-00-00Z']) {
      const data = Buffer.from(`old ${id}`)
      s3.objects.set(`nightly/redis/${id}/dump.rdb`, data)
      s3.objects.set(`nightly/redis/${id}/manifest.json`, Buffer.from(JSON.stringify(manifestFor(id, [{ name: 'dump.rdb', data }], `${id.slice(0, 10)}T02:00:00.000Z`))))
    }
    redis.cli(['SET', 'k', 'v ✓'])
    const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest: 's3://owp-backups/nightly', 'env-file': join(tmp.path, 'empty.env') })
    const report = await runBackup(ctx, {
      stores: ['redis'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [],
      retention: retentionFrom({ 'keep-daily': '1', 'keep-weekly': '0', 'keep-monthly': '0' }),
    })
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true, pruned: ['2024-01-02T02-00-00Z', '2024-01-01T02-00-00Z'] })
    expect(report.stores[0]!.location).toMatch(/^s3:\/\/owp-backups\/nightly\/redis\/\d{4}-.*Z\/$/)
    const keys = [...s3.objects.keys()].filter((k) => k.startsWith('nightly/'))
    expect(keys.map((k) => k.split('/').slice(2).join('/')).sort()).toEqual([expect.stringMatching(/Z\/dump\.rdb$/), expect.stringMatching(/Z\/manifest\.json$/)])
    expect(ctx.stderr()).not.toContain(creds.AWS_SECRET_ACCESS_KEY)

    redis.cli(['FLUSHALL'])
    const result = await runRestore(ctx, { stores: ['redis'], explicit: true, from: 'latest', target: shared.target, dest: shared.dest, settings: shared.settings })
    expect(result.ok, ctx.stderr()).toBe(true)
    expect(result.stores[0]!.from).toMatch(/^s3:\/\/owp-backups\/nightly\/redis\//)
    expect(redis.cli(['GET', 'k']).trim()).toBe('v ✓')
    expect(readFileSync(join(redis.dir, 'dump.rdb')).length).toBe(s3.objects.get(keys.find((k) => k.endsWith('dump.rdb'))!)!.length)
  })
})
