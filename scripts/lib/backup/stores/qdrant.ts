// Qdrant: one snapshot per collection through the REST API (create with wait=true, download,
// sha256 equal to the server's checksum, delete the server-side copy), plus collections.json with
// each collection's config and point count. Restore uploads each snapshot (priority=snapshot,
// with its checksum) to /collections/{c}/snapshots/upload.
import { createWriteStream, writeFileSync, openAsBlob } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { finishFile, partialPath } from '../manifest.ts'
import type { DriverRun, DumpResult, Manifest, ProducedFile, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'

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

async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const q = await client(ctx, run)
  const root = await q.call<{ version?: string }>('GET', '/')
  const list = await q.call<{ result: { collections: { name: string }[] } }>('GET', '/collections')
  const names = (list?.result.collections ?? []).map((c) => c.name).sort()
  const catalog: Record<string, unknown> = {}
  const details: QdrantDetails = { url: q.base, collections: {} }
  const files: ProducedFile[] = []
  for (const name of names) catalog[name] = (await q.call<{ result: unknown }>('GET', `/collections/${enc(name)}`))?.result
  for (const name of names) {
    const started = Date.now()
    const file = snapshotFileName(name)
    const created = await q.call<{ result: SnapshotInfo }>('POST', `/collections/${enc(name)}/snapshots?wait=true`, { mutates: true })
    if (!created) { files.push({ name: file, kind: 'snapshot', of: name, durationMs: 0 }); continue }
    const snap = created.result
    try {
      let checksum = snap.checksum
      if (!checksum) {
        const listed = await q.call<{ result: SnapshotInfo[] }>('GET', `/collections/${enc(name)}/snapshots`)
        checksum = listed?.result.find((s) => s.name === snap.name)?.checksum
      }
      if (!checksum) throw new KitError(`qdrant did not report a checksum for snapshot ${snap.name} of ${name}`)
      const sum = await q.download(`/collections/${enc(name)}/snapshots/${enc(snap.name)}`, partialPath(run.dir, file))
      if (sum !== checksum) throw new KitError(`snapshot of ${name}: downloaded sha256 ${sum} differs from the server's checksum ${checksum}`)
      finishFile(run.dir, file)
      const points = (catalog[name] as { points_count?: number } | undefined)?.points_count ?? null
      details.collections[name] = { file, points, checksum }
      files.push({ name: file, kind: 'snapshot', of: name, durationMs: Date.now() - started })
    } finally {
      // The server-side copy takes disk on the Qdrant volume: always delete it.
      await q.call('DELETE', `/collections/${enc(name)}/snapshots/${enc(snap.name)}?wait=true`, { mutates: true })
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
    if (r.exitCode !== 0) throw new KitError(`verification of the snapshot of ${name} failed: tar cannot read it: ${r.stderr.trim().split('\n')[0]}`)
  }
  const n = Object.keys(details.collections).length
  return { method: 'sha256 equal to the server checksum, tar archive readable', detail: `${n} collection(s)` }
}

async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  const details = manifest.details as unknown as QdrantDetails
  const q = await client(ctx, run)
  const result: RestoreResult = { restored: [], warnings: [] }
  for (const [name, c] of Object.entries(details.collections)) {
    const file = join(run.dir, c.file)
    const sha = manifest.files.find((f) => f.of === name)?.plain?.sha256 ?? manifest.files.find((f) => f.of === name)?.sha256 ?? c.checksum
    const form = new FormData()
    if (!ctx.dryRun) form.append('snapshot', await openAsBlob(file), c.file)
    await q.call('POST', `/collections/${enc(name)}/snapshots/upload?wait=true&priority=snapshot&checksum=${sha}`, { mutates: true, form })
    if (ctx.dryRun) { result.restored.push(`collection ${name}`); continue }
    const info = await q.call<{ result: { points_count?: number } }>('GET', `/collections/${enc(name)}`)
    const points = info?.result.points_count ?? null
    if (c.points !== null && points !== c.points) result.warnings.push(`collection ${name} has ${points} points, ${c.points} were counted when the backup started (writes during the snapshot explain a difference)`)
    result.restored.push(`collection ${name} (${points ?? '?'} points)`)
  }
  return result
}

export const qdrantDriver: StoreDriver = {
  name: 'qdrant',
  backup,
  verify,
  restore,
  describeRestore: (m) => `the collections ${Object.keys((m.details as unknown as QdrantDetails).collections).join(', ') || '(none)'}`,
}
