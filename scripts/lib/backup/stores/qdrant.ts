// Qdrant: one snapshot per collection through the REST API (create with wait=true, download,
// sha256 equal to the server's checksum, delete the server-side copy), plus collections.json with
// each collection's config and point count. A collection the apps reach through an alias (left by
// an earlier restore) is backed up under the alias' name.
// Restore never writes into a live collection: each snapshot is uploaded (with its checksum) into
// a new collection beside it (<name>.owp-restore-<tag>), its point count is proven against the
// manifest, and only when every collection is proven does the name move: an alias switch (atomic)
// when the name is already an alias; otherwise the live collection is first copied aside
// (<name>.owp-pre-restore-<tag>, counted), then dropped and the name becomes an alias of the new
// one. A failure at any point leaves the old data under the name; a killed run's leftovers are
// put back (a name with no collection gets its set-aside copy) or dropped by the next run. Before
// any of it, the free space where Qdrant stores its collections is checked against what the
// restore adds there at its peak.
import { createWriteStream, writeFileSync, openAsBlob, mkdtempSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { ensureSpace, formatSize, localFreeBytes, requireSpace } from '../space.ts'
import type { DriverRun, DumpResult, Manifest, ProducedFile, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'
import { failureReason } from '../../core/exec.ts'

interface SnapshotInfo { name: string; size?: number; checksum?: string; creation_time?: string }
interface QdrantDetails { url: string; collections: Record<string, { file: string; points: number | null; checksum: string }> }

export function snapshotFileName(collection: string): string {
  const safe = collection.replace(/[^A-Za-z0-9_.-]/g, '_')
  return `collection-${safe === collection ? safe : `${safe}-${Buffer.from(collection).toString('hex').slice(0, 16)}`}.snapshot`
}

class Qdrant {
  constructor(private ctx: Ctx, readonly base: string, private apiKey: string | undefined) {}
  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { 'api-key': this.apiKey } : {}), ...extra }
  }
  /** A JSON call; mutating calls are printed, not sent, under --dry-run. */
  async call<T>(method: string, path: string, o: { body?: unknown; mutates?: boolean; form?: FormData } = {}): Promise<T | null> {
    const url = `${this.base}${path}`
    if (o.mutates && this.ctx.dryRun) {
      this.ctx.plan.push(`${method} ${url}`)
      if (!this.ctx.json) this.ctx.out(`[dry-run] ${method} ${url}`)
      return null
    }
    this.ctx.log.debug(`${method} ${url}`)
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers: this.headers(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        body: o.form ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
        signal: this.ctx.signal,
      })
    } catch (e) {
      throw new KitError(`qdrant ${method} ${url} failed: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`, 1, 'check QDRANT_URL and that Qdrant is running')
    }
    const text = await res.text()
    if (!res.ok) throw new KitError(`qdrant ${method} ${path} answered HTTP ${res.status}: ${text.slice(0, 300)}`, 1, res.status === 401 || res.status === 403 ? 'check QDRANT_API_KEY' : undefined)
    return (text ? JSON.parse(text) : null) as T
  }
  /** Stream a download into a file, hashing it on the way; returns the sha256. */
  async download(path: string, file: string): Promise<string> {
    const res = await fetch(`${this.base}${path}`, { headers: this.headers(), signal: this.ctx.signal })
    if (!res.ok || !res.body) throw new KitError(`qdrant GET ${path} answered HTTP ${res.status}`)
    const hash = createHash('sha256')
    const tap = new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(null, chunk) } })
    await pipeline(Readable.fromWeb(res.body as never), tap, createWriteStream(file, { mode: 0o600 }))
    return hash.digest('hex')
  }
}

async function client(ctx: Ctx, run: DriverRun): Promise<Qdrant> {
  const base = await run.target.httpUrl(ctx, 'qdrant', 6333, 'QDRANT_URL')
  return new Qdrant(ctx, base, run.settings.env.QDRANT_API_KEY)
}

const enc = encodeURIComponent
const RESTORE_MARK = '.owp-restore-'
const ASIDE_MARK = '.owp-pre-restore-'
const isKitCopy = (name: string) => name.includes(RESTORE_MARK) || name.includes(ASIDE_MARK)

/** alias -> collection, from GET /aliases. */
async function aliases(q: Qdrant): Promise<Map<string, string>> {
  const r = await q.call<{ result: { aliases: { alias_name: string; collection_name: string }[] } }>('GET', '/aliases')
  return new Map((r?.result.aliases ?? []).map((a) => [a.alias_name, a.collection_name]))
}

async function collectionNames(q: Qdrant): Promise<string[]> {
  const list = await q.call<{ result: { collections: { name: string }[] } }>('GET', '/collections')
  return (list?.result.collections ?? []).map((c) => c.name)
}

async function pointsOf(q: Qdrant, name: string): Promise<number | null> {
  const info = await q.call<{ result: { points_count?: number } }>('GET', `/collections/${enc(name)}`)
  return info?.result.points_count ?? null
}

async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const q = await client(ctx, run)
  const root = await q.call<{ version?: string }>('GET', '/')
  const real = await collectionNames(q)
  const byAlias = await aliases(q)
  // The name the apps use -> the collection that holds it (an alias wins over a kit copy's own name).
  const source = new Map<string, string>()
  for (const [alias, coll] of byAlias) if (real.includes(coll)) source.set(alias, coll)
  for (const c of real) {
    if ([...source.values()].includes(c)) continue
    if (isKitCopy(c)) { ctx.log.warn(`qdrant: collection ${c} was left by an interrupted restore: not backed up (the next restore removes it)`); continue }
    source.set(c, c)
  }
  const names = [...source.keys()].sort()
  const catalog: Record<string, unknown> = {}
  const details: QdrantDetails = { url: q.base, collections: {} }
  const files: ProducedFile[] = []
  for (const name of names) catalog[name] = (await q.call<{ result: unknown }>('GET', `/collections/${enc(source.get(name)!)}`))?.result
  for (const name of names) {
    const started = Date.now()
    const file = snapshotFileName(name)
    const coll = source.get(name)!
    const created = await q.call<{ result: SnapshotInfo }>('POST', `/collections/${enc(coll)}/snapshots?wait=true`, { mutates: true })
    if (!created) { files.push({ name: file, kind: 'snapshot', of: name, durationMs: 0 }); continue }
    const snap = created.result
    try {
      let checksum = snap.checksum
      if (!checksum) {
        const listed = await q.call<{ result: SnapshotInfo[] }>('GET', `/collections/${enc(coll)}/snapshots`)
        checksum = listed?.result.find((s) => s.name === snap.name)?.checksum
      }
      if (!checksum) throw new KitError(`qdrant did not report a checksum for snapshot ${snap.name} of ${name}`)
      const sum = await q.download(`/collections/${enc(coll)}/snapshots/${enc(snap.name)}`, partialPath(run.dir, file))
      if (sum !== checksum) throw new KitError(`snapshot of ${name}: downloaded sha256 ${sum} differs from the server's checksum ${checksum}`)
      finishFile(run.dir, file)
      // The count a restore proves its copy against: only when no write moved it while the snapshot was taken.
      const before = (catalog[name] as { points_count?: number } | undefined)?.points_count ?? null
      const after = await pointsOf(q, coll)
      const points = before !== null && before === after ? before : null
      if (points === null) ctx.log.warn(`qdrant: collection ${name} changed while its snapshot was taken (${before} -> ${after} points): its restore cannot be proven by count`)
      details.collections[name] = { file, points, checksum }
      files.push({ name: file, kind: 'snapshot', of: name, durationMs: Date.now() - started })
    } finally {
      // The server-side copy takes disk on the Qdrant volume: always delete it.
      await q.call('DELETE', `/collections/${enc(coll)}/snapshots/${enc(snap.name)}?wait=true`, { mutates: true })
        .catch((e) => ctx.log.warn(`could not delete snapshot ${snap.name} of ${name} on the server: ${(e as Error).message}`))
    }
  }
  if (!ctx.dryRun) {
    writeFileSync(partialPath(run.dir, 'collections.json'), `${JSON.stringify(catalog, null, 2)}\n`, { mode: 0o600 })
    finishFile(run.dir, 'collections.json')
  }
  files.unshift({ name: 'collections.json', kind: 'catalog', durationMs: 0 })
  return { files, tools: { 'qdrant-api': 'REST' }, server: { version: root?.version ?? 'unknown' }, details: details as unknown as Record<string, unknown> }
}

async function verify(ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult> {
  const details = dump.details as unknown as QdrantDetails
  for (const [name, c] of Object.entries(details.collections)) {
    // A snapshot is a tar archive: listing it reads every header to the end.
    const r = await ctx.exec(['tar', '-tf', join(run.dir, c.file)], { allowFailure: true, timeout: run.settings.timeoutMs })
    if (r.exitCode !== 0) throw new KitError(`verification of the snapshot of ${name} failed: tar cannot read it: ${failureReason(ctx, { ...r, stdout: '' })}`)
  }
  const n = Object.keys(details.collections).length
  return { method: 'sha256 equal to the server checksum, tar archive readable', detail: `${n} collection(s)` }
}

/** A killed restore's leftovers: a name with no collection gets its set-aside copy back; the rest is dropped. */
async function repair(ctx: Ctx, q: Qdrant, warnings: string[]): Promise<void> {
  const real = await collectionNames(q)
  const byAlias = await aliases(q)
  const used = new Set(byAlias.values())
  for (const c of real.filter((x) => x.includes(ASIDE_MARK) && !used.has(x))) {
    const name = c.slice(0, c.indexOf(ASIDE_MARK))
    if (!real.includes(name) && !byAlias.has(name)) {
      await q.call('POST', '/collections/aliases', { mutates: true, body: { actions: [{ create_alias: { collection_name: c, alias_name: name } }] } })
      warnings.push(`an interrupted restore had set collection ${name} aside as ${c}: put back under its name`)
      used.add(c)
      continue
    }
  }
  for (const c of real.filter((x) => isKitCopy(x) && !used.has(x))) {
    ctx.log.info(`qdrant: dropping ${c}, left by an interrupted restore`)
    await q.call('DELETE', `/collections/${enc(c)}?wait=true`, { mutates: true })
  }
}

async function upload(ctx: Ctx, q: Qdrant, into: string, file: string, name: string, sha: string): Promise<void> {
  const form = new FormData()
  if (!ctx.dryRun) form.append('snapshot', await openAsBlob(file), name)
  await q.call('POST', `/collections/${enc(into)}/snapshots/upload?wait=true&priority=snapshot&checksum=${sha}`, { mutates: true, form })
}

async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  const details = manifest.details as unknown as QdrantDetails
  const q = await client(ctx, run)
  const result: RestoreResult = { restored: [], warnings: [] }
  const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`
  if (!ctx.dryRun) await repair(ctx, q, result.warnings)
  const entries = Object.entries(details.collections)
  if (!ctx.dryRun) await ensureRestoreSpace(ctx, run, q, manifest)
  const made: string[] = []
  const drop = async (names: string[]) => {
    for (const c of names) await q.call('DELETE', `/collections/${enc(c)}?wait=true`, { mutates: true }).catch((e) => ctx.log.warn(`qdrant: could not drop ${c}: ${(e as Error).message}`))
  }
  // 1. Every snapshot into a new collection beside the live one, proven by its point count.
  const proven = new Map<string, { copy: string; points: number | null }>()
  try {
    for (const [name, c] of entries) {
      const copy = `${name}${RESTORE_MARK}${tag}`
      const sha = manifest.files.find((f) => f.of === name)?.plain?.sha256 ?? manifest.files.find((f) => f.of === name)?.sha256 ?? c.checksum
      made.push(copy)
      try {
        await upload(ctx, q, copy, join(run.dir, c.file), c.file, sha)
      } catch (e) {
        throw new KitError(`the snapshot of collection ${name} could not be restored beside the live one (${(e as Error).message}); the live collections are untouched`)
      }
      if (ctx.dryRun) { proven.set(name, { copy, points: c.points }); continue }
      const points = await pointsOf(q, copy)
      if (c.points !== null && points !== c.points) {
        throw new KitError(`the restored copy of collection ${name} has ${points} points, the backup ${c.points}; the live collections are untouched`)
      }
      if (c.points === null) result.warnings.push(`collection ${name}: the backup recorded no stable point count (written to while it was taken): the copy was not proven by count`)
      proven.set(name, { copy, points })
    }
  } catch (e) {
    if (!ctx.dryRun) await drop(made)
    throw e
  }
  // 2. The names move, one collection at a time; the old data stays under the name until its new copy is there.
  for (const [name] of entries) {
    const { copy, points } = proven.get(name)!
    if (ctx.dryRun) { await swap(ctx, q, name, copy, tag, null, run.scratch); result.restored.push(`collection ${name}`); continue }
    const old = await swap(ctx, q, name, copy, tag, await aliases(q), run.scratch)
    if (old) await drop([old])
    result.restored.push(`collection ${name} (${points ?? '?'} points)`)
  }
  return result
}

/** Where Qdrant keeps its collections: the path the container was given (compose and the chart set it), else the image's. */
async function storagePath(ctx: Ctx, run: DriverRun): Promise<string | null> {
  if (run.target.kind === 'direct') return run.settings.env.QDRANT__STORAGE__STORAGE_PATH ?? null
  const r = await run.target.run(ctx, 'qdrant', ['printenv', 'QDRANT__STORAGE__STORAGE_PATH'], { allowFailure: true, timeout: 30_000 }).catch(() => null)
  return (r?.exitCode === 0 && r.stdout.trim()) || '/qdrant/storage'
}

/**
 * Before anything is written: Qdrant's storage must hold, at the restore's peak, every copy
 * restored beside the live collections (the size of its snapshot), the copy set aside of the
 * largest live plain collection (its points times the bytes per point of its snapshot in the set:
 * asides are made one at a time), and one uploaded file that Qdrant keeps while it unpacks it.
 * The set-aside copy also passes through this host's scratch directory.
 */
async function ensureRestoreSpace(ctx: Ctx, run: DriverRun, q: Qdrant, manifest: Manifest): Promise<void> {
  const details = manifest.details as unknown as QdrantDetails
  const byAlias = await aliases(q)
  const live = new Set(await collectionNames(q))
  let beside = 0
  let largest = 0
  let aside = { name: '', bytes: 0 }
  for (const [name, c] of Object.entries(details.collections)) {
    const f = manifest.files.find((x) => x.of === name)
    const bytes = f?.plain?.bytes ?? f?.bytes ?? 0
    beside += bytes
    largest = Math.max(largest, bytes)
    if (byAlias.has(name) || !live.has(name)) continue // an alias switch or a new name: nothing is set aside
    const points = await pointsOf(q, name)
    const estimate = c.points && points !== null ? Math.ceil((bytes * points) / c.points) : bytes
    if (estimate >= aside.bytes) aside = { name, bytes: estimate }
  }
  const held = Math.max(largest, aside.bytes)
  const what = `the collections restored beside the live ones (${formatSize(beside)})${aside.name ? `, the copy of ${aside.name} set aside (${formatSize(aside.bytes)})` : ''} and one uploaded snapshot held while Qdrant unpacks it (${formatSize(held)})`
  await ensureSpace(ctx, run.target, 'qdrant', await storagePath(ctx, run), beside + aside.bytes + held, what)
  if (aside.name) requireSpace(ctx, `the copy of ${aside.name} on its way aside`, run.scratch, aside.bytes, localFreeBytes(run.scratch))
}

/** Make `name` an alias of `copy`; returns the collection that held the old data (to drop), if any. */
async function swap(ctx: Ctx, q: Qdrant, name: string, copy: string, tag: string, byAlias: Map<string, string> | null, scratch: string): Promise<string | null> {
  const create = { create_alias: { collection_name: copy, alias_name: name } }
  const current = byAlias?.get(name)
  if (current) {
    // One request, applied atomically by Qdrant: readers see the old or the new collection, never none.
    await q.call('POST', '/collections/aliases', { mutates: true, body: { actions: [{ delete_alias: { alias_name: name } }, create] } })
    return current
  }
  const exists = byAlias !== null && (await collectionNames(q)).includes(name)
  if (!exists) {
    await q.call('POST', '/collections/aliases', { mutates: true, body: { actions: [create] } })
    return null
  }
  // A plain collection: Qdrant cannot rename it, and an alias cannot take a collection's name. Copy
  // it aside (counted) before dropping it; a run killed in between leaves the copy for the next run.
  const aside = `${name}${ASIDE_MARK}${tag}`
  const dir = mkdtempSync(join(scratch, 'qdrant-aside-'))
  try {
    const snap = (await q.call<{ result: SnapshotInfo }>('POST', `/collections/${enc(name)}/snapshots?wait=true`, { mutates: true }))!.result
    const file = join(dir, 'aside.snapshot')
    let sha: string
    try { sha = await q.download(`/collections/${enc(name)}/snapshots/${enc(snap.name)}`, file) } finally {
      await q.call('DELETE', `/collections/${enc(name)}/snapshots/${enc(snap.name)}?wait=true`, { mutates: true }).catch(() => {})
    }
    const want = await pointsOf(q, name)
    await upload(ctx, q, aside, file, 'aside.snapshot', sha)
    const got = await pointsOf(q, aside)
    if (got !== want) {
      await q.call('DELETE', `/collections/${enc(aside)}?wait=true`, { mutates: true }).catch(() => {})
      throw new KitError(`the copy of the live collection ${name} set aside before the swap has ${got} points, the live one ${want}; nothing was swapped`)
    }
  } catch (e) {
    await q.call('DELETE', `/collections/${enc(copy)}?wait=true`, { mutates: true }).catch(() => {})
    throw e instanceof KitError ? e : new KitError(`could not set the live collection ${name} aside before the swap (${(e as Error).message}); it is untouched`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  await q.call('DELETE', `/collections/${enc(name)}?wait=true`, { mutates: true })
  try {
    await q.call('POST', '/collections/aliases', { mutates: true, body: { actions: [create] } })
  } catch (e) {
    await q.call('POST', '/collections/aliases', { mutates: true, body: { actions: [{ create_alias: { collection_name: aside, alias_name: name } }] } })
    throw new KitError(`could not point ${name} at its restored copy (${(e as Error).message}); the previous data is back under the name`)
  }
  return aside
}

export const qdrantDriver: StoreDriver = {
  name: 'qdrant',
  backup,
  verify,
  restore,
  describeRestore: (m) => `the collections ${Object.keys((m.details as unknown as QdrantDetails).collections).join(', ') || '(none)'}`,
}
