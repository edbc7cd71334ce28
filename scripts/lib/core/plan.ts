// A deploy is a plan: phases of steps, each step data ({ title, argv, mutates, undo? }).
// The plan is built first (read-only probes only), printed by --dry-run exactly as it would run,
// then run: steps of a parallel phase start as soon as the steps they wait for are done.
import { shellQuote } from './exec.ts'
import { KitError, InterruptedError } from './errors.ts'
import { table, formatDuration } from './log.ts'
import type { Ctx } from './context.ts'

export interface Step {
  /** Unique within the plan; defaults to the title. Used by `after`. */
  id?: string
  title: string
  /** The exact command. For an in-process step (action), the equivalent shown by --dry-run. */
  argv: string[]
  /** Changes something: printed, not run, under --dry-run. */
  mutates: boolean
  /** What puts the world back if a later step (or validation) fails. */
  undo?: Step
  timeoutMs?: number
  env?: Record<string, string | undefined>
  cwd?: string
  /** Standard input (a manifest with secrets goes here, never into argv). */
  input?: string
  /** Stream the command's output to the log (long steps: helm upgrade, compose up). */
  stream?: boolean
  /** In-process work instead of running argv (rendering a config file, validating). */
  action?: (ctx: Ctx) => Promise<void>
  /** The action honours --dry-run itself (prints what it would write): call it under --dry-run too. */
  dryRunAction?: boolean
  /** As an undo under --dry-run: what it does besides its argv (the last of what it may run), in words. */
  explain?: string
  /** Ids of steps of the same phase that must finish first. */
  after?: string[]
}

export interface Phase {
  title: string
  /** Independent steps run concurrently (their `after` still orders them). */
  parallel?: boolean
  steps: Step[]
}

export type StepStatus = 'applied' | 'running' | 'failed' | 'interrupted' | 'skipped' | 'not-run'

export interface StepRecord {
  id: string
  title: string
  command: string
  status: StepStatus
  durationMs: number
  /** When it started and ended (ms since the epoch): a parallel phase's wall time is max(end) - min(start). */
  startedAt?: number
  endedAt?: number
  error?: string
  undo?: string
}

export interface PlanReport {
  steps: StepRecord[]
  ok: boolean
}

export class PlanError extends KitError {
  constructor(readonly step: StepRecord, readonly report: PlanReport, readonly cause?: unknown) {
    super(`step failed: ${step.title}${step.error ? `\n${step.error}` : ''}`)
  }
}

export const stepId = (s: Step): string => s.id ?? s.title

/** The commands the plan would run, masked, in order (what --dry-run prints). */
export function planCommands(ctx: Ctx, plan: Phase[]): string[] {
  return plan.flatMap((p) => order(p.steps).map((s) => ctx.secrets.mask(shellQuote(s.argv))))
}

/** A fresh report with every step not run yet: the Ctrl-C handler reads it while steps run. */
export function newReport(ctx: Ctx, plan: Phase[]): PlanReport {
  return {
    ok: true,
    steps: plan.flatMap((p) => order(p.steps)).map((s) => ({
      id: stepId(s), title: s.title, command: ctx.secrets.mask(shellQuote(s.argv)), status: 'not-run' as StepStatus, durationMs: 0,
      undo: s.undo ? ctx.secrets.mask(shellQuote(s.undo.argv)) : undefined,
    })),
  }
}

/**
 * Run the plan. Under --dry-run every step is printed in order and nothing mutating runs.
 * A failing step lets its running siblings finish, marks the rest not-run and throws PlanError.
 */
export async function runPlan(ctx: Ctx, plan: Phase[], report = newReport(ctx, plan)): Promise<PlanReport> {
  validatePlan(plan)
  const record = (s: Step) => report.steps.find((r) => r.id === stepId(s))!
  for (const phase of plan) {
    if (ctx.dryRun) {
      if (!ctx.json) ctx.out(`# ${phase.title}${phase.parallel && phase.steps.length > 1 ? ' (in parallel)' : ''}`)
      for (const s of order(phase.steps)) await runStep(ctx, s, record(s))
      continue
    }
    const started = new Map<string, Promise<void>>()
    let failure: { rec: StepRecord; error: unknown } | null = null
    const launch = (s: Step): Promise<void> => {
      const id = stepId(s)
      const existing = started.get(id)
      if (existing) return existing
      const p = (async () => {
        for (const dep of s.after ?? []) {
          const d = phase.steps.find((x) => stepId(x) === dep)
          if (d) await launch(d)
        }
        if (failure || ctx.signal.aborted) return
        const rec = record(s)
        try {
          await runStep(ctx, s, rec)
        } catch (error) {
          failure ??= { rec, error }
        }
      })()
      started.set(id, p)
      return p
    }
    if (phase.parallel) await Promise.all(phase.steps.map(launch))
    else for (const s of phase.steps) await launch(s)
    if (ctx.signal.aborted) throw new InterruptedError(String((ctx.signal.reason as Error | undefined)?.message ?? 'SIGINT'))
    if (failure) {
      report.ok = false
      const f = failure as { rec: StepRecord; error: unknown }
      throw new PlanError(f.rec, report, f.error)
    }
  }
  return report
}

async function runStep(ctx: Ctx, s: Step, rec: StepRecord): Promise<void> {
  if (ctx.signal.aborted) throw new InterruptedError('SIGINT')
  if (ctx.dryRun) {
    if (s.action && s.dryRunAction) {
      await s.action(ctx)
    } else if (s.action && s.mutates) {
      const shown = ctx.secrets.mask(shellQuote(s.argv))
      ctx.plan.push(shown)
      if (!ctx.json) ctx.out(`[dry-run] ${shown}`)
    } else if (s.action) {
      await s.action(ctx)
    } else {
      await ctx.exec(s.argv, { mutates: s.mutates, timeout: s.timeoutMs, env: s.env, cwd: s.cwd, input: s.input, title: s.title })
    }
    if (s.input !== undefined && !ctx.json) ctx.out(`[dry-run]   stdin: ${s.title} (content not shown)`)
    // an undo that changes nothing ("none: report and stop") is shown by what it says, not its read-only argv
    if (s.undo && !ctx.json) ctx.out(`[dry-run]   on failure: ${ctx.secrets.mask(s.undo.mutates ? shellQuote(s.undo.argv) : s.undo.title)}`)
    // an undo that may do more than its command (a restore before a rollback) says what, in words
    if (s.undo?.explain && !ctx.json) ctx.out(`[dry-run]     ${ctx.secrets.mask(s.undo.explain)}`)
    rec.status = 'skipped'
    return
  }
  const step = ctx.log.step(s.title)
  const t0 = performance.now()
  rec.status = 'running'
  rec.startedAt = Date.now()
  try {
    if (s.action) await s.action(ctx)
    else await ctx.exec(s.argv, { mutates: s.mutates, timeout: s.timeoutMs, env: s.env, cwd: s.cwd, input: s.input, stream: s.stream, title: s.title })
    rec.status = 'applied'
    rec.durationMs = step.ok()
    rec.endedAt = Date.now()
  } catch (e) {
    rec.durationMs = Math.round(performance.now() - t0)
    rec.endedAt = Date.now()
    rec.status = ctx.signal.aborted ? 'interrupted' : 'failed'
    rec.error = ctx.secrets.mask((e as Error).message)
    step.fail()
    throw e
  }
}

/** Steps in a runnable order: each after the steps it waits for, otherwise as declared. */
function order(steps: Step[]): Step[] {
  const out: Step[] = []
  const seen = new Set<string>()
  const visit = (s: Step) => {
    if (seen.has(stepId(s))) return
    seen.add(stepId(s))
    for (const dep of s.after ?? []) {
      const d = steps.find((x) => stepId(x) === dep)
      if (d) visit(d)
    }
    out.push(s)
  }
  steps.forEach(visit)
  return out
}

function validatePlan(plan: Phase[]): void {
  const ids = new Set<string>()
  for (const s of plan.flatMap((p) => p.steps)) {
    const id = stepId(s)
    if (ids.has(id)) throw new KitError(`plan: duplicate step id "${id}"`)
    ids.add(id)
  }
  for (const phase of plan) {
    const inPhase = new Set(phase.steps.map(stepId))
    const visiting = new Set<string>()
    const done = new Set<string>()
    const visit = (id: string, path: string[]) => {
      if (done.has(id)) return
      if (visiting.has(id)) throw new KitError(`plan: steps wait for each other: ${[...path, id].join(' -> ')}`)
      visiting.add(id)
      const s = phase.steps.find((x) => stepId(x) === id)!
      for (const dep of s.after ?? []) {
        if (!inPhase.has(dep)) throw new KitError(`plan: step "${id}" waits for "${dep}", which is not in phase "${phase.title}"`)
        visit(dep, [...path, id])
      }
      visiting.delete(id)
      done.add(id)
    }
    phase.steps.forEach((s) => visit(stepId(s), []))
  }
}

/** Undo the applied steps that have an undo, newest first. Returns what was undone. */
export async function undoApplied(ctx: Ctx, plan: Phase[], report: PlanReport): Promise<StepRecord[]> {
  const all = plan.flatMap((p) => p.steps)
  const undone: StepRecord[] = []
  for (const rec of [...report.steps].reverse()) {
    if (rec.status !== 'applied') continue
    const s = all.find((x) => stepId(x) === rec.id)
    if (!s?.undo) continue
    const u = s.undo
    const urec: StepRecord = { id: `undo:${rec.id}`, title: u.title, command: ctx.secrets.mask(shellQuote(u.argv)), status: 'not-run', durationMs: 0 }
    await runStep(ctx, u, urec).catch(() => {})
    undone.push(urec)
  }
  return undone
}

/** A plain-text summary of what ran: one line a step. */
export function formatReport(report: PlanReport, undone: StepRecord[] = []): string {
  const rows = [...report.steps, ...undone].map((r) => [
    r.status === 'applied' && r.id.startsWith('undo:') ? 'undone' : r.status,
    r.title,
    r.durationMs ? formatDuration(r.durationMs) : '',
  ])
  return table(['status', 'step', 'time'], rows)
}

/** The commands that would put back what an interrupted or failed run applied. */
export function undoHints(report: PlanReport): string[] {
  return [...report.steps].reverse().filter((r) => ['applied', 'running', 'interrupted'].includes(r.status) && r.undo).map((r) => r.undo!)
}
