// Durations, numbers and their display: Go-style durations (hey's -z), milliseconds everywhere inside.
import { UsageError } from '../core/errors.ts'

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "10s", "1m30s", "250ms", "1.5s" -> milliseconds; a bare number is seconds (as hey's -t). */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = part.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!
    matched = part.lastIndex
  }
  if (!s || matched !== s.length) throw new UsageError(`${what}: "${text}" is not a duration (e.g. 10s, 1m30s, 500ms)`)
  return total
}

/** A positive integer flag, or a usage error naming the flag. */
export function parseCount(text: string | undefined, flag: string, o: { min?: number } = {}): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  const min = o.min ?? 1
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got "${text}"`)
  return n
}

/** A positive number flag (rates), or a usage error naming the flag. */
export function parsePositive(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a number > 0, got "${text}"`)
  return n
}

/** 0.4 -> "0.40ms", 52.31 -> "52.3ms", 1234 -> "1.23s". */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-'
  if (ms < 1) return `${ms.toFixed(2)}ms`
  if (ms < 100) return `${ms.toFixed(1)}ms`
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 100_000) return `${(ms / 1000).toFixed(2)}s`
  return `${(ms / 1000).toFixed(0)}s`
}

/** Thousands separators: 12345.6 -> "12,345.6" (digits after the point as asked). */
export function fmtNum(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function fmtPct(ratio: number): string {
  if (!Number.isFinite(ratio)) return '-'
  const pct = ratio * 100
  return `${pct === 0 || pct >= 10 ? pct.toFixed(1) : pct.toFixed(2)}%`
}

/** Round to 3 decimals for JSON: stable, readable, sub-microsecond noise dropped. */
export function r3(n: number): number {
  return Math.round(n * 1000) / 1000
}
