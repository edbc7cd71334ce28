// SLO gates: 'p95<800ms', 'error_rate<1%', 'ttft_p95<2s', 'llm:output_tps>=50', parsed up front
// (a bad one is a usage error before any load is sent), evaluated against each phase's summary.
import { UsageError } from '../core/errors.ts'
import { statOf } from './stats.ts'
import type { PhaseResult, Summary, GoodputCriteria } from './summary.ts'
import { fmtMs, fmtNum, fmtPct } from './units.ts'

export type Op = '<' | '<=' | '>' | '>='
export type Kind = 'time' | 'ratio' | 'rate' | 'count'
export type Family = 'latency' | 'ttft' | 'tpot' | 'itl' | 'e2e'
export type Mode = 'http' | 'llm'

export interface Slo {
  expr: string
  /** Explicit phase (mode) prefix, e.g. "llm:" */
  phase: Mode | null
  metric: string
  kind: Kind
  family: Family | null
  stat: string | null
  op: Op
  /** ms for time, a fraction for ratio, per second for rate, a number for count. */
  threshold: number
  /** Only one mode has this metric. */
  only: Mode | null
}

const FIXED: Record<string, { kind: Kind; only: Mode | null; all?: boolean }> = {
  error_rate: { kind: 'ratio', only: null, all: true },
  success_rate: { kind: 'ratio', only: null, all: true },
  timeout_rate: { kind: 'ratio', only: null, all: true },
  errors: { kind: 'count', only: null, all: true },
  timeouts: { kind: 'count', only: null, all: true },
  requests: { kind: 'count', only: null, all: true },
  rps: { kind: 'rate', only: null },
  goodput: { kind: 'rate', only: 'llm' },
  goodput_ratio: { kind: 'ratio', only: 'llm' },
  input_tps: { kind: 'rate', only: 'llm' },
  output_tps: { kind: 'rate', only: 'llm' },
  total_tps: { kind: 'rate', only: 'llm' },
}

const TIME_UNITS: Record<string, number> = { us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000 }
const EXPR = /^\s*(?:(http|llm)\s*:\s*)?([a-z][a-z0-9_.]*)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zµ/%]*)\s*$/i

export const SLO_HELP = `SLO expressions: [http:|llm:]<metric><op><value>, op one of < <= > >=
  latency   p50 p90 p95 p99 p99.9 pNN mean min max       (http latency; llm end-to-end)
            ttft_* tpot_* itl_* e2e_* (llm), latency_* (http)   values need a unit: us ms s m
  ratios    error_rate success_rate timeout_rate goodput_ratio   values in %: error_rate<1%
  rates     rps goodput input_tps output_tps total_tps           per second: output_tps>=50
  counts    errors timeouts requests                             errors<10`

/** Parse one expression; the error says what is wrong with it. */
export function parseSlo(expr: string): Slo {
  const m = EXPR.exec(expr)
  const bad = (why: string) => new UsageError(`--slo '${expr}': ${why}`, SLO_HELP)
  if (!m) throw bad('not of the form <metric><op><value>, e.g. p95<800ms or error_rate<1%')
  const [, phase, metricRaw, op, num, unitRaw] = m
  const metric = metricRaw!.toLowerCase()
  const unit = unitRaw!.toLowerCase()
  const value = Number(num)
  const time = /^(?:(latency|ttft|tpot|itl|e2e)_)?(p\d+(?:\.\d+)?|mean|min|max)$/.exec(metric)
  let kind: Kind
  let family: Family | null = null
  let stat: string | null = null
  let only: Mode | null = null
  if (time) {
    kind = 'time'
    family = (time[1] as Family | undefined) ?? 'latency'
    stat = time[2]!
    const p = stat.startsWith('p') ? Number(stat.slice(1)) : 50
    if (!(p > 0 && p <= 100) || (stat === 'p999')) throw bad(`${stat} is not a percentile between p0 and p100 (use p99.9)`)
    only = family === 'latency' && time[1] === 'latency' ? 'http' : family === 'latency' ? null : 'llm'
  } else if (FIXED[metric]) {
    kind = FIXED[metric]!.kind
    only = FIXED[metric]!.only
  } else {
    const near = closest(metric)
    throw bad(`"${metric}" is not a metric${near ? ` (did you mean ${near}?)` : ''}`)
  }
  let threshold: number
  if (kind === 'time') {
    if (!unit) throw bad(`a latency needs a unit: ${metric}${op}${num}ms or ${num}s`)
    if (!(unit in TIME_UNITS)) throw bad(`"${unit}" is not a time unit (us, ms, s, m)`)
    threshold = value * TIME_UNITS[unit]!
  } else if (kind === 'ratio') {
    if (unit !== '%') throw bad(`write ${metric} as a percentage, e.g. ${metric}${op}1%`)
    if (value > 100) throw bad('a percentage above 100%')
    threshold = value / 100
  } else if (kind === 'rate') {
    if (unit && !['/s', 'rps', 'tok/s'].includes(unit)) throw bad(`"${unit}" is not a rate unit (a bare number, or /s)`)
    threshold = value
  } else {
    if (unit) throw bad(`${metric} is a count: no unit`)
    threshold = value
  }
  if (phase && only && phase !== only) throw bad(`${metric} is a metric of ${only} mode, not ${phase}`)
  return { expr: expr.trim(), phase: (phase?.toLowerCase() as Mode | undefined) ?? null, metric, kind, family, stat, op: op as Op, threshold, only }
}

/** The metric name nearest to a typo (edit distance <= 2), if any. */
function closest(name: string): string | null {
  const names = [...Object.keys(FIXED), ...['ttft', 'tpot', 'itl', 'e2e', 'latency'].flatMap((f) => ['p50', 'p95', 'p99'].map((p) => `${f}_${p}`)), 'p50', 'p90', 'p95', 'p99', 'mean', 'max', 'min']
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
    for (let j = 1; j <= b.length; j++) d[0]![j] = j
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    return d[a.length]![b.length]!
  }
  let best: [string, number] | null = null
  for (const n of names) { const x = dist(name, n); if (x <= 2 && (!best || x < best[1])) best = [n, x] }
  return best?.[0] ?? null
}

/** Every expression parsed, every problem reported at once. */
export function parseSlos(exprs: string[]): Slo[] {
  const problems: string[] = []
  const out: Slo[] = []
  for (const e of exprs) {
    try { out.push(parseSlo(e)) } catch (err) { problems.push((err as Error).message) }
  }
  if (problems.length) throw new UsageError(problems.join('\n'), SLO_HELP)
  return out
}

/**
 * The phases (by mode) a gate applies to. Explicit prefix: that phase. Otherwise llm-only metrics
 * go to llm; plain latency and rps to http when it runs (else llm, as end-to-end); error rates
 * and counts to every phase.
 */
export function sloModes(slo: Slo, modes: Mode[]): Mode[] {
  const have = (m: Mode) => modes.includes(m)
  let target: Mode[]
  if (slo.phase) target = [slo.phase]
  else if (slo.only) target = [slo.only]
  else if (slo.kind === 'time' || slo.metric === 'rps') target = have('http') ? ['http'] : ['llm']
  else target = modes
  const missing = target.filter((m) => !have(m))
  if (missing.length === target.length) {
    throw new UsageError(`--slo '${slo.expr}': no ${target.join('/')} phase runs (phases: ${modes.join(', ') || 'none'})`, SLO_HELP)
  }
  return target.filter(have)
}

/** Per-request goodput criteria (vLLM's --goodput): 'ttft<500ms', 'tpot<50ms', 'e2e<10s'. */
export function parseGoodput(exprs: string[]): GoodputCriteria | null {
  if (!exprs.length) return null
  const out: GoodputCriteria = {}
  for (const e of exprs) {
    const m = /^\s*(ttft|tpot|e2e)\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m)\s*$/i.exec(e)
    if (!m) throw new UsageError(`--goodput '${e}': expected ttft, tpot or e2e, < or <=, and a time, e.g. ttft<500ms`)
    out[`${m[1]!.toLowerCase()}_ms` as keyof GoodputCriteria] = Number(m[3]) * TIME_UNITS[m[4]!.toLowerCase()]!
  }
  return out
}

/** Goodput criteria from the gates when --goodput is absent: the tightest ttft/tpot/e2e bound. */
export function goodputFromSlos(slos: Slo[]): GoodputCriteria | null {
  const out: GoodputCriteria = {}
  for (const s of slos) {
    if (s.kind !== 'time' || (s.op !== '<' && s.op !== '<=') || !s.family || !['ttft', 'tpot', 'e2e'].includes(s.family)) continue
    const key = `${s.family}_ms` as keyof GoodputCriteria
    out[key] = Math.min(out[key] ?? Infinity, s.threshold)
  }
  return Object.keys(out).length ? out : null
}

export interface Verdict {
  expr: string
  phase: string
  actual: number | null
  shown: string
  pass: boolean
}

export function metricValue(slo: Slo, r: PhaseResult): number | null {
  const s: Summary = r.summary
  if (slo.kind === 'time') {
    const family = slo.family === 'latency' && s.mode === 'llm' ? 'e2e' : slo.family!
    const st = s.mode === 'http' ? (family === 'latency' ? s.latency : null) : s[family as 'ttft' | 'tpot' | 'itl' | 'e2e']
    if (!st) return null
    const stat = slo.stat === 'p100' ? 'max' : slo.stat!
    return statOf(st, stat, r.samples[family]) ?? null
  }
  const total = s.requests.total
  switch (slo.metric) {
    case 'error_rate': return total ? s.requests.failed / total : null
    case 'success_rate': return total ? s.requests.ok / total : null
    case 'timeout_rate': return total ? s.requests.timeouts / total : null
    case 'errors': return s.requests.failed
    case 'timeouts': return s.requests.timeouts
    case 'requests': return total
    case 'rps': return s.mode === 'http' ? s.rps : s.request_throughput
  }
  if (s.mode !== 'llm') return null
  switch (slo.metric) {
    case 'goodput': return s.goodput?.rps ?? null
    case 'goodput_ratio': return s.goodput?.ratio ?? null
    case 'input_tps': return s.input_tps
    case 'output_tps': return s.output_tps
    case 'total_tps': return s.total_tps
  }
  return null
}

function compare(a: number, op: Op, b: number): boolean {
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b
}

export function show(slo: Slo, v: number | null): string {
  if (v === null) return 'no data'
  if (slo.kind === 'time') return fmtMs(v)
  if (slo.kind === 'ratio') return fmtPct(v)
  if (slo.kind === 'rate') return `${fmtNum(v, 1)}/s`
  return fmtNum(v)
}

/** Gates against results; a gate without data (no successful request) fails. */
export function evaluateSlos(slos: Slo[], results: PhaseResult[]): Verdict[] {
  const modes = results.map((r) => r.summary.mode)
  const out: Verdict[] = []
  for (const slo of slos) {
    for (const mode of sloModes(slo, modes)) {
      for (const r of results.filter((x) => x.summary.mode === mode)) {
        const actual = metricValue(slo, r)
        if (slo.metric === 'goodput' || slo.metric === 'goodput_ratio') {
          if (r.summary.mode === 'llm' && !r.summary.goodput) {
            out.push({ expr: slo.expr, phase: r.summary.name, actual: null, shown: 'no goodput criteria (--goodput)', pass: false })
            continue
          }
        }
        out.push({ expr: slo.expr, phase: r.summary.name, actual, shown: show(slo, actual), pass: actual !== null && compare(actual, slo.op, slo.threshold) })
      }
    }
  }
  return out
}
