// Platform sets: every enabled store backed up under one id, tied together by one platform
// manifest, <dest>/platform/<id>.json, written after every part. <id>.pending.json is written first
// (the stores the run means to take): a run that dies leaves it, and the set shows as incomplete.
// A set is complete when its manifest is there, no expected store is missing, and each part's
// files still match the digest the platform manifest recorded.
import { createHash } from 'node:crypto'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { table } from '../core/log.ts'
import { idToDate } from './manifest.ts'
import { STORES, type Destination, type Manifest, type SetRef, type StoreName } from './types.ts'

export const PLATFORM_FORMAT = 'owp-platform/1'

export interface PlatformPart {
  store: StoreName
  location: string
  bytes: number
  files: number
  /** sha256 over the part's file names and checksums: the part as its own manifest describes it. */
  digest: string
  tools: Record<string, string>
  verified: boolean
  /** What the drill compares a restore with (row counts, keys, points, nodes, files and bytes). */
  content: Record<string, unknown>
}

export interface PlatformManifest {
  format: typeof PLATFORM_FORMAT
  id: string
  startedAt: string
  finishedAt: string
  durationMs: number
  host: string
  target: string
  /** The stores this run was to take (enabled stores). */
  expected: StoreName[]
  parts: PlatformPart[]
  /** Expected stores without a part, and why (the backup of it failed). */
  missing: { store: StoreName; reason: string }[]
  /** Stores these settings do not take (neo4j without a maintenance window, config without a recipient): not expected. */
  skipped: { store: StoreName; reason: string }[]
  /** The pgBackRest base backup taken in the same run (when the server archives its WAL through it): `restore --to` starts from it. */
  pitr?: { ok: boolean; label?: string; type?: string; finished?: string; recoverableFrom?: string; error?: string }
  bytes: number
}

export interface PendingMarker { format: typeof PLATFORM_FORMAT; id: string; startedAt: string; expected: StoreName[] }

export type PlatformState = 'complete' | 'partial' | 'incomplete'

export interface PlatformRef {
  id: string
  time: Date
  state: PlatformState
  /** Why a set is not complete. */
  why?: string
  manifest: PlatformManifest | null
  expected: StoreName[]
  /** The parts found at the destination (complete per-store sets of this id). */
  parts: SetRef[]
  bytes: number
}

export const manifestName = (id: string) => `${id}.json`
export const pendingName = (id: string) => `${id}.pending.json`

/** The digest a platform manifest records for a part. */
export function partDigest(m: Manifest): string {
  const h = createHash('sha256')
  for (const f of [...m.files].sort((a, b) => a.name.localeCompare(b.name))) h.update(`${f.name}\0${f.sha256}\0${f.bytes}\n`)
  return h.digest('hex')
}

/** The content a restore must reproduce, from a part's manifest details. */
export function contentOf(m: Manifest): Record<string, unknown> {
  const d = m.details as Record<string, unknown>
  const pick = (...keys: string[]) => Object.fromEntries(keys.filter((k) => d[k] !== undefined).map((k) => [k, d[k]]))
  switch (m.store) {
    case 'postgres': return { tables: Object.fromEntries(Object.entries((d.databases ?? {}) as Record<string, { tables: Record<string, number> | null }>).map(([db, v]) => [db, v.tables])) }
    case 'redis': return pick('keys', 'expires', 'keyspace')
    case 'qdrant': return { collections: Object.fromEntries(Object.entries((d.collections ?? {}) as Record<string, { points: number | null }>).map(([k, v]) => [k, { points: v.points }])) }
    case 'neo4j': return pick('nodes', 'relationships')
    case 'files-openwebui': case 'files-graphrag': return pick('files', 'bytes', 'excluded')
    case 'config': return pick('variables')
  }
}

export function platformProblems(m: unknown): string[] {
  const o = m as Partial<PlatformManifest> | null
  if (!o || typeof o !== 'object') return ['not a JSON object']
  const p: string[] = []
  if (o.format !== PLATFORM_FORMAT) p.push(`format is not ${PLATFORM_FORMAT}`)
  if (typeof o.id !== 'string' || !idToDate(o.id)) p.push('id is not a set id')
  if (!Array.isArray(o.expected) || o.expected.some((s) => !STORES.includes(s))) p.push('expected lists unknown stores')
  if (!Array.isArray(o.parts)) p.push('parts is missing')
  else for (const x of o.parts) if (!x || !STORES.includes(x.store) || !/^[0-9a-f]{64}$/.test(String(x.digest))) p.push(`part ${JSON.stringify(x?.store)} lacks store or digest`)
  if (!Array.isArray(o.missing)) p.push('missing is not a list')
  return p
}

/** Every platform set at the destination, oldest first, with its state. */
export async function listPlatformSets(ctx: Ctx, dest: Destination, partsByStore?: Map<StoreName, SetRef[]>): Promise<PlatformRef[]> {
  const names = await dest.listMeta(ctx)
  const ids = [...new Set(names.map((n) => /^(.+?)(\.pending)?\.json$/.exec(n)?.[1]).filter((id): id is string => Boolean(id && idToDate(id))))].sort()
  if (!ids.length) return []
  const byStore = partsByStore ?? await listParts(ctx, dest)
  const out: PlatformRef[] = []
  for (const id of ids) {
    const partsOf = (stores: StoreName[]) => stores.map((s) => byStore.get(s)?.find((x) => x.id === id)).filter((x): x is SetRef => Boolean(x?.manifest))
    const text = names.includes(manifestName(id)) ? await dest.getMeta(ctx, manifestName(id)) : null
    if (text === null) {
      const pending = await dest.getMeta(ctx, pendingName(id)).then((t) => (t ? JSON.parse(t) as PendingMarker : null)).catch(() => null)
      const expected = pending?.expected ?? []
      const parts = partsOf(expected)
      out.push({ id, time: idToDate(id)!, state: 'incomplete', why: 'no platform manifest (the run did not finish)', manifest: null, expected, parts, bytes: sum(parts) })
      continue
    }
    let m: PlatformManifest
    try {
      m = JSON.parse(text) as PlatformManifest
      const problems = platformProblems(m)
      if (problems.length) throw new Error(problems.join('; '))
      if (m.id !== id) throw new Error(`it names set ${m.id}`)
    } catch (e) {
      out.push({ id, time: idToDate(id)!, state: 'incomplete', why: `platform manifest is invalid: ${(e as Error).message}`, manifest: null, expected: [], parts: [], bytes: 0 })
      continue
    }
    // only parts whose files are the ones the platform manifest lists: one that differs (replaced,
    // even with a consistent manifest of its own) is never restored, --allow-partial or not
    const found = partsOf(m.parts.map((p) => p.store))
    const parts: SetRef[] = []
    const problems: string[] = m.missing.map((x) => `${x.store} missing (${x.reason})`)
    for (const p of m.parts) {
      const part = found.find((x) => x.store === p.store)
      if (!part) problems.push(`${p.store} part is gone or incomplete`)
      else if (partDigest(part.manifest!) !== p.digest) problems.push(`${p.store} part differs from the platform manifest`)
      else parts.push(part)
    }
    for (const s of m.expected) if (!m.parts.some((p) => p.store === s) && !m.missing.some((x) => x.store === s)) problems.push(`${s} missing`)
    const gone = parts.length < m.parts.length
    out.push({
      id, time: new Date(m.startedAt), manifest: m, expected: m.expected, parts, bytes: m.bytes,
      state: problems.length === 0 ? 'complete' : gone ? 'incomplete' : 'partial',
      ...(problems.length ? { why: problems.join('; ') } : {}),
    })
  }
  return out
}

export async function listParts(ctx: Ctx, dest: Destination): Promise<Map<StoreName, SetRef[]>> {
  const all = await Promise.all(STORES.map(async (s) => [s, await dest.list(ctx, s)] as const))
  return new Map(all)
}

const sum = (parts: SetRef[]) => parts.reduce((n, p) => n + (p.manifest?.bytes ?? 0), 0)

/** The platform set `from` names: latest = the newest complete one. Refuses an incomplete one unless allowed. */
export function choosePlatformSet(sets: PlatformRef[], from: string, where: string, allowPartial: boolean): PlatformRef {
  const newest = [...sets].sort((a, b) => b.time.getTime() - a.time.getTime() || b.id.localeCompare(a.id))
  if (from === 'latest') {
    const pick = newest.find((s) => s.state === 'complete') ?? (allowPartial ? newest.find((s) => s.parts.length) : undefined)
    if (!pick) {
      throw new KitError(`no complete platform set in ${where}${sets.length ? ` (${sets.length} incomplete or partial: --allow-partial restores the newest of them)` : ''}`, 1,
        'restore --list shows every set and why it is not complete')
    }
    return pick
  }
  const found = sets.find((s) => s.id === from)
  if (!found) throw new KitError(`no platform set ${from} in ${where}`, 1, newest.length ? `platform sets: ${newest.slice(0, 5).map((s) => s.id).join(', ')}` : 'there is no platform set')
  if (found.state !== 'complete' && !allowPartial) {
    throw new KitError(`refusing to restore platform set ${from}: it is ${found.state} (${found.why})`, 1, 'pass --allow-partial to restore the parts it has')
  }
  if (!found.parts.length) throw new KitError(`platform set ${from} has no complete part to restore`)
  return found
}

export function ageOf(t: Date, now = new Date()): string {
  const s = Math.max(0, Math.round((now.getTime() - t.getTime()) / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  if (s < 172_800) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86_400)}d`
}

export function platformRows(sets: PlatformRef[], now = new Date()) {
  return [...sets].sort((a, b) => b.time.getTime() - a.time.getTime()).map((s) => ({
    id: s.id, age: ageOf(s.time, now), ageSeconds: Math.round((now.getTime() - s.time.getTime()) / 1000), state: s.state,
    stores: s.parts.map((p) => p.store), expected: s.expected, bytes: s.bytes, why: s.why ?? null,
  }))
}

export function renderPlatformSets(sets: PlatformRef[], fmtBytes: (n: number) => string, now = new Date()): string {
  const rows = platformRows(sets, now).map((r) => [r.id, r.age, r.state === 'complete' ? 'complete' : r.state.toUpperCase(),
    `${r.stores.length}/${r.expected.length || r.stores.length}`, fmtBytes(r.bytes), r.why ?? r.stores.join(',')])
  return table(['platform set', 'age', 'state', 'stores', 'size', 'parts / why'], rows)
}
