// --html: one self-contained file (inline CSS and SVG) with latency over time and the distribution.
import { writeFileSync } from 'node:fs'
import { chart, esc, type Series } from './charts.ts'
import type { Ran } from './export.ts'
import type { Stats } from './stats.ts'
import type { Summary } from './summary.ts'
import type { Verdict } from './slo.ts'
import { describeLoadText, LLM_DEFINITIONS } from './report.ts'
import { fmtMs, fmtNum, fmtPct } from './units.ts'

const MAX_DOTS = 4000
const C = { dots: '#6b8fd6', p50: '#2a9d5b', p90: '#e0a030', p99: '#d1495b', max: '#7a3b69', rps: '#6b8fd6', err: '#d1495b', hist: '#4f7cc8' }

function statsRows(rows: [string, Stats | null][]): string {
  const cols: [string, keyof Stats][] = [['count', 'count'], ['min', 'min'], ['mean', 'mean'], ['p50', 'p50'], ['p90', 'p90'], ['p95', 'p95'], ['p99', 'p99'], ['p99.9', 'p999'], ['max', 'max']]
  return `<table><tr><th></th>${cols.map(([h]) => `<th>${h}</th>`).join('')}</tr>${rows.map(([name, s]) => `<tr><th>${esc(name)}</th>${cols.map(([h, k]) => `<td>${s ? (h === 'count' ? fmtNum(s[k]) : fmtMs(s[k])) : '-'}</td>`).join('')}</tr>`).join('')}</table>`
}

/** Every n-th request as [seconds since the window began, ms]: at most MAX_DOTS points. */
function dots(start: ArrayLike<number>, value: ArrayLike<number>, from: number): [number, number][] {
  const stride = Math.max(1, Math.ceil(start.length / MAX_DOTS))
  const out: [number, number][] = []
  for (let i = 0; i < start.length; i += stride) if (Number.isFinite(value[i]!)) out.push([(start[i]! - from) / 1000, value[i]!])
  return out
}

function overTime(s: Summary, scatter: [number, number][], what: string): string {
  const tl = s.timeline
  const line = (name: string, color: string, key: 'p50' | 'p90' | 'p99' | 'max'): Series =>
    ({ name, color, kind: 'line', points: tl.filter((p) => p[key] !== null).map((p) => [p.t, p[key]!]) })
  return chart({
    title: `${what} over time (each dot a request by its intended send time; lines per ${tl.length > 1 ? `${+(tl[1]!.t - tl[0]!.t).toFixed(3)}s` : 'bin'})`,
    xLabel: 'seconds', yLabel: 'ms',
    series: [{ name: 'request', color: C.dots, kind: 'dots', points: scatter }, line('p50', C.p50, 'p50'), line('p90', C.p90, 'p90'), line('p99', C.p99, 'p99'), line('max', C.max, 'max')],
  }) + chart({
    title: 'throughput over time', xLabel: 'seconds', yLabel: 'requests/s', height: 200, yLog: false,
    series: [{ name: 'requests/s', color: C.rps, kind: 'bars', points: tl.map((p) => [p.t, p.rps]) },
      { name: 'errors/s', color: C.err, kind: 'bars', points: tl.filter((p) => p.errors).map((p) => [p.t, p.errors / (tl.length > 1 ? tl[1]!.t - tl[0]!.t : 1)]) }],
  })
}

function distribution(s: Summary, what: string): string {
  const h = s.histogram
  const total = h.reduce((a, b) => a + b.count, 0)
  if (!total) return '<p class="empty">no successful request: no distribution</p>'
  const max = Math.max(...h.map((b) => b.count))
  const rows = h.map((b) => `<tr><td>${fmtMs(b.from)} – ${fmtMs(b.to)}</td><td class="bar"><span style="width:${((b.count / max) * 100).toFixed(1)}%"></span></td><td>${fmtNum(b.count)}</td><td>${fmtPct(b.count / total)}</td></tr>`).join('')
  return `<figure><figcaption>${esc(what)} distribution (log-spaced buckets)</figcaption><table class="hist">${rows}</table></figure>`
}

function kv(pairs: [string, string][]): string {
  return `<dl>${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
}

function phaseHtml(r: Ran): string {
  const s = r.summary
  const g = s.generator
  const common: [string, string][] = [
    ['target', s.target], ['load', describeLoadText(s.load)], ['started', s.started_at], ['duration', `${s.duration_s}s`],
    ['requests', `${fmtNum(s.requests.total)} (ok ${fmtNum(s.requests.ok)}, failed ${fmtNum(s.requests.failed)}, ${fmtPct(s.error_rate)})`],
    ['status codes', Object.entries(s.status_codes).map(([k, v]) => `${k}: ${fmtNum(v)}`).join(', ') || '-'],
    ['errors', Object.entries(s.errors).map(([k, v]) => `${k}: ${fmtNum(v)}`).join(', ') || 'none'],
    ['generator', `cpu ${g.cpu.toFixed(2)} cores, event loop busy ${Math.round(g.elu * 100)}%, loop lag p99 ${fmtMs(g.loop_lag_p99_ms)}`],
  ]
  const warn = g.warnings.map((w) => `<p class="warn">${esc(w)}</p>`).join('')
  if (s.mode === 'http' && r.raw.mode === 'http') {
    const c = r.raw.rec.cols
    const lat = Float64Array.from(c.latency.subarray(0, r.raw.rec.n), (v, i) => (c.error[i] ? NaN : v))
    return `<section><h2>${esc(s.name)} <small>http</small></h2>${kv([...common, ['throughput', `${fmtNum(s.rps, 1)} requests/s`]])}${warn}
${statsRows([['latency', s.latency], ...s.by_request.map((b): [string, Stats | null] => [b.name, b.latency])])}
${overTime(s, dots(c.start.subarray(0, r.raw.rec.n), lat, r.summary.load.warmup_s * 1000), 'latency')}
${distribution(s, 'latency')}</section>`
  }
  if (s.mode !== 'llm' || r.raw.mode !== 'llm') return ''
  const recs = r.raw.records
  const from = s.load.warmup_s * 1000
  const ttft = recs.map((x) => (s.ttft_definition === 'content' ? x.ttftContent : x.ttftFirstChunk) ?? NaN)
  const starts = recs.map((x) => x.start)
  return `<section><h2>${esc(s.name)} <small>llm · ${esc(s.model)}</small></h2>${kv([...common,
    ['throughput', `${fmtNum(s.request_throughput, 2)} req/s, input ${fmtNum(s.input_tps, 1)} tok/s, output ${fmtNum(s.output_tps, 1)} tok/s${s.tokens.output_estimated ? ' (estimated)' : ''}`],
    ['goodput', s.goodput ? `${fmtNum(s.goodput.rps, 2)} req/s (${fmtPct(s.goodput.ratio)})` : '-']])}${warn}
${statsRows([['TTFT', s.ttft], ['TPOT', s.tpot], ['ITL', s.itl], ['E2E', s.e2e], ['queue', s.queue]])}
${overTime(s, dots(starts, recs.map((x) => x.e2e ?? NaN), from), 'end-to-end latency')}
${chart({ title: 'time to first token over time', xLabel: 'seconds', yLabel: 'ms', series: [{ name: 'TTFT', color: C.p90, kind: 'dots', points: dots(starts, ttft, from) }] })}
${distribution(s, 'end-to-end latency')}
<pre>${esc(LLM_DEFINITIONS)}</pre></section>`
}

export function renderHtml(results: Ran[], verdicts: Verdict[], exitCode: number): string {
  const slo = verdicts.length
    ? `<section><h2>SLO gates</h2><table><tr><th>result</th><th>phase</th><th>gate</th><th>actual</th></tr>${verdicts.map((v) => `<tr class="${v.pass ? 'pass' : 'fail'}"><td>${v.pass ? 'PASS' : 'FAIL'}</td><td>${esc(v.phase)}</td><td><code>${esc(v.expr)}</code></td><td>${esc(v.shown)}</td></tr>`).join('')}</table></section>`
    : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Load test report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:920px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h2 small{color:#888;font-weight:normal}
table{border-collapse:collapse;margin:10px 0}th,td{padding:3px 9px;text-align:right;border-bottom:1px solid #eee}th:first-child{text-align:left}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}dt{color:#666}dd{margin:0}
figure{margin:18px 0}figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:11px;fill:#555}svg .label{font-size:12px}
.grid{stroke:#eee}.axis{stroke:#999}.warn{background:#fff4d6;padding:6px 10px;border-left:3px solid #e0a030}
.hist td{font-variant-numeric:tabular-nums}.hist .bar{width:420px;text-align:left}.hist .bar span{display:inline-block;height:11px;background:${C.hist}}
tr.pass td:first-child{color:#2a9d5b;font-weight:600}tr.fail td:first-child{color:#d1495b;font-weight:600}.empty{color:#888}
pre{background:#f6f6f6;padding:10px;font-size:12px;white-space:pre-wrap}
</style></head><body>
<h1>Load test report <small style="color:${exitCode === 0 ? '#2a9d5b' : '#d1495b'}">${exitCode === 0 ? 'passed' : 'failed'}</small></h1>
${slo}
${results.map(phaseHtml).join('\n')}
</body></html>
`
}

export function writeHtml(file: string, results: Ran[], verdicts: Verdict[], exitCode: number): void {
  writeFileSync(file, renderHtml(results, verdicts, exitCode))
}
