// Backup sets on disk: what counts as complete, checksums, atomic writes, and which set a restore picks.
import { afterAll, describe, expect, it } from 'vitest'
import { mkdirSync, readdirSync, writeFileSync, appendFileSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { tmpDir } from '../helpers/tmp.ts'
import { testCtx } from '../helpers/context.ts'
import { atomicWrite, checkFiles, idToDate, manifestProblems, setId } from '../../scripts/lib/backup/manifest.ts'
import { LocalDestination } from '../../scripts/lib/backup/destination.ts'
import { chooseSet } from '../../scripts/lib/backup/restore.ts'
import { MANIFEST_FORMAT, type Manifest } from '../../scripts/lib/backup/types.ts'

const tmp = tmpDir('owp-sets-')
afterAll(() => tmp.remove())

function manifest(id: string, files: Record<string, string>, verified = true): Manifest {
  const startedAt = idToDate(id)!.toISOString()
  return {
    format: MANIFEST_FORMAT, store: 'postgres', id, startedAt, finishedAt: startedAt, durationMs: 1, host: 'h',
    target: { kind: 'direct', where: 'x' }, tools: {}, server: { version: '15' }, bytes: 0,
    files: Object.entries(files).map(([name, data]) => ({ name, bytes: Buffer.byteLength(data), sha256: createHash('sha256').update(data).digest('hex'), kind: 'x', durationMs: 1 })),
    verified: verified ? { ok: true, method: 't', durationMs: 1 } : null, encryption: null, details: {},
  }
}

function writeSet(root: string, id: string, files: Record<string, string>, m: unknown = manifest(id, files)): string {
  const dir = join(root, 'postgres', id)
  mkdirSync(dir, { recursive: true })
  for (const [n, d] of Object.entries(files)) writeFileSync(join(dir, n), d)
  if (m !== null) writeFileSync(join(dir, 'manifest.json'), typeof m === 'string' ? m : JSON.stringify(m))
  return dir
}

describe('backup sets', () => {
  it('set ids are sortable UTC timestamps that round-trip', () => {
    const d = new Date('2025-06-30T02:00:09.871Z')
    expect(setId(d)).toBe('2025-06-30T02-00-09Z')
    expect(idToDate('2025-06-30T02-00-09Z')!.toISOString()).toBe('2025-06-30T02:00:09.000Z')
    expect(idToDate('latest')).toBeNull()
  })

  it('rejects broken manifests, each for its reason', () => {
    const good = manifest('2025-01-01T00-00-00Z', { 'a.dump': 'x' })
    expect(manifestProblems(good)).toEqual([])
    expect(manifestProblems(null)).toEqual(['not a JSON object'])
    expect(manifestProblems({ ...good, format: 'other/1' })).toEqual(['format is not owp-backup/1'])
    expect(manifestProblems({ ...good, store: 'mysql' })).toEqual(['store is missing or unknown'])
    expect(manifestProblems({ ...good, startedAt: 'yesterday' })).toEqual(['startedAt is not a timestamp'])
    expect(manifestProblems({ ...good, files: [] })).toEqual(['files is empty'])
    expect(manifestProblems({ ...good, files: [{ name: 'a.dump', bytes: 1, sha256: 'abc' }] })).toEqual(['file entry "a.dump" lacks name, bytes or sha256'])
  })

  it('counts a set as complete only with a valid manifest naming it', async () => {
    const root = join(tmp.path, 'list')
    writeSet(root, '2025-01-01T00-00-00Z', { 'a.dump': 'one' })
    writeSet(root, '2025-01-02T00-00-00Z', { 'a.dump.partial': 'half' }, null)
    writeSet(root, '2025-01-03T00-00-00Z', { 'a.dump': 'x' }, '{"format": "owp-backup/1", "truncated')
    writeSet(root, '2025-01-04T00-00-00Z', { 'a.dump': 'x' }, manifest('2025-01-01T00-00-00Z', { 'a.dump': 'x' }))
    mkdirSync(join(root, 'postgres', 'not-a-set'))
    const dest = new LocalDestination(root, { dest: root, env: {} })
    const sets = await dest.list(testCtx(), 'postgres')
    expect(sets.map((s) => [s.id, Boolean(s.manifest), s.incomplete?.replace(/:.*/s, '')])).toEqual([
      ['2025-01-01T00-00-00Z', true, undefined],
      ['2025-01-02T00-00-00Z', false, 'no manifest.json (the run did not finish)'],
      ['2025-01-03T00-00-00Z', false, expect.stringContaining('2025-01-03T00-00-00Z')],
      ['2025-01-04T00-00-00Z', false, 'manifest.json names postgres/2025-01-01T00-00-00Z'],
    ])
  })

  it('finds a missing, resized or altered file', async () => {
    const files = { 'a.dump': 'alpha', 'b.dump': 'bravo', 'c.dump': 'charlie' }
    const dir = writeSet(join(tmp.path, 'check'), '2025-01-01T00-00-00Z', files)
    const m = manifest('2025-01-01T00-00-00Z', files)
    expect(await checkFiles(dir, m)).toEqual([])
    appendFileSync(join(dir, 'a.dump'), '!')
    writeFileSync(join(dir, 'b.dump'), 'brav0')
    rmSync(join(dir, 'c.dump'))
    expect(await checkFiles(dir, m)).toEqual([
      'a.dump: 6 bytes, manifest says 5',
      expect.stringMatching(/^b\.dump: sha256 [0-9a-f]{12}… differs from the manifest's [0-9a-f]{12}…$/),
      'c.dump: missing',
    ])
  })

  it('writes atomically: no temp file is left, and the content is whole', () => {
    const dir = join(tmp.path, 'atomic')
    mkdirSync(dir)
    atomicWrite(join(dir, 'manifest.json'), '{"a":1}\n')
    atomicWrite(join(dir, 'manifest.json'), '{"a":2}\n')
    expect(readdirSync(dir)).toEqual(['manifest.json'])
  })

  it('restore picks the newest verified set for "latest", and refuses an incomplete one by name', async () => {
    const root = join(tmp.path, 'choose')
    writeSet(root, '2025-01-01T00-00-00Z', { 'a.dump': '1' })
    writeSet(root, '2025-01-02T00-00-00Z', { 'a.dump': '2' }, manifest('2025-01-02T00-00-00Z', { 'a.dump': '2' }, false))
    writeSet(root, '2025-01-03T00-00-00Z', { 'a.dump.partial': '3' }, null)
    const sets = await new LocalDestination(root, { dest: root, env: {} }).list(testCtx(), 'postgres')
    expect(chooseSet('postgres', sets, 'latest', root).id).toBe('2025-01-01T00-00-00Z')
    expect(chooseSet('postgres', sets, 'postgres/2025-01-02T00-00-00Z', root).id).toBe('2025-01-02T00-00-00Z')
    expect(() => chooseSet('postgres', sets, '2025-01-03T00-00-00Z', root)).toThrow(/refusing to restore .*: it is incomplete \(no manifest\.json/)
    expect(() => chooseSet('postgres', sets, '2024-12-31T00-00-00Z', root)).toThrow('no backup set 2024-12-31T00-00-00Z of postgres')
    expect(() => chooseSet('postgres', sets.filter((s) => !s.manifest), 'latest', root)).toThrow('no complete backup set of postgres in')
  })
})
