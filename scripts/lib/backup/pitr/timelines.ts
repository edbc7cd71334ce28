// Which timeline a recovery follows. Each recovery the kit makes starts a new timeline; PostgreSQL
// follows the newest one by default, so a second recovery to a moment before the first one ran
// (but after the first one's target) would land on the recovered branch, without the transactions
// production really had then. The kit records when each of its recoveries switched production
// (beside the platform manifests at the destination) and recovers along the timeline that was live
// at the target.
import type { Ctx } from '../../core/context.ts'
import type { Destination } from '../types.ts'

export interface TimelineRecord {
  timeline: number
  /** The timeline it branched from. */
  parent: number
  /** When production was switched onto it (the previous one ended then). */
  from: string
}

const NAME = 'pitr-timelines.json'

export async function readTimelines(ctx: Ctx, dest: Destination): Promise<TimelineRecord[]> {
  const text = await dest.getMeta(ctx, NAME)
  return text ? (JSON.parse(text) as TimelineRecord[]) : []
}

/**
 * The timeline production ran on at `at`, or null: follow the newest (no recovery of the kit's, or
 * `at` after the last one). `newest` is the newest timeline in the archive: one above every record
 * is a recovery killed before it recorded itself, whose start is unknown, so a target after the
 * last record follows the newest too (`unrecorded` says so).
 */
export function timelineAt(records: TimelineRecord[], at: Date, newest = 0): { timeline: number | null; unrecorded: boolean } {
  if (!records.length) return { timeline: null, unrecorded: false }
  const byTime = [...records].sort((a, b) => Date.parse(a.from) - Date.parse(b.from))
  const live = byTime.filter((r) => Date.parse(r.from) <= at.getTime()).at(-1)
  const unrecorded = newest > Math.max(...records.map((r) => r.timeline))
  if (live === byTime.at(-1) && unrecorded) return { timeline: null, unrecorded }
  return { timeline: live ? live.timeline : byTime[0]!.parent, unrecorded }
}

/** The newest timeline with WAL in the archive (pgbackrest info's newest segment), 0 when unknown. */
export function newestTimeline(archiveMax: string | undefined): number {
  return archiveMax && /^[0-9A-F]{8}/i.test(archiveMax) ? Number.parseInt(archiveMax.slice(0, 8), 16) : 0
}

/** Record the timeline production runs on now (after a recovery promoted it), switched onto at `from`. */
export async function recordTimeline(ctx: Ctx, dest: Destination, sql: (q: string) => Promise<string>, records: TimelineRecord[], from: Date): Promise<TimelineRecord> {
  const timeline = Number.parseInt((await sql('SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)')).trim(), 16)
  const history = await sql(`SELECT pg_read_file('pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history')`)
  // "<parent>\t<switch point>\t<reason>", one line per ancestor: the last names the parent
  const parent = Number(history.split('\n').map((l) => /^(\d+)\t/.exec(l)?.[1]).filter(Boolean).at(-1))
  if (!timeline || !parent) throw new Error(`timeline ${timeline}, parent ${parent}: not readable`)
  const record = { timeline, parent, from: from.toISOString() }
  await dest.putMeta(ctx, NAME, `${JSON.stringify([...records.filter((r) => r.timeline !== timeline), record], null, 2)}\n`)
  return record
}
