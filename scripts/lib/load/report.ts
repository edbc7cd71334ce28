// The human summary: load, counts, percentile table, latency histogram, status codes, errors,
// the generator's own health and the SLO gates.
import { table } from '../core/log.ts'
import type { Stats, Bucket } from './stats.ts'
import type { HttpSummary, LlmSummary, Summary, LoadDescription } from './summary.ts'
import type { Verdict } from './slo.ts'
import { fmtMs, fmtNum, fmtPct } from './units.ts'

export const LLM_DEFINITIONS = `Definitions (llm mode; times from the intended send time, so queueing counts):
  TTFT  time to first token: to the first chunk carrying content (--ttft first-chunk: to the
        first chunk of any kind, vLLM's variant, which counts an empty role chunk)
  ITL   inter token latency: the gaps between successive content chunks, over all requests
  TPOT  time per output token, per request: (last content chunk - first content chunk) /
        (completion_tokens - 1); with several tokens in a chunk the chunk gap (ITL) is not it
  E2E   end-to-end latency: to the end of the stream
  tokens from the server's usage (stream_options.include_usage) when sent, else one token per
        content chunk, flagged "estimated"; goodput: requests/s meeting every --goodput bound`

const STAT_COLS: [string, keyof Stats][] = [['min', 'min'], ['mean', 'mean'], ['p50', 'p50'], ['p90', 'p90'], ['p95', 'p95'], ['p99', 'p99'], ['p99.9', 'p999'], ['max', 'max']]

export function describeLoadText(l: LoadDescription): string {
  const parts: string[] = []
  if (l.loop === 'open') parts.push(`open loop, ${l.arrival} arrivals at ${fmtNum(l.rate ?? 0, 1)}/s, at most ${l.concurrency} in flight`)
  else parts.push(`closed loop, ${l.concurrency} connection${l.concurrency === 1 ? '' : 's'}${l.qps_per_worker ? `, <= ${l.qps_per_worker}/s each` : ''}`)
  if (l.duration_s !== null) parts.push(`${l.duration_s}s`)
  if (l.requests !== null) parts.push(`${fmtNum(l.requests)} requests`)
  if (l.warmup_s) parts.push(`warm-up ${l.warmup_s}s`)
  if (l.workers > 1) parts.push(`${l.workers} worker threads`)
  return parts.join(', ')
}

function statsTable(rows: [string, Stats | null][]): string {
  return table(['', ...STAT_COLS.map(([h]) => h)], rows.map(([name, s]) => [name, ...STAT_COLS.map(([, k]) => (s ? fmtMs(s[k]) : '-'))]))
}

export function histogramText(buckets: Bucket[], width = 40): string {
  const total = buckets.reduce((s, b) => s + b.count, 0)
  if (!total) return '  (no samples)\n'
  const max = Math.max(...buckets.map((b) => b.count))
  const label = (b: Bucket) => `${fmtMs(b.from).padStart(8)} - ${fmtMs(b.to).padStart(8)}`
  return buckets.map((b) => {
    const bar = '■'.repeat(Math.round((b.count / max) * width))
    return `  ${label(b)}  ${bar.padEnd(width)}  ${fmtNum(b.count).padStart(9)}  ${fmtPct(b.count / total).padStart(6)}`
  }).join('\n') + '\n'
}

function counts(s: Summary, rateText: string): string {
  const r = s.requests
  let line = `requests  ${fmtNum(r.total)} in ${s.duration_s.toFixed(2)}s (${rateText})   ok ${fmtNum(r.ok)}   failed ${fmtNum(r.failed)} (${fmtPct(s.error_rate)})`
  if (r.timeouts) line += `   timeouts ${fmtNum(r.timeouts)}`
  if (r.dropped) line += `\n          ${fmtNum(r.dropped)} arrivals still queued at the end were never sent (every connection busy)`
  if (r.cancelled) line += `\n          ${fmtNum(r.cancelled)} requests still in flight when -z ended were cancelled (not counted)`
  return line
}

function tail(s: Summary): string[] {
  const out: string[] = []
  const codes = Object.entries(s.status_codes).sort(([a], [b]) => a.localeCompare(b))
  out.push(`status codes  ${codes.length ? codes.map(([k, v]) => `${k}: ${fmtNum(v)}`).join('   ') : '(no response)'}`)
  const errors = Object.entries(s.errors).sort(([, a], [, b]) => b - a)
  if (errors.length) out.push(`errors        ${errors.map(([k, v]) => `${k}: ${fmtNum(v)}`).join('   ')}`)
  const g = s.generator
  out.push(`generator     cpu ${g.cpu.toFixed(2)} cores, event loop busy ${Math.round(g.elu * 100)}%, loop lag p99 ${fmtMs(g.loop_lag_p99_ms)}`
    + (g.send_lag_p99_ms !== null ? `, timer lag p99 ${fmtMs(g.send_lag_p99_ms)}` : ''))
  for (const w of g.warnings) out.push(`  ! ${w}`)
  return out
}

export function httpText(s: HttpSummary): string {
  const out = [`== ${s.name}: ${s.target}`, `load      ${describeLoadText(s.load)}`, counts(s, `${fmtNum(s.rps, 1)}/s`), '']
  out.push(statsTable([['latency', s.latency]]).trimEnd())
  if (s.by_request.length) {
    out.push('', table(['request', 'count', 'failed', 'p50', 'p95', 'p99', 'max'], s.by_request.map((r) => [
      r.name, fmtNum(r.requests), fmtNum(r.failed), fmtMs(r.latency?.p50), fmtMs(r.latency?.p95), fmtMs(r.latency?.p99), fmtMs(r.latency?.max),
    ])).trimEnd())
  }
  if (s.load.loop === 'open' && s.send_lag) out.push(`send lag  p50 ${fmtMs(s.send_lag.p50)}  p99 ${fmtMs(s.send_lag.p99)}  max ${fmtMs(s.send_lag.max)} (waiting for a free connection, included in latency)`)
  out.push('', 'latency distribution', histogramText(s.histogram).trimEnd(), '', ...tail(s))
  return out.join('\n') + '\n'
}

export function llmText(s: LlmSummary): string {
  const est = (flag: boolean) => (flag ? ' (estimated)' : '')
  const out = [`== ${s.name}: ${s.target}   model ${s.model}`, `load      ${describeLoadText(s.load)}`, counts(s, `${fmtNum(s.request_throughput, 2)} ok/s`)]
  out.push(`throughput  ${fmtNum(s.request_throughput, 2)} req/s   input ${fmtNum(s.input_tps, 1)} tok/s${est(s.tokens.input_estimated)}   output ${fmtNum(s.output_tps, 1)} tok/s${est(s.tokens.output_estimated)}`)
  out.push(`tokens      input ${fmtNum(s.tokens.input)}${est(s.tokens.input_estimated)}   output ${fmtNum(s.tokens.output)}${est(s.tokens.output_estimated)}`
    + (s.tokens.requests_without_usage ? `   (${fmtNum(s.tokens.requests_without_usage)} responses without usage: counted one token a chunk)` : ''))
  if (s.goodput) {
    const c = s.goodput.criteria
    const crit = [c.ttft_ms !== undefined && `ttft<=${fmtMs(c.ttft_ms)}`, c.tpot_ms !== undefined && `tpot<=${fmtMs(c.tpot_ms)}`, c.e2e_ms !== undefined && `e2e<=${fmtMs(c.e2e_ms)}`].filter(Boolean).join(' ')
    out.push(`goodput     ${fmtNum(s.goodput.rps, 2)} req/s, ${fmtNum(s.goodput.good)} of ${fmtNum(s.requests.total)} requests (${fmtPct(s.goodput.ratio)}) with ${crit}`)
  }
  out.push('', statsTable([[`TTFT${s.ttft_definition === 'first-chunk' ? '*' : ''}`, s.ttft], ['TPOT', s.tpot], ['ITL', s.itl], ['E2E', s.e2e], ['queue', s.queue]]).trimEnd())
  if (s.ttft_definition === 'first-chunk') out.push('* TTFT to the first chunk of any kind (--ttft first-chunk)')
  out.push('', 'end-to-end latency distribution', histogramText(s.histogram).trimEnd(), '', ...tail(s))
  for (const [kind, detail] of Object.entries(s.error_details)) out.push(`  ${kind}: ${detail.replace(/\s+/g, ' ').slice(0, 160)}`)
  return out.join('\n') + '\n'
}

export function sloText(verdicts: Verdict[]): string {
  if (!verdicts.length) return ''
  const rows = verdicts.map((v) => [v.pass ? 'PASS' : 'FAIL', v.phase, v.expr, v.shown])
  const failed = verdicts.filter((v) => !v.pass).length
  return `SLO gates\n${table(['result', 'phase', 'gate', 'actual'], rows)}${failed ? `${failed} of ${verdicts.length} gates failed` : `all ${verdicts.length} gates passed`}\n`
}

export function summaryText(results: Summary[], verdicts: Verdict[]): string {
  const parts = results.map((s) => (s.mode === 'http' ? httpText(s) : llmText(s)))
  if (results.some((s) => s.mode === 'llm')) parts.push(`${LLM_DEFINITIONS}\n`)
  const slo = sloText(verdicts)
  if (slo) parts.push(slo)
  return parts.join('\n')
}
