// The load test from flags to outcome: plan, run each phase, summarise, gate, export.
import { availableParallelism } from 'node:os'
import { writeFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import type { Ctx } from '../core/context.ts'
import type { Outcome } from '../core/cli.ts'
import { KitError } from '../core/errors.ts'
import { buildPlan, type Flags, type HttpPlan, type LlmPlan, type PhasePlan, type Plan } from './plan.ts'
import { runHttpEngine } from './http-engine.ts'
import { runHttpWorkers } from './workers.ts'
import { runLlmEngine } from './llm-engine.ts'
import { HttpRecords } from './records.ts'
import { cpuMeter, judgeGenerator, progressLine, progressTicker, type Counters } from './monitor.ts'
import type { Step } from '../core/log.ts'
import { describeLoad, summarizeHttp, summarizeLlm } from './summary.ts'
import { evaluateSlos } from './slo.ts'
import { describeLoadText, summaryText } from './report.ts'
import { jsonDocument, writeCsv, type Ran } from './export.ts'
import { renderHtml } from './html.ts'
import { percentile, sorted } from './stats.ts'
import { fmtNum, fmtPct } from './units.ts'

function timerLagP99(lag: number[]): number | null {
  return lag.length ? Math.round(percentile(sorted(lag), 99) * 1000) / 1000 : null
}

/** Live progress on a terminal: inside the step's spinner line when there is one, else a line of its own. */
function withProgress<T>(ctx: Ctx, step: Step | undefined, name: string, counters: Counters, fn: () => Promise<T>): Promise<T> {
  const terminal = ctx.interactive && ctx.log.format === 'text'
  const spinner = terminal && ctx.log.color.level > 0 // the logger spins only in colour
  const stop = step && spinner ? progressTicker(() => counters, (line) => step.update(`${name}  ${line}`))
    : terminal ? progressLine(process.stderr, name, () => counters) : () => {}
  return fn().finally(stop)
}

export async function runHttpPhase(ctx: Ctx, p: HttpPlan, step?: Step): Promise<Ran> {
  const counters: Counters = { done: 0, errors: 0, inflight: 0 }
  const cpu = cpuMeter()
  const started = performance.now()
  const opts = { target: p.target, requests: p.requests, shape: p.shape, timeoutMs: p.timeoutMs, keepAlive: p.keepAlive }
  const { records, run, threads } = await withProgress(ctx, step, p.name, counters, async () => {
    if (p.workers > 1) return runHttpWorkers(opts, p.workers, { signal: ctx.signal, counters })
    const r = await runHttpEngine(opts, { signal: ctx.signal, counters })
    return { records: HttpRecords.fromBuffers([r.records]), run: r.run, threads: [r.thread] }
  })
  const generator = judgeGenerator(cpu(), threads, timerLagP99(run.timerLag), availableParallelism(), performance.now() - started)
  const res = summarizeHttp({ name: p.name, target: p.display, rec: records, run, requests: p.requests, load: describeLoad(p.shape, p.timeoutMs, p.workers), generator })
  return { ...res, raw: { mode: 'http', rec: records, requests: p.requests } }
}

/** The model id from GET …/models (OpenAI, LightLLM and Open WebUI all answer it). */
export async function detectModel(p: LlmPlan): Promise<string> {
  const url = new URL(p.url.pathname.replace(/\/chat\/completions$|\/completions$/, '') + '/models', p.url)
  const dispatcher = new Agent({ connect: { rejectUnauthorized: !p.insecure } })
  try {
    const res = await request(url, { headers: p.headers, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 })
    const body = (await res.body.json().catch(() => null)) as { data?: { id?: string }[] } | null
    const id = body?.data?.find((m) => typeof m.id === 'string')?.id
    if (res.statusCode !== 200 || !id) throw new Error(`GET ${url.pathname} answered ${res.statusCode}${id ? '' : ' without a model'}`)
    return id
  } catch (e) {
    throw new KitError(`cannot tell which model to load: ${(e as Error).message}`, 1, 'pass --model NAME')
  } finally {
    await dispatcher.close().catch(() => {})
  }
}

export async function runLlmPhase(ctx: Ctx, p: LlmPlan, step?: Step): Promise<Ran> {
  const model = p.model ?? await detectModel(p)
  const counters: Counters = { done: 0, errors: 0, inflight: 0 }
  const cpu = cpuMeter()
  const started = performance.now()
  const r = await withProgress(ctx, step, p.name, counters, () => runLlmEngine({
    url: p.url, headers: p.headers, model, prompts: p.prompts, maxTokens: p.maxTokens, extraBody: p.extraBody,
    shape: p.shape, timeoutMs: p.timeoutMs, insecure: p.insecure,
  }, { signal: ctx.signal, counters, probe: true }))
  const probe = r.probe
  if (probe && (probe.error !== null || probe.status < 200 || probe.status >= 300)) {
    ctx.log.warn(`the first (unrecorded) request failed: ${probe.error ?? `HTTP ${probe.status}`}${probe.detail ? `: ${probe.detail}` : ''}`)
  }
  const generator = judgeGenerator(cpu(), [r.thread], timerLagP99(r.run.timerLag), availableParallelism(), performance.now() - started)
  const res = summarizeLlm({
    name: p.name, target: p.display, model, records: r.records, run: r.run, generator,
    load: describeLoad(p.shape, p.timeoutMs, 1), ttftMode: p.ttftMode, goodput: p.goodput,
  })
  return { ...res, raw: { mode: 'llm', records: r.records, ttftMode: p.ttftMode } }
}

function describePhase(p: PhasePlan): Record<string, unknown> {
  const base = { name: p.name, mode: p.mode, target: p.display, load: describeLoad(p.shape, p.timeoutMs, p.mode === 'http' ? p.workers : 1) }
  return p.mode === 'http' ? base : { ...base, model: p.model ?? '(from the models endpoint)', max_tokens: p.maxTokens, prompts: p.prompts.length }
}

function dryRun(plan: Plan): Outcome {
  const lines = plan.phases.map((p) => `[dry-run] ${p.name}: ${p.display} (${describeLoadText(describeLoad(p.shape, p.timeoutMs, p.mode === 'http' ? p.workers : 1))})`)
  for (const s of plan.skipped) lines.push(`[dry-run] ${s.name}: skipped: ${s.reason}`)
  if (plan.slos.length) lines.push(`[dry-run] gates: ${plan.slos.map((s) => s.expr).join('  ')}`)
  return { data: { ok: true, dry_run: true, phases: plan.phases.map(describePhase), skipped: plan.skipped, slo: plan.slos.map((s) => s.expr) }, text: lines.join('\n') }
}

export async function loadTest(ctx: Ctx, flags: Flags, positionals: string[]): Promise<Outcome> {
  const plan = buildPlan(ctx, flags, positionals)
  if (ctx.dryRun) return dryRun(plan)
  for (const s of plan.skipped) ctx.log.warn(`${s.name} phase skipped: ${s.reason}`)
  const ran: Ran[] = []
  const skipped = [...plan.skipped]
  for (const p of plan.phases) {
    // stopped by a signal (scripts/load-test.ts finishes on the first one): report what ran
    if (ctx.signal.aborted) { skipped.push({ name: p.name, reason: 'interrupted before it started' }); continue }
    const step = ctx.log.step(`${p.name}: ${p.display} (${describeLoadText(describeLoad(p.shape, p.timeoutMs, p.mode === 'http' ? p.workers : 1))})`)
    const r = p.mode === 'http' ? await runHttpPhase(ctx, p, step) : await runLlmPhase(ctx, p, step)
    const s = r.summary
    const detail = `${fmtNum(s.requests.total)} requests, ${fmtNum(s.requests.failed)} failed (${fmtPct(s.error_rate)})`
    if (s.requests.ok === 0) step.fail(`${detail}: no request succeeded`)
    else if (s.requests.failed) step.warn(detail)
    else step.ok(detail)
    for (const w of s.generator.warnings) ctx.log.warn(w)
    ran.push(r)
  }
  const verdicts = evaluateSlos(plan.slos, ran)
  const failedGates = verdicts.filter((v) => !v.pass)
  const noSuccess = ran.filter((r) => r.summary.requests.ok === 0)
  const exitCode = failedGates.length || noSuccess.length ? 1 : 0
  if (flags.csv) {
    const rows = writeCsv(flags.csv, ran)
    ctx.log.info(`wrote ${fmtNum(rows)} rows to ${flags.csv}`)
  }
  if (flags.html) {
    writeFileSync(flags.html, ctx.secrets.mask(renderHtml(ran, verdicts, exitCode)))
    ctx.log.info(`wrote the report to ${flags.html}`)
  }
  if (failedGates.length) ctx.log.error(`${failedGates.length} SLO gate${failedGates.length === 1 ? '' : 's'} failed: ${failedGates.map((v) => `${v.expr} (${v.shown})`).join(', ')}`)
  return {
    exitCode,
    data: jsonDocument(ran, verdicts, exitCode, skipped),
    text: summaryText(ran.map((r) => r.summary), verdicts),
  }
}
