// restore --list: the platform sets (age, completeness, size), then the per-store sets that are
// not part of a platform set (the layout of earlier versions, single-store runs).
import type { Ctx } from '../core/context.ts'
import { formatBytes } from './backup.ts'
import { renderSets } from './restore.ts'
import { listParts, listPlatformSets, platformRows, renderPlatformSets } from './platform.ts'
import type { Destination, StoreName } from './types.ts'

export async function listSets(ctx: Ctx, dest: Destination, stores: StoreName[], now = new Date()): Promise<{ text: string; data: unknown }> {
  const parts = await listParts(ctx, dest)
  const platform = await listPlatformSets(ctx, dest, parts)
  const inPlatform = new Set(platform.map((p) => p.id))
  const single = stores.map((store) => ({ store, sets: (parts.get(store) ?? []).filter((s) => !inPlatform.has(s.id)) })).filter((x) => x.sets.length)
  const text = [
    platform.length ? renderPlatformSets(platform, formatBytes, now) : `no platform set in ${dest.url}`,
    ...(single.length ? ['', 'per-store sets (not part of a platform set):', ...single.map(({ store, sets }) => renderSets(store, sets))] : []),
  ].join('\n')
  return {
    text,
    data: {
      platform: platformRows(platform, now),
      stores: single.map(({ store, sets }) => ({ store, sets: sets.map((s) => ({ id: s.id, complete: Boolean(s.manifest), verified: Boolean(s.manifest?.verified?.ok), bytes: s.manifest?.bytes, location: s.location, incomplete: s.incomplete })) })),
    },
  }
}
