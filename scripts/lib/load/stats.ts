// Exact statistics over recorded samples: percentiles by linear interpolation between the
// closest ranks (numpy's default, as vLLM's benchmark_serving reports them).
import { r3 } from './units.ts'

export interface Stats {
  count: number
  min: number
  mean: number
  stdev: number
  p50: number
  p90: number
  p95: number
  p99: number
  p999: number
  max: number
}

export const STAT_KEYS = ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p999', 'max'] as const

/** Sorted copy (typed arrays sort numerically). */
export function sorted(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values)
  out.sort()
  return out
}

/** The p-th percentile (0..100) of sorted values; NaN when there are none. */
export function percentile(s: Float64Array, p: number): number {
  if (s.length === 0) return NaN
  const rank = (p / 100) * (s.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo)
}

export function stats(values: ArrayLike<number>): Stats | null {
  if (values.length === 0) return null
  const s = sorted(values)
  let sum = 0
  for (let i = 0; i < s.length; i++) sum += s[i]!
  const mean = sum / s.length
  let sq = 0
  for (let i = 0; i < s.length; i++) sq += (s[i]! - mean) ** 2
  return {
    count: s.length,
    min: r3(s[0]!),
    mean: r3(mean),
    stdev: r3(Math.sqrt(sq / s.length)),
    p50: r3(percentile(s, 50)),
    p90: r3(percentile(s, 90)),
    p95: r3(percentile(s, 95)),
    p99: r3(percentile(s, 99)),
    p999: r3(percentile(s, 99.9)),
    max: r3(s[s.length - 1]!),
  }
}

const NAMED: Record<string, keyof Stats> = {
  p50: 'p50', p90: 'p90', p95: 'p95', p99: 'p99', 'p99.9': 'p999', p999: 'p999', mean: 'mean', min: 'min', max: 'max', stdev: 'stdev',
}

/** A stat by name: "p95", "p99.9", "p75" (from the sorted values), "mean", "min", "max". */
export function statOf(s: Stats, name: string, sortedValues?: Float64Array): number | undefined {
  const key = NAMED[name]
  if (key) return s[key]
  const m = /^p(\d+(?:\.\d+)?)$/.exec(name)
  return m && sortedValues ? r3(percentile(sortedValues, Number(m[1]))) : undefined
}

export interface Bucket { from: number; to: number; count: number }

/** Log-spaced buckets between min and max (a long tail stays readable). */
export function histogram(s: Float64Array, buckets = 14): Bucket[] {
  if (s.length === 0) return []
  const min = Math.max(s[0]!, 0.001)
  const max = Math.max(s[s.length - 1]!, min * 1.0001)
  const ratio = Math.pow(max / min, 1 / buckets)
  const out: Bucket[] = []
  let i = 0
  for (let b = 0; b < buckets; b++) {
    const from = b === 0 ? s[0]! : min * ratio ** b
    const to = b === buckets - 1 ? max : min * ratio ** (b + 1)
    let count = 0
    while (i < s.length && (s[i]! <= to || b === buckets - 1)) { count++; i++ }
    out.push({ from: r3(from), to: r3(to), count })
  }
  return out
}

export interface TimelinePoint {
  /** Start of the bin, seconds since the measured window began. */
  t: number
  requests: number
  errors: number
  rps: number
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
}

/** Per-bin counts and latency percentiles by intended send time. */
export function timeline(start: ArrayLike<number>, latency: ArrayLike<number>, failed: (i: number) => boolean, from: number, binMs: number): TimelinePoint[] {
  const bins = new Map<number, number[]>()
  const errors = new Map<number, number>()
  let last = 0
  for (let i = 0; i < start.length; i++) {
    const b = Math.floor((start[i]! - from) / binMs)
    if (b < 0) continue
    last = Math.max(last, b)
    if (failed(i)) errors.set(b, (errors.get(b) ?? 0) + 1)
    let list = bins.get(b)
    if (!list) bins.set(b, (list = []))
    if (Number.isFinite(latency[i]!)) list.push(latency[i]!)
  }
  const out: TimelinePoint[] = []
  if (start.length === 0) return out
  for (let b = 0; b <= last; b++) {
    const s = sorted(bins.get(b) ?? [])
    const n = (bins.get(b) ?? []).length
    out.push({
      t: r3((b * binMs) / 1000),
      requests: n,
      errors: errors.get(b) ?? 0,
      rps: r3(n / (binMs / 1000)),
      p50: s.length ? r3(percentile(s, 50)) : null,
      p90: s.length ? r3(percentile(s, 90)) : null,
      p99: s.length ? r3(percentile(s, 99)) : null,
      max: s.length ? r3(s[s.length - 1]!) : null,
    })
  }
  return out
}

/** A bin width giving about 60 points over the run, at least 100 ms, rounded to a nice value. */
export function binFor(durationMs: number): number {
  const raw = Math.max(100, durationMs / 60)
  const nice = [100, 200, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000]
  return nice.find((n) => n >= raw) ?? Math.ceil(raw / 60_000) * 60_000
}
