// Retention over synthetic sets spanning 400 days: exactly the expected sets stay, computed from
// manifest timestamps, and the newest verified set is never deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync, writeFileSync, utimesSync, readdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { planRetention, weekKey } from '../../scripts/lib/backup/retention.ts'
import { setId } from '../../scripts/lib/backup/manifest.ts'
import { MANIFEST_FORMAT, type Manifest } from '../../scripts/lib/backup/types.ts'
import type { SetRef } from '../../scripts/lib/backup/destination.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'

const DAY = 86_400_000
const NOW = new Date('2025-06-30T15:00:00Z') // a Monday

function manifest(time: Date, verified: boolean): Manifest {
  const data = Buffer.from(`set ${time.toISOString()}`)
  return {
    format: MANIFEST_FORMAT, store: 'redis', id: setId(time), startedAt: time.toISOString(), finishedAt: time.toISOString(), durationMs: 1,
    host: 'h', target: { kind: 'direct', where: 'x' }, tools: {}, server: { version: '7' }, bytes: data.length,
    files: [{ name: 'dump.rdb', bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'), kind: 'rdb', durationMs: 1 }],
    verified: verified ? { ok: true, method: 'test', durationMs: 1 } : null, encryption: null, details: {},
  }
}

/** One set a day at 02:00 UTC for 400 days up to 2025-06-30, an unverified one at 14:00 that day, and two incomplete ones. */
function synthetic(): { time: Date; verified: boolean; complete: boolean }[] {
  const out = []
  for (let i = 399; i >= 0; i--) out.push({ time: new Date(Date.UTC(2025, 5, 30, 2) - i * DAY), verified: true, complete: true })
  out.push({ time: new Date('2025-06-30T14:00:00Z'), verified: false, complete: true })
  out.push({ time: new Date('2025-06-27T03:00:00Z'), verified: false, complete: false }) // a killed run, 3 days old
  out.push({ time: new Date('2025-06-30T14:30:00Z'), verified: false, complete: false }) // maybe still running elsewhere
  return out
}

function refs(): SetRef[] {
  return synthetic().map((s) => ({
    store: 'redis', id: setId(s.time), location: setId(s.time), time: s.time,
    manifest: s.complete ? manifest(s.time, s.verified) : null, incomplete: s.complete ? undefined : 'no manifest.json',
  }))
}

const ids = (sets: { id: string }[]) => sets.map((s) => s.id).sort()

describe('retention plan', () => {
  it('keeps the newest set of each of the last 7 days, 4 ISO weeks and 6 months, plus the newest verified one', () => {
    expect(synthetic().filter((s) => s.complete)).toHaveLength(401)
    const plan = planRetention(refs(), { daily: 7, weekly: 4, monthly: 6 }, NOW)
    expect(ids(plan.keep.map((k) => k.set))).toEqual([
      '2025-01-31T02-00-00Z', '2025-02-28T02-00-00Z', '2025-03-31T02-00-00Z', '2025-04-30T02-00-00Z', '2025-05-31T02-00-00Z',
      '2025-06-15T02-00-00Z', '2025-06-22T02-00-00Z',
      '2025-06-24T02-00-00Z', '2025-06-25T02-00-00Z', '2025-06-26T02-00-00Z', '2025-06-27T02-00-00Z', '2025-06-28T02-00-00Z', '2025-06-29T02-00-00Z',
      '2025-06-30T02-00-00Z', '2025-06-30T14-00-00Z',
    ])
    const why = Object.fromEntries(plan.keep.map((k) => [k.set.id, k.reasons]))
    expect(why['2025-06-30T14-00-00Z']).toEqual(['daily 2025-06-30', 'weekly 2025-W27', 'monthly 2025-06'])
    // The 14:00 set was taken with --no-verify: the 02:00 one is the newest verified and stays for that alone.
    expect(why['2025-06-30T02-00-00Z']).toEqual(['newest verified'])
    expect(why['2025-06-29T02-00-00Z']).toEqual(['daily 2025-06-29', 'weekly 2025-W26'])
    expect(plan.prune).toHaveLength(401 - 15)
    expect(ids(plan.abandoned)).toEqual(['2025-06-27T03-00-00Z'])
  })

  it('keeps a labelled set for 7 days whatever the counts: a pre-rollback set taken the same day never prunes the pre-upgrade set it is about to restore', () => {
    const at = (iso: string, label?: string): SetRef => {
      const time = new Date(iso)
      return { store: 'postgres', id: setId(time), location: setId(time), time, manifest: { ...manifest(time, true), ...(label ? { label } : {}) } }
    }
    const sets = [at('2025-06-30T10:00:00Z', 'pre-upgrade:d1'), at('2025-06-30T10:05:00Z', 'pre-rollback:d1'), at('2025-06-20T10:00:00Z', 'pre-upgrade:d0'),
      at('2025-06-30T09:00:00Z'), at('2025-06-24T10:00:00Z', 'pre-upgrade:old')]
    const plan = planRetention(sets, { daily: 2, weekly: 0, monthly: 0 }, NOW)
    const why = Object.fromEntries(plan.keep.map((k) => [k.set.id, k.reasons]))
    expect(why['2025-06-30T10-00-00Z']).toEqual(['labelled pre-upgrade:d1'])
    expect(why['2025-06-30T10-05-00Z']).toEqual(['daily 2025-06-30', 'newest verified', 'labelled pre-rollback:d1'])
    expect(why['2025-06-24T10-00-00Z']).toEqual(['daily 2025-06-24', 'labelled pre-upgrade:old'])
    // older than 7 days: the label keeps it no longer; an unlabelled set of the same day goes as before
    expect(ids(plan.prune)).toEqual(['2025-06-20T10-00-00Z', '2025-06-30T09-00-00Z'])
  })

  it('never deletes the newest verified set, however small the policy', () => {
    const plan = planRetention(refs(), { daily: 1, weekly: 0, monthly: 0 }, NOW)
    expect(ids(plan.keep.map((k) => k.set))).toEqual(['2025-06-30T02-00-00Z', '2025-06-30T14-00-00Z'])
    const onlyUnverifiedNewest: SetRef[] = refs().filter((s) => s.manifest).map((s) => ({ ...s, manifest: { ...s.manifest!, verified: null } }))
    onlyUnverifiedNewest[100] = { ...onlyUnverifiedNewest[100]!, manifest: manifest(onlyUnverifiedNewest[100]!.time, true) }
    const plan2 = planRetention(onlyUnverifiedNewest, { daily: 1, weekly: 0, monthly: 0 }, NOW)
    expect(plan2.keep.find((k) => k.reasons.includes('newest verified'))!.set.id).toBe(onlyUnverifiedNewest[100]!.id)
  })

  it('keeps everything when every count is 0 (retention off), and ignores incomplete sets in the counts', () => {
    const plan = planRetention(refs(), { daily: 0, weekly: 0, monthly: 0 }, NOW)
    expect(plan.prune).toEqual([])
    expect(plan.keep).toHaveLength(401)
  })

  it('uses manifest timestamps, not the set directory or file times', () => {
    const sets = refs().slice(-5)
    // A set copied back from elsewhere has a fresh mtime and even a misleading id: its manifest decides.
    sets[0] = { ...sets[0]!, time: new Date(sets[0]!.manifest!.startedAt) }
    const plan = planRetention(sets, { daily: 1, weekly: 0, monthly: 0 }, NOW)
    expect(plan.keep[0]!.set.id).toBe('2025-06-30T14-00-00Z')
  })

  it('puts ISO week boundaries where ISO 8601 does', () => {
    expect(weekKey(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01')
    expect(weekKey(new Date('2021-01-03T23:59:59Z'))).toBe('2020-W53')
    expect(weekKey(new Date('2025-06-29T02:00:00Z'))).toBe('2025-W26')
    expect(weekKey(new Date('2025-06-30T02:00:00Z'))).toBe('2025-W27')
  })
})

describe('pruning in a real backup run (local destination, real Redis)', () => {
  const tmp = tmpDir('owp-retention-')
  let redis: Redis
  beforeAll(async () => { redis = await startRedis(); writeFileSync(join(tmp.path, 'empty.env'), '') })
  afterAll(async () => { await redis?.stop(); tmp.remove() })

  it('after the new set is verified, deletes exactly the sets the plan does not keep, whatever the file times say', async () => {
    const dest = join(tmp.path, 'dest')
    for (const s of synthetic()) {
      const dir = join(dest, 'redis', setId(s.time))
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'dump.rdb'), `set ${s.time.toISOString()}`)
      if (s.complete) writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest(s.time, s.verified)))
      // File times all say "just now": retention must not look at them.
      utimesSync(dir, new Date(), new Date())
    }
    const ctx = testCtx({ env: { ...redis.env, BACKUP_STAGING_DIR: tmp.path } })
    const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest, 'env-file': join(tmp.path, 'empty.env') })
    const report = await runBackup(ctx, {
      stores: ['redis'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [],
      retention: retentionFrom({}), now: () => NOW,
    })
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, id: '2025-06-30T15-00-00Z', verified: true })
    expect(readdirSync(join(dest, 'redis')).sort()).toEqual([
      '2025-01-31T02-00-00Z', '2025-02-28T02-00-00Z', '2025-03-31T02-00-00Z', '2025-04-30T02-00-00Z', '2025-05-31T02-00-00Z',
      '2025-06-15T02-00-00Z', '2025-06-22T02-00-00Z',
      '2025-06-24T02-00-00Z', '2025-06-25T02-00-00Z', '2025-06-26T02-00-00Z', '2025-06-27T02-00-00Z', '2025-06-28T02-00-00Z', '2025-06-29T02-00-00Z',
      '2025-06-30T14-30-00Z', // incomplete but younger than a day: left alone
      '2025-06-30T15-00-00Z', // the new set: daily, weekly, monthly and newest verified
    ])
    expect(report.stores[0]!.pruned).toHaveLength(401 - 13 + 1) // 13 old sets kept, plus the abandoned incomplete one removed
  })

  it('does not prune after a set that was not verified', async () => {
    const dest = join(tmp.path, 'dest')
    const before = readdirSync(join(dest, 'redis')).length
    const ctx = testCtx({ env: { ...redis.env, BACKUP_STAGING_DIR: tmp.path } })
    const shared = await resolveShared(ctx, { store: 'redis', target: 'direct', dest, 'env-file': join(tmp.path, 'empty.env') })
    const report = await runBackup(ctx, {
      stores: ['redis'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: false, recipients: [],
      retention: retentionFrom({ 'keep-daily': '1', 'keep-weekly': '0', 'keep-monthly': '0' }), now: () => new Date(NOW.getTime() + 3600_000),
    })
    expect(report.stores[0]).toMatchObject({ ok: true, verified: false })
    expect(ctx.stderr()).toContain('retention skipped: the new set is not verified')
    expect(readdirSync(join(dest, 'redis'))).toHaveLength(before + 1)
  })
})
