// From raw records to the numbers every output shares (text, --json, --html, SLO gates).
import { ERROR_KINDS, type HttpRecords } from './records.ts'
import { stats, sorted, histogram, timeline, binFor, percentile, type Stats, type Bucket, type TimelinePoint } from './stats.ts'
import { isSuccess, type WireRequest } from './http-engine.ts'
import type { LlmRecord, TtftMode } from './llm-engine.ts'
import type { DriveResult, LoadShape } from './schedule.ts'
import type { GeneratorStats } from './monitor.ts'
import { r3 } from './units.ts'

export interface LoadDescription {
  loop: 'closed' | 'open'
  concurrency: number
  rate: number | null
  arrival: 'constant' | 'poisson' | null
  qps_per_worker: number | null
  requests: number | null
  duration_s: number | null
  warmup_s: number
  timeout_s: number | null
  workers: number
}

export interface RequestCounts {
  total: number
  ok: number
  failed: number
  timeouts: number
  transport_errors: number
  unexpected_status: number
  /** Open loop: arrivals still queued when the duration ended, never sent (not in total). */
  dropped: number
  /** -z: requests in flight when the duration ended, cut there (not in total). */
  cancelled: number
}

interface Common {
  name: string
  target: string
  load: LoadDescription
  /** Start of the measured window (after the warm-up). */
  started_at: string
  /** Wall-clock epoch (ms, fractional) of the phase's time zero: --csv times are ms since it. */
  t0_epoch_ms: number
  duration_s: number
  requests: RequestCounts
  error_rate: number
  status_codes: Record<string, number>
  /** Failures by kind: timeout, connect_refused, reset, ..., http_<status> for unexpected statuses. */
  errors: Record<string, number>
  histogram: Bucket[]
  timeline: TimelinePoint[]
  generator: GeneratorStats
}

export interface HttpSummary extends Common {
  mode: 'http'
  rps: number
  ok_rps: number
  latency: Stats | null
  /** How late sends were against their intended time (open loop: includes waiting for a free connection). */
  send_lag: Stats | null
  by_request: { name: string; requests: number; failed: number; latency: Stats | null }[]
}

export interface GoodputCriteria { ttft_ms?: number; tpot_ms?: number; e2e_ms?: number }

export interface LlmSummary extends Common {
  mode: 'llm'
  model: string
  ttft_definition: TtftMode
  request_throughput: number
  input_tps: number
  output_tps: number
  total_tps: number
  tokens: { input: number; output: number; input_estimated: boolean; output_estimated: boolean; requests_without_usage: number }
  ttft: Stats | null
  tpot: Stats | null
  itl: Stats | null
  e2e: Stats | null
  queue: Stats | null
  goodput: { criteria: GoodputCriteria; good: number; rps: number; ratio: number } | null
  /** The first detail seen for each error kind (an error body, an error event, a message). */
  error_details: Record<string, string>
}

export type Summary = HttpSummary | LlmSummary

/** Sorted samples by metric family, for percentiles the summary does not carry (p75, p99.99). */
export type Samples = Partial<Record<'latency' | 'ttft' | 'tpot' | 'itl' | 'e2e', Float64Array>>

export interface PhaseResult { summary: Summary; samples: Samples }

export function describeLoad(shape: LoadShape, timeoutMs: number, workers: number): LoadDescription {
  return {
    loop: shape.rate ? 'open' : 'closed',
    concurrency: shape.concurrency,
    rate: shape.rate ?? null,
    arrival: shape.rate ? shape.arrival : null,
    qps_per_worker: shape.qps ?? null,
    requests: shape.requests ?? null,
    duration_s: shape.durationMs !== undefined ? shape.durationMs / 1000 : null,
    warmup_s: shape.warmupMs / 1000,
    timeout_s: timeoutMs > 0 ? timeoutMs / 1000 : null,
    workers,
  }
}

/** The measured window: -z's duration (the engines cut the run there), else up to the last response. */
function windowMs(load: LoadDescription, run: DriveResult, end: number): number {
  if (load.duration_s !== null && !run.interrupted) return load.duration_s * 1000
  return Math.max(end - run.measureStart, 1e-3)
}

const bump = (m: Record<string, number>, k: string) => { m[k] = (m[k] ?? 0) + 1 }

export function summarizeHttp(o: {
  name: string; target: string; rec: HttpRecords; run: DriveResult; requests: WireRequest[]; load: LoadDescription; generator: GeneratorStats
}): PhaseResult {
  const { rec, run } = o
  const c = rec.cols
  const counts: RequestCounts = { total: rec.n, ok: 0, failed: 0, timeouts: 0, transport_errors: 0, unexpected_status: 0, dropped: run.dropped, cancelled: run.cancelled }
  const status_codes: Record<string, number> = {}
  const errors: Record<string, number> = {}
  const lat: number[] = []
  const latencyOrNaN = new Float64Array(rec.n)
  const failed = new Uint8Array(rec.n)
  const perReq = o.requests.map(() => ({ n: 0, failed: 0, lat: [] as number[] }))
  let end = run.measureStart
  for (let i = 0; i < rec.n; i++) {
    const err = c.error[i]!
    const status = c.status[i]!
    const req = o.requests[c.req[i]!]!
    const pr = perReq[c.req[i]!]!
    pr.n++
    end = Math.max(end, c.start[i]! + c.latency[i]!)
    if (status > 0 && err === 0) bump(status_codes, String(status))
    latencyOrNaN[i] = NaN
    if (err !== 0) {
      const kind = ERROR_KINDS[err]!
      bump(errors, kind)
      if (kind === 'timeout') counts.timeouts++
      else counts.transport_errors++
    } else {
      lat.push(c.latency[i]!)
      pr.lat.push(c.latency[i]!)
      latencyOrNaN[i] = c.latency[i]!
      if (isSuccess(req.expect, status)) { counts.ok++; continue }
      counts.unexpected_status++
      bump(errors, `http_${status}`)
    }
    failed[i] = 1
    pr.failed++
  }
  counts.failed = counts.total - counts.ok
  const durationMs = windowMs(o.load, run, end)
  const latSorted = sorted(lat)
  const timerLag = run.timerLag.length ? sorted(run.timerLag) : null
  const summary: HttpSummary = {
    name: o.name, mode: 'http', target: o.target, load: o.load,
    started_at: new Date(run.startedAt + run.measureStart).toISOString(),
    t0_epoch_ms: r3(run.startedAt),
    duration_s: r3(durationMs / 1000),
    requests: counts,
    error_rate: counts.total ? r3(counts.failed / counts.total * 1e4) / 1e4 : 0,
    rps: r3((counts.total * 1000) / durationMs),
    ok_rps: r3((counts.ok * 1000) / durationMs),
    latency: stats(latSorted),
    send_lag: stats(c.lag.subarray(0, rec.n)),
    status_codes, errors,
    by_request: o.requests.length > 1 ? o.requests.map((r, i) => ({ name: r.name, requests: perReq[i]!.n, failed: perReq[i]!.failed, latency: stats(perReq[i]!.lat) })) : [],
    histogram: histogram(latSorted),
    timeline: timeline(c.start.subarray(0, rec.n), latencyOrNaN, (i) => failed[i] === 1, run.measureStart, binFor(durationMs)),
    generator: { ...o.generator, send_lag_p99_ms: timerLag ? r3(percentile(timerLag, 99)) : null },
  }
  return { summary, samples: { latency: latSorted } }
}

/** Output tokens of a request: usage when the server sent it, else one a content chunk. */
export const outputTokens = (r: LlmRecord): number => r.completionTokens ?? r.contentTimes.length

export function summarizeLlm(o: {
  name: string; target: string; model: string; records: LlmRecord[]; run: DriveResult; load: LoadDescription
  generator: GeneratorStats; ttftMode: TtftMode; goodput: GoodputCriteria | null
}): PhaseResult {
  const { records, run } = o
  const counts: RequestCounts = { total: records.length, ok: 0, failed: 0, timeouts: 0, transport_errors: 0, unexpected_status: 0, dropped: run.dropped, cancelled: run.cancelled }
  const status_codes: Record<string, number> = {}
  const errors: Record<string, number> = {}
  const ttft: number[] = []
  const tpot: number[] = []
  const itl: number[] = []
  const e2e: number[] = []
  const queue: number[] = []
  let input = 0
  let output = 0
  let noUsageIn = 0
  let noUsageOut = 0
  let good = 0
  let end = run.measureStart
  const error_details: Record<string, string> = {}
  for (const r of records) {
    queue.push(r.queue)
    if (r.detail) error_details[r.error ?? `http_${r.status}`] ??= r.detail
    if (r.status > 0) bump(status_codes, String(r.status))
    if (r.error !== null) {
      bump(errors, r.error)
      if (r.error === 'timeout') counts.timeouts++
      else if (r.status === 0) counts.transport_errors++
      end = Math.max(end, r.start + r.queue)
      continue
    }
    if (r.status < 200 || r.status >= 300) {
      counts.unexpected_status++
      bump(errors, `http_${r.status}`)
      continue
    }
    counts.ok++
    end = Math.max(end, r.start + r.e2e!)
    const firstContent = r.contentTimes[0]!
    const lastContent = r.contentTimes[r.contentTimes.length - 1]!
    const t = o.ttftMode === 'content' ? r.ttftContent! : r.ttftFirstChunk!
    const n = outputTokens(r)
    const perToken = n > 1 ? (lastContent - firstContent) / (n - 1) : null
    ttft.push(t)
    e2e.push(r.e2e!)
    if (perToken !== null) tpot.push(perToken)
    for (let i = 1; i < r.contentTimes.length; i++) itl.push(r.contentTimes[i]! - r.contentTimes[i - 1]!)
    input += r.promptTokens ?? r.promptEstimate
    output += n
    if (r.promptTokens === null) noUsageIn++
    if (r.completionTokens === null) noUsageOut++
    const g = o.goodput
    if (g && (g.ttft_ms === undefined || t <= g.ttft_ms) && (g.tpot_ms === undefined || (perToken ?? 0) <= g.tpot_ms)
      && (g.e2e_ms === undefined || r.e2e! <= g.e2e_ms)) good++
  }
  counts.failed = counts.total - counts.ok
  const durationMs = windowMs(o.load, run, end)
  const perS = (x: number) => r3((x * 1000) / durationMs)
  const s = { ttft: sorted(ttft), tpot: sorted(tpot), itl: sorted(itl), e2e: sorted(e2e) }
  const e2eOrNaN = records.map((r) => r.e2e ?? NaN)
  const summary: LlmSummary = {
    name: o.name, mode: 'llm', target: o.target, model: o.model, load: o.load,
    started_at: new Date(run.startedAt + run.measureStart).toISOString(),
    t0_epoch_ms: r3(run.startedAt),
    duration_s: r3(durationMs / 1000),
    requests: counts,
    error_rate: counts.total ? r3(counts.failed / counts.total * 1e4) / 1e4 : 0,
    status_codes, errors,
    ttft_definition: o.ttftMode,
    request_throughput: perS(counts.ok),
    input_tps: perS(input),
    output_tps: perS(output),
    total_tps: perS(input + output),
    tokens: { input, output, input_estimated: noUsageIn > 0, output_estimated: noUsageOut > 0, requests_without_usage: Math.max(noUsageIn, noUsageOut) },
    ttft: stats(s.ttft), tpot: stats(s.tpot), itl: stats(s.itl), e2e: stats(s.e2e), queue: stats(queue),
    goodput: o.goodput ? { criteria: o.goodput, good, rps: perS(good), ratio: counts.total ? r3(good / counts.total * 1e4) / 1e4 : 0 } : null,
    error_details,
    histogram: histogram(s.e2e),
    timeline: timeline(records.map((r) => r.start), e2eOrNaN, (i) => records[i]!.e2e === null, run.measureStart, binFor(durationMs)),
    generator: o.generator,
  }
  return { summary, samples: { ...s, latency: s.e2e } }
}
