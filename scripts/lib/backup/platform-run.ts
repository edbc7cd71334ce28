// The platform side of a backup run: the platform manifest written after the last part, and
// retention by whole platform sets (manifest first, then the parts: an interrupted prune leaves an
// incomplete set, never a complete one with a part missing).
import { hostname } from 'node:os'
import type { Ctx } from '../core/context.ts'
import { setId } from './manifest.ts'
import { planRetention, type RetentionPolicy } from './retention.ts'
import { contentOf, listPlatformSets, manifestName, partDigest, pendingName, PLATFORM_FORMAT, type PlatformManifest, type PlatformRef, type PlatformState } from './platform.ts'
import type { Destination, Manifest, SetRef, StoreName } from './types.ts'
import type { PlatformPitr } from './platform-pitr.ts'
import { oneLine } from '../core/exec.ts'

export interface PlatformOutcome {
  id: string
  state: PlatformState
  /** Where the platform manifest is. */
  location: string
  stores: number
  expected: number
  bytes: number
  missing: { store: StoreName; reason: string }[]
  pruned?: string[]
}

interface RunFacts {
  started: Date
  t0: number
  target: string
  expected: StoreName[]
  skipped: { store: StoreName; reason: string }[]
  outcomes: { store: StoreName; ok: boolean; skipped?: string; error?: string; location?: string; manifest?: Manifest }[]
  /** The pgBackRest base backup taken with the set (servers that archive through it). */
  pitr?: PlatformPitr
}

/** Ids that belong to platform sets (complete or being written): per-store retention leaves them alone. */
export async function platformIds(ctx: Ctx, dest: Destination): Promise<Set<string>> {
  return new Set((await dest.listMeta(ctx)).map((n) => /^(.+?)(\.pending)?\.json$/.exec(n)?.[1]).filter((x): x is string => Boolean(x)))
}

export async function writePlatformManifest(ctx: Ctx, dest: Destination, r: RunFacts): Promise<PlatformOutcome> {
  const id = setId(r.started)
  const parts = r.outcomes.filter((x) => x.ok && !x.skipped && x.manifest)
  const missing = r.expected.filter((s) => !parts.some((p) => p.store === s))
    .map((store) => ({ store, reason: oneLine(r.outcomes.find((x) => x.store === store)?.error ?? '') || 'not backed up' }))
  const location = `${dest.url}/platform/${manifestName(id)}`
  const step = ctx.log.step(`platform set ${id}: manifest of ${parts.length}/${r.expected.length} part(s)`)
  if (!parts.length && !ctx.dryRun) {
    step.fail('no part: the set stays incomplete')
    return { id, state: 'incomplete', location, stores: 0, expected: r.expected.length, bytes: 0, missing }
  }
  const manifest: PlatformManifest = {
    format: PLATFORM_FORMAT, id,
    startedAt: r.started.toISOString(), finishedAt: new Date(r.started.getTime() + (performance.now() - r.t0)).toISOString(),
    durationMs: Math.round(performance.now() - r.t0), host: hostname(), target: r.target,
    expected: r.expected,
    parts: parts.map((p) => {
      const m = p.manifest!
      return { store: p.store, location: p.location ?? '', bytes: m.bytes, files: m.files.length, digest: partDigest(m), tools: m.tools, verified: Boolean(m.verified?.ok), content: contentOf(m) }
    }),
    missing, skipped: r.skipped,
    ...(r.pitr ? { pitr: r.pitr } : {}),
    bytes: parts.reduce((n, p) => n + p.manifest!.bytes, 0),
  }
  for (const p of r.outcomes) delete p.manifest
  if (ctx.dryRun) {
    ctx.plan.push(`write ${location} last`)
    step.ok('dry run: nothing written')
    return { id, state: 'complete', location, stores: r.expected.length, expected: r.expected.length, bytes: 0, missing: [] }
  }
  await dest.putMeta(ctx, manifestName(id), `${JSON.stringify(manifest, null, 2)}\n`)
  await dest.removeMeta(ctx, pendingName(id))
  const state: PlatformState = missing.length ? 'partial' : 'complete'
  if (state === 'complete') step.ok(`${r.expected.length} stores, ${location}`)
  else step.fail(`PARTIAL: ${missing.map((m) => m.store).join(', ')} missing`)
  return { id, state, location, stores: parts.length, expected: r.expected.length, bytes: manifest.bytes, missing }
}

/** Keep platform sets by the retention policy; remove the others whole (manifest first). */
export async function prunePlatform(ctx: Ctx, dest: Destination, policy: RetentionPolicy, outcome: PlatformOutcome, now: Date): Promise<void> {
  const sets = await listPlatformSets(ctx, dest)
  // Retention reads sets through the per-store shape: a complete platform set counts as verified when every part was.
  const asSet = (p: PlatformRef): SetRef => ({
    store: 'postgres', id: p.id, location: p.id, time: p.time, incomplete: p.why,
    manifest: p.state === 'incomplete' ? null : { verified: p.manifest!.parts.every((x) => x.verified) && p.state === 'complete' ? { ok: true } : null } as unknown as Manifest,
  })
  const plan = planRetention(sets.map(asSet), policy, now)
  outcome.pruned = []
  for (const s of [...plan.prune, ...plan.abandoned]) {
    if (s.id === outcome.id) continue
    const p = sets.find((x) => x.id === s.id)!
    try {
      await dest.removeMeta(ctx, manifestName(p.id))
      await dest.removeMeta(ctx, pendingName(p.id))
      const all = p.manifest ? p.manifest.parts.map((x) => x.store) : p.expected
      for (const store of all) {
        const part = (await dest.list(ctx, store)).find((x) => x.id === p.id)
        if (part) await dest.remove(ctx, part)
      }
      outcome.pruned.push(p.id)
      ctx.log.info(`pruned platform set ${p.id}${p.state === 'complete' ? '' : ` (${p.state}: ${p.why})`}`)
    } catch (e) {
      ctx.log.warn(`could not prune platform set ${p.id}: ${(e as Error).message}`)
    }
  }
}
