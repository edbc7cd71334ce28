// Qdrant backups against a FAKE Qdrant (test/fixtures/backup/qdrant-fake.ts) that follows the
// documented snapshot REST API: no real Qdrant can be installed on these machines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync, readdirSync, writeFileSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { startFakeQdrant, type FakeQdrant } from '../fixtures/backup/qdrant-fake.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { listSets, readManifestJson } from './support.ts'
import { canMount, mountTmpfs } from '../helpers/tmpfs.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'

const API_KEY = 'qdrant-test-api-key-0123456789abcdef'
const tmp = tmpDir('owp-qdrant-')
let q: FakeQdrant

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${q.url}${path}`, { method, headers: { 'api-key': API_KEY, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
  return r.json()
}

async function setup(dest: string, env: Record<string, string> = {}, flags: Record<string, string | boolean> = {}, target = 'direct') {
  const ctx = testCtx({ env: { QDRANT_URL: q.url, QDRANT_API_KEY: API_KEY, BACKUP_STAGING_DIR: tmp.path, ...env }, yes: true, ...flags })
  const shared = await resolveShared(ctx, { store: 'qdrant', target, dest, 'env-file': join(tmp.path, 'empty.env') })
  const backup = () => runBackup(ctx, { stores: ['qdrant'], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings, verify: true, recipients: [], retention: retentionFrom({}) })
  const restore = () => runRestore(ctx, { stores: ['qdrant'], explicit: true, from: 'latest', target: shared.target, dest: shared.dest, settings: shared.settings })
  return { ctx, backup, restore }
}

beforeAll(async () => {
  writeFileSync(join(tmp.path, 'empty.env'), '')
  q = await startFakeQdrant({ apiKey: API_KEY })
  for (const [name, n] of [['docs', 40], ['chat-memory', 7]] as const) {
    await call('PUT', `/collections/${name}`, { vectors: { size: 4, distance: 'Cosine' } })
    await call('PUT', `/collections/${name}/points?wait=true`, { points: Array.from({ length: n }, (_, i) => ({ id: i + 1, vector: [i, 1, 0.5, -i], payload: { text: `chunk ${i} ✓`, source: name } })) })
  }
})

afterAll(async () => {
  await q?.close()
  tmp.remove()
})

describe('Qdrant backup and restore (fake Qdrant, documented snapshot API)', () => {
  it('snapshots each collection, checks the sha256 against the server, deletes the server copy, and restores by upload', async () => {
    const dest = join(tmp.path, 'main')
    const { ctx, backup, restore } = await setup(dest)
    const report = await backup()
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const [set] = listSets(dest, 'qdrant')
    expect(set!.files).toEqual(['collection-chat-memory.snapshot', 'collection-docs.snapshot', 'collections.json', 'manifest.json'])
    const m = readManifestJson(set!.dir)
    expect(m.server.version).toBe('1.15.4')
    expect(m.details.collections.docs).toMatchObject({ file: 'collection-docs.snapshot', points: 40 })
    const sha = createHash('sha256').update(readFileSync(join(set!.dir, 'collection-docs.snapshot'))).digest('hex')
    expect(m.details.collections.docs.checksum).toBe(sha)
    expect(JSON.parse(readFileSync(join(set!.dir, 'collections.json'), 'utf8')).docs.config.params.vectors).toEqual({ size: 4, distance: 'Cosine' })
    expect(q.requests).toContainEqual({ method: 'POST', path: '/collections/docs/snapshots?wait=true' })
    expect([...q.snapshots.values()].every((s) => s.size === 0)).toBe(true) // nothing left on the server's disk
    expect(ctx.stderr() + ctx.stdout()).not.toContain(API_KEY)

    await call('DELETE', '/collections/docs')
    await call('PUT', '/collections/chat-memory/points?wait=true', { points: [{ id: 99, vector: [0, 0, 0, 1] }] })
    const result = await restore()
    expect(result.ok, ctx.stderr()).toBe(true)
    expect(result.stores[0]!.restored).toEqual(['collection chat-memory (7 points)', 'collection docs (40 points)'])
    expect((await call('GET', '/collections/docs')).result.points_count).toBe(40)
    expect((await call('GET', '/collections/chat-memory')).result.points_count).toBe(7)
    // restored beside the live collection, then the name moved (an alias of the proven copy)
    expect(q.requests).toContainEqual({ method: 'POST', path: expect.stringMatching(new RegExp(`^/collections/docs\\.owp-restore-\\w+/snapshots/upload\\?wait=true&priority=snapshot&checksum=${sha}$`)) })
    expect([...q.collections.keys()].sort()).toEqual([q.aliases.get('chat-memory'), q.aliases.get('docs')].sort())
    expect(q.aliases.get('docs')).toMatch(/^docs\.owp-restore-/)

    // a second backup names the collections as the apps do (the aliases), and a second restore switches the aliases
    const again = await backup()
    expect(again.stores[0], ctx.stderr()).toMatchObject({ ok: true })
    expect(listSets(dest, 'qdrant').at(-1)!.files).toEqual(['collection-chat-memory.snapshot', 'collection-docs.snapshot', 'collections.json', 'manifest.json'])
    const first = q.aliases.get('docs')
    expect((await restore()).ok, ctx.stderr()).toBe(true)
    expect(q.aliases.get('docs')).not.toBe(first)
    expect(q.collections.size).toBe(2)
    expect((await call('GET', '/collections/docs')).result.points_count).toBe(40)
  })

  it('a snapshot whose bytes do not match the server checksum fails the backup, and the server copy is still deleted', async () => {
    const dest = join(tmp.path, 'lie')
    const { ctx, backup } = await setup(dest)
    q.lieAboutChecksum = true
    const report = await backup()
    expect(report.stores[0]!.ok).toBe(false)
    expect(report.stores[0]!.error).toMatch(/snapshot of chat-memory: downloaded sha256 [0-9a-f]{64} differs from the server's checksum/)
    expect(listSets(dest, 'qdrant').filter((s) => s.complete)).toEqual([])
    expect([...q.snapshots.values()].every((s) => s.size === 0)).toBe(true)
    expect(ctx.stderr()).not.toContain(API_KEY)
  })

  it('a wrong API key fails with a hint, and the key is never printed', async () => {
    const { ctx, backup } = await setup(join(tmp.path, 'badkey'), { QDRANT_API_KEY: 'wrong-key-wrong-key-wrong-key-00' })
    const report = await backup()
    expect(report.stores[0]!.error).toMatch(/answered HTTP 401/)
    expect(ctx.stderr()).toContain('hint: check QDRANT_API_KEY')
    expect(ctx.stderr()).not.toContain('wrong-key-wrong-key')
  })

  it('--dry-run lists the snapshot calls and creates nothing', async () => {
    const before = q.requests.length
    const { ctx, backup } = await setup(join(tmp.path, 'dry'), {}, { dryRun: true })
    const report = await backup()
    expect(report.ok, ctx.stderr()).toBe(true)
    expect(ctx.stdout()).toContain(`[dry-run] POST ${q.url}/collections/${q.aliases.get('docs') ?? 'docs'}/snapshots?wait=true`)
    expect(q.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([])
  })
  it('on Kubernetes the free space is read by df in the qdrant container (kubectl exec); a restore that does not fit stops before anything changes', async (t) => {
    if (!canMount) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    const calls = join(tmp.path, 'k8s-calls')
    mkdirSync(calls)
    const small = join(tmp.path, 'k8s-storage')
    // the kubectl shim runs `exec` here with the container's own environment (the chart sets the storage path)
    const { ctx, backup, restore } = await setup(join(tmp.path, 'k8s'), {
      PATH: `${join(ROOT, 'test', 'fixtures', 'backup', 'shims')}:${process.env.PATH}`, SHIM_CALLS: calls, SHIM_QDRANT_ENV: `QDRANT__STORAGE__STORAGE_PATH=${small}`,
    }, {}, 'k8s')
    expect((await backup()).stores[0], ctx.stderr()).toMatchObject({ ok: true })
    const unmount = mountTmpfs(small, '8k')
    const seen = q.requests.length
    try {
      const result = await restore()
      expect(result.ok).toBe(false)
      expect(result.stores[0]!.error).toMatch(new RegExp(`^not enough space for the collections restored beside the live ones .* on qdrant:${small}: needs about [\\d.]+ KiB .*, 8\\.0 KiB free; nothing was changed$`))
    } finally { unmount() }
    const kubectl = readdirSync(calls).sort().filter((f) => f.endsWith('.kubectl')).map((f) => readFileSync(join(calls, f), 'utf8').split('\0').slice(0, -1))
    expect(kubectl).toContainEqual(['kubectl', 'exec', '-n', 'openwebui-prod', 'owp-qdrant-0', '-c', 'qdrant', '--', 'printenv', 'QDRANT__STORAGE__STORAGE_PATH'])
    expect(kubectl).toContainEqual(['kubectl', 'exec', '-n', 'openwebui-prod', 'owp-qdrant-0', '-c', 'qdrant', '--', 'df', '-Pk', small])
    expect(q.requests.slice(seen).filter((r) => r.method !== 'GET')).toEqual([])
    expect(ctx.stderr()).not.toContain(API_KEY)
  })
})
