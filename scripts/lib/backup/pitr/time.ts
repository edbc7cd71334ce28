// The --to moment of a point-in-time recovery: an ISO 8601 time with its zone, never a guess.
import { UsageError } from '../../core/errors.ts'

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i

/** Parse --to; a time without a zone is refused (a server in another zone would read it differently). */
export function parseTarget(value: string | undefined, now = new Date()): Date {
  const v = (value ?? '').trim()
  const m = ISO.exec(v)
  if (!m) {
    throw new UsageError(`--to must be an ISO 8601 time with its zone, e.g. 2026-12-01T10:15:00Z or 2026-12-01 11:15:00+01:00, got "${v}"`)
  }
  let zone = m[8]!.toUpperCase()
  if (zone !== 'Z' && !zone.includes(':')) zone = zone.length === 3 ? `${zone}:00` : `${zone.slice(0, 3)}:${zone.slice(3)}`
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${(m[7] ?? '').slice(0, 4)}${zone}`
  const at = new Date(iso)
  // Date rolls 2026-02-30 over to March: compare the calendar day as written.
  const day = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!))
  if (Number.isNaN(at.getTime()) || day.getUTCDate() !== +m[3]! || +m[4]! > 23 || +m[5]! > 59 || +(m[6] ?? 0) > 59) {
    throw new UsageError(`--to ${v} is not a valid date`)
  }
  if (at.getTime() > now.getTime()) throw new UsageError(`--to ${v} is in the future (now ${now.toISOString()}): nothing has been archived for it yet`)
  return at
}

/** The form PostgreSQL's recovery_target_time reads (it rejects ISO's "T...Z"). */
export function pgTime(at: Date): string {
  return at.toISOString().replace('T', ' ').replace('Z', '+00')
}
