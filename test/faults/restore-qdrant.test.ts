// Fault rows of the Qdrant restore (docs/reliability.md, "Backup and restore"), against the FAKE
// Qdrant (test/fixtures/backup/qdrant-fake.ts) that fails like the real server: a snapshot recover
// that errors half way leaves the collection it wrote into with half the points (HTTP 500). The kit
// runs as a real process on the compose target (writers through the docker shim, whose
// stop/start keep the writers' running state in files). The "container" tells the kit where Qdrant
// stores its collections (QDRANT__STORAGE__STORAGE_PATH, as compose and the chart set it): a
// directory on this disk, or for the space row a real small tmpfs.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { WRITERS } from '../../scripts/lib/backup/writers.ts'
import { startFakeQdrant, type FakeQdrant } from '../fixtures/backup/qdrant-fake.ts'
import { listSets } from '../backup/support.ts'
import { canMount, mountTmpfs } from '../helpers/tmpfs.ts'
import { killWhen, startScript } from './support.ts'

const SHIMS = join(ROOT, 'test', 'fixtures', 'backup', 'shims')
const tmp = tmpDir('owp-fault-qdrant-')
const state = join(tmp.path, 'services')
const dest = join(tmp.path, 'dest')
let q: FakeQdrant
let unmount = () => {}

const env = (storage = join(tmp.path, 'storage')) => ({
  PATH: `${SHIMS}:${process.env.PATH}`, SHIM_CALLS: join(tmp.path, 'calls'), SHIM_STATE: state,
  SHIM_QDRANT_ENV: `QDRANT__STORAGE__STORAGE_PATH=${storage}`,
  QDRANT_URL: q.url, BACKUP_STAGING_DIR: join(tmp.path, 'staging'),
  // leases and the stopped writers' state of this file's runs only (other suites restore compose project owp too)
  OWP_LOCK_DIR: join(tmp.path, 'locks'),
})
const args = (script: 'backup' | 'restore') => ['--store', 'qdrant', '--target', 'compose', '--env-file', join(tmp.path, 'empty.env'), '--dest', dest,
  ...(script === 'restore' ? ['--from', 'latest', '--yes'] : ['--metrics-dir', join(tmp.path, 'metrics')])]
const restore = (storage?: string) => runScript('scripts/restore.ts', args('restore'), { env: env(storage), timeoutMs: 120_000 })
const running = () => readdirSync(state).filter((f) => f.endsWith('.running')).map((f) => f.replace(/\.running$/, '')).sort()
const allWriters = [...WRITERS].sort()

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${q.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
  return r.json()
}
const points = async (name: string) => (await call('GET', `/collections/${name}`)).result?.points_count as number | undefined
/** What the apps see under each name: point ids and payload texts. */
function live(name: string): string {
  const c = q.collections.get(q.aliases.get(name) ?? name)
  return c ? [...c.points.values()].map((p) => `${p.id}:${String(p.payload?.text)}`).sort().join(',') : '(none)'
}
const kitCopies = () => [...q.collections.keys()].filter((c) => c.includes('.owp-'))
const fill = async (name: string, n: number, tag: string) => {
  await call('PUT', `/collections/${name}/points?wait=true`, { points: Array.from({ length: n }, (_, i) => ({ id: i + 1, vector: [i, 1, 0.5, -i], payload: { text: `${tag} ${i}` } })) })
}

beforeAll(async () => {
  for (const d of [state, join(tmp.path, 'calls'), join(tmp.path, 'staging'), join(tmp.path, 'storage')]) mkdirSync(d)
  writeFileSync(join(tmp.path, 'empty.env'), '')
  q = await startFakeQdrant()
  for (const [name, n] of [['docs', 40], ['chat-memory', 7]] as const) {
    await call('PUT', `/collections/${name}`, { vectors: { size: 4, distance: 'Cosine' } })
    await fill(name, n, 'backed-up')
  }
  const b = await runScript('scripts/backup.ts', args('backup'), { env: env(), timeoutMs: 120_000 })
  expect(b.code, b.stderr).toBe(0)
  expect(listSets(dest, 'qdrant')).toHaveLength(1)
})
beforeEach(async () => {
  for (const w of WRITERS) writeFileSync(join(state, `${w}.running`), '')
  q.failRecover = null
  q.stall = null
  // live data that differs from the backup: "intact" and "restored" can be told apart
  await fill('docs', 25, 'live')
  await fill('chat-memory', 3, 'live')
})
afterAll(async () => {
  try { unmount() } finally {
    await q?.close()
    tmp.remove()
  }
})

/** The live names as plain collections (not aliases of a restored copy): the first restore sets them aside. */
async function plainCollections() {
  for (const [name] of q.aliases) await call('POST', '/collections/aliases', { actions: [{ delete_alias: { alias_name: name } }] })
  for (const c of [...q.collections.keys()]) await call('DELETE', `/collections/${c}`)
  await call('PUT', '/collections/docs', { vectors: { size: 4, distance: 'Cosine' } })
  await call('PUT', '/collections/chat-memory', { vectors: { size: 4, distance: 'Cosine' } })
  await fill('docs', 25, 'live')
  await fill('chat-memory', 3, 'live')
}

describe('qdrant restore faults (fake Qdrant that fails like the real one)', { timeout: 180_000 }, () => {
  it('F-RESTORE-QDRANT-1: the snapshot recover errors half way: the live collections are untouched, no copy is left, writers running again', async () => {
    const before = { docs: live('docs'), chat: live('chat-memory') }
    q.failRecover = /^docs/
    const r = await restore()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/the snapshot of collection docs could not be restored beside the live one \(.*No space left on device.*\); the live collections are untouched/)
    expect({ docs: live('docs'), chat: live('chat-memory') }).toEqual(before)
    expect(kitCopies()).toEqual([])
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-QDRANT-2: the restored copy fails its proof (point count differs from the manifest): old data intact, writers running again', async () => {
    const before = { docs: live('docs'), chat: live('chat-memory') }
    const [set] = listSets(dest, 'qdrant')
    const file = join(set!.dir, 'manifest.json')
    const original = readFileSync(file, 'utf8')
    const m = JSON.parse(original)
    m.details.collections.docs.points += 1
    writeFileSync(file, JSON.stringify(m))
    try {
      const r = await restore()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('the restored copy of collection docs has 40 points, the backup 41; the live collections are untouched')
    } finally {
      writeFileSync(file, original)
    }
    expect({ docs: live('docs'), chat: live('chat-memory') }).toEqual(before)
    expect(kitCopies()).toEqual([])
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-QDRANT-3: SIGKILL while the snapshot is uploaded beside the live collection, then again: the live data was intact, the rerun succeeds', async () => {
    const before = live('docs')
    q.stall = /^POST \/collections\/docs\.owp-restore-[^/]+\/snapshots\/upload/
    const seen = q.requests.length
    const k = startScript('scripts/restore.ts', args('restore'), env())
    await killWhen(k, () => q.requests.slice(seen).some((x) => /^\/collections\/docs\.owp-restore-/.test(x.path)))
    q.stall = null
    expect(live('docs')).toBe(before)
    expect(running()).toEqual([]) // the killed run had stopped the writers
    const r = await restore()
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/writers started again/)
    expect(await points('docs')).toBe(40)
    expect(live('docs')).toMatch(/backed-up/)
    expect(kitCopies().every((c) => [...q.aliases.values()].includes(c))).toBe(true) // the killed run's copy was dropped
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-QDRANT-4: SIGKILL between dropping the live collection (copied aside) and naming its new copy: the rerun puts the old data back under its name first, then restores', async () => {
    // a plain collection (not yet an alias): the path that sets the old data aside
    await plainCollections()
    const before = live('chat-memory') // the first name to move (collections go in name order)
    q.stall = /^POST \/collections\/aliases/
    const seen = q.requests.length
    const k = startScript('scripts/restore.ts', args('restore'), env())
    await killWhen(k, () => q.requests.slice(seen).some((x) => x.method === 'POST' && x.path === '/collections/aliases'))
    q.stall = null
    expect(q.collections.has('chat-memory')).toBe(false) // dropped; its data is in the set-aside copy
    expect(live('docs')).toMatch(/live/) // not reached yet
    const aside = [...q.collections.keys()].find((c) => c.startsWith('chat-memory.owp-pre-restore-'))!
    expect([...q.collections.get(aside)!.points.values()].map((p) => `${p.id}:${String(p.payload?.text)}`).sort().join(',')).toBe(before)

    const r = await restore()
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`an interrupted restore had set collection chat-memory aside as ${aside}: put back under its name`)
    expect(await points('docs')).toBe(40)
    expect(await points('chat-memory')).toBe(7)
    expect(kitCopies().every((c) => [...q.aliases.values()].includes(c))).toBe(true)
    expect(q.collections.size).toBe(2)
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-QDRANT-5: too little free space where Qdrant stores its collections (an 8 KiB tmpfs) for the copies beside and the copy aside: exit 1 before any request changes Qdrant, live data untouched', async (t) => {
    if (!canMount) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    await plainCollections()
    const before = { docs: live('docs'), chat: live('chat-memory') }
    const small = join(tmp.path, 'small-storage')
    unmount = mountTmpfs(small, '8k')
    const seen = q.requests.length
    const r = await restore(small)
    unmount()
    expect(r.code).toBe(1)
    // one message: what the restore needs and what is free there (df in the qdrant container)
    expect(r.stderr).toMatch(new RegExp(`qdrant: restore failed: not enough space for the collections restored beside the live ones \\([\\d.]+ KiB\\), the copy of docs set aside \\([\\d.]+ KiB\\) and one uploaded snapshot held while Qdrant unpacks it \\([\\d.]+ KiB\\) on qdrant:${small}: needs about [\\d.]+ KiB \\([\\d.]+ KiB \\+ 20%\\), 8\\.0 KiB free; nothing was changed`))
    expect(q.requests.slice(seen).filter((x) => x.method !== 'GET')).toEqual([])
    expect({ docs: live('docs'), chat: live('chat-memory') }).toEqual(before)
    expect(kitCopies()).toEqual([])
    expect(running()).toEqual(allWriters)
    // with room (the storage directory on this disk) the same restore goes through
    const ok = await restore()
    expect(ok.code, ok.stderr).toBe(0)
    expect(await points('docs')).toBe(40)
  })
})
