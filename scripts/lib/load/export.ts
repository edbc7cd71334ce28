// --json (a versioned document), --csv (one row a request) from the phase results.
import { openSync, writeSync, closeSync } from 'node:fs'
import { ERROR_KINDS, type HttpRecords } from './records.ts'
import type { WireRequest } from './http-engine.ts'
import type { LlmRecord, TtftMode } from './llm-engine.ts'
import { outputTokens, type PhaseResult, type Summary } from './summary.ts'
import type { Verdict } from './slo.ts'

/** Bumped only when a field changes meaning or disappears; new fields may be added. */
export const JSON_SCHEMA = 'owp.load-test/v1'

export type RawPhase =
  | { mode: 'http'; rec: HttpRecords; requests: WireRequest[] }
  | { mode: 'llm'; records: LlmRecord[]; ttftMode: TtftMode }

export interface Ran extends PhaseResult { raw: RawPhase }

export interface LoadTestDocument {
  schema: typeof JSON_SCHEMA
  ok: boolean
  exit_code: number
  phases: Summary[]
  skipped: { name: string; reason: string }[]
  slo: { gate: string; phase: string; actual: number | null; pass: boolean }[]
}

export function jsonDocument(results: Ran[], verdicts: Verdict[], exitCode: number, skipped: { name: string; reason: string }[]): LoadTestDocument {
  return {
    schema: JSON_SCHEMA,
    ok: exitCode === 0,
    exit_code: exitCode,
    phases: results.map((r) => r.summary),
    skipped,
    slo: verdicts.map((v) => ({ gate: v.expr, phase: v.phase, actual: v.actual, pass: v.pass })),
  }
}

export const CSV_HEADER = 'phase,mode,request,intended_ms,queue_ms,latency_ms,ttft_ms,tpot_ms,status,error,bytes,prompt_tokens,completion_tokens,tokens_estimated'

const n3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '' : (Math.round(v * 1000) / 1000).toString())
const csvCell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

/** Rows of one phase, oldest intended send first. */
export function* csvRows(name: string, raw: RawPhase): Generator<string> {
  if (raw.mode === 'http') {
    const c = raw.rec.cols
    const order = Array.from({ length: raw.rec.n }, (_, i) => i).sort((a, b) => c.start[a]! - c.start[b]!)
    for (const i of order) {
      const err = c.error[i]!
      yield [csvCell(name), 'http', csvCell(raw.requests[c.req[i]!]!.name), n3(c.start[i]), n3(c.lag[i]), err ? '' : n3(c.latency[i]), '', '',
        c.status[i] || '', err ? ERROR_KINDS[err] : '', c.bytes[i], '', '', ''].join(',')
    }
    return
  }
  for (const r of [...raw.records].sort((a, b) => a.start - b.start)) {
    const n = outputTokens(r)
    const tpot = r.contentTimes.length && n > 1 ? (r.contentTimes[r.contentTimes.length - 1]! - r.contentTimes[0]!) / (n - 1) : null
    yield [csvCell(name), 'llm', `prompt-${r.prompt + 1}`, n3(r.start), n3(r.queue), n3(r.e2e),
      n3(raw.ttftMode === 'content' ? r.ttftContent : r.ttftFirstChunk), r.e2e === null ? '' : n3(tpot),
      r.status || '', r.error ?? (r.status && (r.status < 200 || r.status >= 300) ? `http_${r.status}` : ''), '',
      r.promptTokens ?? r.promptEstimate, r.e2e === null ? '' : n, r.completionTokens === null || r.promptTokens === null ? 'true' : 'false'].join(',')
  }
}

/** Write every phase's rows to a file, in batches (millions of rows stay cheap). */
export function writeCsv(file: string, results: Ran[]): number {
  const fd = openSync(file, 'w')
  let rows = 0
  try {
    writeSync(fd, `${CSV_HEADER}\n`)
    let batch: string[] = []
    for (const r of results) {
      for (const row of csvRows(r.summary.name, r.raw)) {
        batch.push(row)
        rows++
        if (batch.length === 10_000) { writeSync(fd, `${batch.join('\n')}\n`); batch = [] }
      }
    }
    if (batch.length) writeSync(fd, `${batch.join('\n')}\n`)
  } finally {
    closeSync(fd)
  }
  return rows
}
