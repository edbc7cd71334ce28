// Free-space checks before the kit writes a large scratch copy next to production data (a scratch
// restore, a dump): fail with what is needed and what is free, before anything changes.
import { statfsSync } from 'node:fs'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import type { ExecResult } from '../core/exec.ts'
import type { StoreName, Target } from './types.ts'

/** Margin on top of the estimate: indexes rebuilt, WAL, temporary files. */
export const SPACE_MARGIN = 1.2

export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i ? v.toFixed(1) : v} ${units[i]}`
}

/** Available bytes of the filesystem holding `path` where the store runs (`df -Pk`), or null when df cannot tell. */
export async function freeBytesAt(ctx: Ctx, target: Target, store: StoreName, path: string): Promise<number | null> {
  return dfFree((argv) => target.run(ctx, store, argv, { allowFailure: true, timeout: 30_000 }), path)
}

/** Available bytes of `path` from `df -Pk` run by `run` (a target, a maintenance container), or null. */
export async function dfFree(run: (argv: string[]) => Promise<ExecResult>, path: string): Promise<number | null> {
  const r = await run(['df', '-Pk', path]).catch(() => null)
  if (!r || r.exitCode !== 0) return null
  const line = r.stdout.trim().split('\n').pop() ?? ''
  const avail = Number(line.split(/\s+/)[3])
  return Number.isFinite(avail) ? avail * 1024 : null
}

export function localFreeBytes(path: string): number {
  const s = statfsSync(path)
  return s.bavail * s.bsize
}

/** Throw when `needed` (times the margin) does not fit in `free`; log when the space is unknown. */
export function requireSpace(ctx: Ctx, what: string, where: string, needed: number, free: number | null): void {
  if (ctx.dryRun) return
  const want = Math.ceil(needed * SPACE_MARGIN)
  if (free === null) {
    ctx.log.warn(`could not read the free space of ${where}: ${what} needs about ${formatSize(want)}`)
    return
  }
  if (free < want) {
    throw new KitError(`not enough space for ${what} on ${where}: needs about ${formatSize(want)} (${formatSize(needed)} + ${Math.round((SPACE_MARGIN - 1) * 100)}%), ${formatSize(free)} free; nothing was changed`, 1,
      'free space there, or restore/verify on a host with room (--staging-dir for local files)')
  }
}

/** The data directory of `store` where it runs, checked for `needed` bytes. */
export async function ensureSpace(ctx: Ctx, target: Target, store: StoreName, dataDir: string | null, needed: number, what: string): Promise<void> {
  if (ctx.dryRun) return
  if (!dataDir) { ctx.log.warn(`${store}: the data directory is unknown: cannot check that ${what} fits (about ${formatSize(needed)})`); return }
  requireSpace(ctx, what, `${store}:${dataDir}`, needed, await freeBytesAt(ctx, target, store, dataDir))
}
