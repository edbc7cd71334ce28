// Which sets to keep: the newest set of each of the last N days, ISO weeks and months (UTC),
// computed from manifest timestamps (never file mtimes, which copies and restores change).
// The newest verified set is always kept; incomplete sets never count. A set taken for a purpose
// (a label: the deploy's `pre-upgrade:<deploy>` and `pre-rollback:<deploy>`, `backup --label`) is
// kept for LABELLED_KEEP_MS whatever the counts say: the daily bucket keeps only the newest set of a
// day, and the pre-rollback set of an upgrade would otherwise prune the pre-upgrade set the same
// rollback is about to restore.
import type { SetRef } from './destination.ts'

export interface RetentionPolicy { daily: number; weekly: number; monthly: number }

export interface RetentionPlan {
  keep: { set: SetRef; reasons: string[] }[]
  prune: SetRef[]
  /** Incomplete sets older than the grace period: debris of killed runs. */
  abandoned: SetRef[]
}

/** An incomplete set younger than this may still be written by a run elsewhere. */
export const ABANDONED_AFTER_MS = 24 * 3600_000

/** How long a labelled set stays, whatever the counts. */
export const LABELLED_KEEP_MS = 7 * 24 * 3600_000

export function dayKey(d: Date): string { return d.toISOString().slice(0, 10) }
export function monthKey(d: Date): string { return d.toISOString().slice(0, 7) }

/** ISO 8601 week, e.g. 2025-W01 (the week with the year's first Thursday). */
export function weekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
  const dow = t.getUTCDay() || 7
  t.setUTCDate(t.getUTCDate() + 4 - dow)
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7)
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`
}

export function planRetention(sets: SetRef[], policy: RetentionPolicy, now = new Date()): RetentionPlan {
  const complete = sets.filter((s) => s.manifest).sort((a, b) => b.time.getTime() - a.time.getTime() || b.id.localeCompare(a.id))
  const abandoned = sets.filter((s) => !s.manifest && now.getTime() - s.time.getTime() > ABANDONED_AFTER_MS)
  const reasons = new Map<SetRef, string[]>()
  const mark = (s: SetRef, why: string) => { if (!reasons.has(s)) reasons.set(s, []); reasons.get(s)!.push(why) }

  if (policy.daily + policy.weekly + policy.monthly === 0) {
    for (const s of complete) mark(s, 'retention off')
  }
  const buckets: [string, number, (d: Date) => string][] = [
    ['daily', policy.daily, dayKey], ['weekly', policy.weekly, weekKey], ['monthly', policy.monthly, monthKey],
  ]
  for (const [name, count, key] of buckets) {
    let last: string | null = null
    let kept = 0
    for (const s of complete) {
      if (kept >= count) break
      const k = key(s.time)
      if (k === last) continue
      last = k
      kept++
      mark(s, `${name} ${k}`)
    }
  }
  const newestVerified = complete.find((s) => s.manifest?.verified?.ok)
  if (newestVerified) mark(newestVerified, 'newest verified')
  for (const s of complete) {
    if (s.manifest?.label && now.getTime() - s.time.getTime() < LABELLED_KEEP_MS) mark(s, `labelled ${s.manifest.label}`)
  }

  return {
    keep: complete.filter((s) => reasons.has(s)).map((set) => ({ set, reasons: reasons.get(set)! })),
    prune: complete.filter((s) => !reasons.has(s)),
    abandoned,
  }
}
