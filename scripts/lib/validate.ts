// validate-prod: every check at once, each with its own timeout and retries; a table or JSON;
// the run fails when a critical check fails. Targets build the checks (validate-targets.ts).
import { setMaxListeners } from 'node:events'
import { KitError, EXIT } from './errors.ts'
import { table, formatDuration } from './log.ts'
import { checksFor } from './validate-targets.ts'
import type { Ctx } from './context.ts'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckOutcome { status: CheckStatus; detail: string; data?: unknown }

export interface Attempt {
  /** Aborted when the attempt's time is up: pass it on to requests and commands. */
  signal: AbortSignal
  timeoutMs: number
}

export interface HealthCheck {
  name: string
  /** What it belongs to: openwebui, lightllm, graphrag, edge, tls, monitoring... (--component filters on it). */
  component: string
  /** Other components this check also serves (a data store GraphRAG needs: ['graphrag']). */
  tags?: string[]
  /** A failing critical check fails the run (and rolls a deploy back); others only warn. */
  critical: boolean
  timeoutMs?: number
  retries?: number
  run(a: Attempt): Promise<CheckOutcome>
}

export interface CheckResult {
  name: string
  component: string
  critical: boolean
  status: CheckStatus
  detail: string
  attempts: number
  durationMs: number
  data?: unknown
}

export interface ValidationReport {
  ok: boolean
  target: string
  durationMs: number
  results: CheckResult[]
}

export interface RunChecksOptions {
  timeoutMs?: number
  retries?: number
  /** First pause between attempts; doubles each retry. */
  retryDelayMs?: number
}

export class ValidationFailed extends KitError {
  constructor(readonly report: ValidationReport) {
    const failed = report.results.filter((r) => r.status === 'fail' && r.critical)
    super(`validation failed: ${failed.map((r) => `${r.name} (${r.detail})`).join('; ')}`, EXIT.failure)
  }
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms)
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
})

/**
 * One attempt: the check's promise raced against its deadline, so a check that ignores the signal
 * still ends on time; a thrown error is a failure with its message.
 */
async function attempt(check: HealthCheck, timeoutMs: number, parent: AbortSignal): Promise<CheckOutcome> {
  const ac = new AbortController()
  const onParent = () => ac.abort(parent.reason)
  parent.addEventListener('abort', onParent, { once: true })
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      check.run({ signal: ac.signal, timeoutMs }).catch((e: Error): CheckOutcome => ({ status: 'fail', detail: errorText(e) })),
      new Promise<CheckOutcome>((resolve) => {
        timer = setTimeout(() => { ac.abort(new Error('timeout')); resolve({ status: 'fail', detail: `timed out after ${formatDuration(timeoutMs)}` }) }, timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
    ac.abort()
    parent.removeEventListener('abort', onParent)
  }
}

function errorText(e: Error): string {
  const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause
  const msg = e.message.split('\n')[0] ?? String(e)
  return cause?.code ? `${msg} (${cause.code})` : msg
}

/** Run every check concurrently; each retries on failure with a growing pause. */
export async function runChecks(ctx: Ctx, checks: HealthCheck[], o: RunChecksOptions = {}): Promise<CheckResult[]> {
  // one listener on the run's signal; every attempt and pause listens to this group instead
  const group = new AbortController()
  setMaxListeners(checks.length * 2 + 10, group.signal)
  const onAbort = () => group.abort(ctx.signal.reason)
  if (ctx.signal.aborted) onAbort()
  else ctx.signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.all(checks.map((check) => runOne(ctx, check, o, group.signal)))
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
  }
}

async function runOne(ctx: Ctx, check: HealthCheck, o: RunChecksOptions, signal: AbortSignal): Promise<CheckResult> {
  const timeoutMs = check.timeoutMs ?? o.timeoutMs ?? 10_000
  const retries = check.retries ?? o.retries ?? 2
  const started = performance.now()
  let outcome: CheckOutcome = { status: 'fail', detail: 'not run' }
  let attempts = 0
  for (let i = 0; i <= retries && !signal.aborted; i++) {
    attempts++
    outcome = await attempt(check, timeoutMs, signal)
    if (outcome.status !== 'fail') break
    if (i < retries) {
      ctx.log.debug(`${check.name}: ${outcome.detail}; retrying`)
      await sleep((o.retryDelayMs ?? 1000) * 2 ** i, signal)
    }
  }
  return {
    name: check.name, component: check.component, critical: check.critical,
    status: outcome.status, detail: ctx.secrets.mask(outcome.detail), attempts,
    durationMs: Math.round(performance.now() - started), data: outcome.data,
  }
}

export function reportOf(target: string, results: CheckResult[], durationMs: number): ValidationReport {
  return { ok: !results.some((r) => r.status === 'fail' && r.critical), target, durationMs, results }
}

export function formatValidation(report: ValidationReport): string {
  const rows = report.results.map((r) => [
    r.status === 'fail' && !r.critical ? 'FAIL (non-critical)' : r.status.toUpperCase(),
    r.name,
    r.detail,
    `${formatDuration(r.durationMs)}${r.attempts > 1 ? ` x${r.attempts}` : ''}`,
  ])
  return table(['result', 'check', 'detail', 'time'], rows)
}

export interface ValidateOptions {
  target: 'k8s' | 'compose' | 'url'
  /** Only the checks of this component (graphrag serves `make test-graphrag`). */
  component?: string
  env?: Record<string, string>
  /** Public URL to check instead of the one the target implies. */
  url?: string
  /** Host header / SNI name when the URL is an address. */
  host?: string
  insecure?: boolean
  caFile?: string
  timeoutMs?: number
  retries?: number
  retryDelayMs?: number
  /** Extra name=URL health checks. */
  extra?: string[]
  // compose
  composeFile?: string
  envFile?: string | null
  // k8s
  namespace?: string
  release?: string
  monitoringNamespace?: string
  /** Days left under which a certificate warns (default 21) and fails (default 0: expired). */
  certWarnDays?: number
}

/** Build the target's checks, run them, print the table, return the report (printing JSON is the caller's). */
export async function validateDeployment(ctx: Ctx, o: ValidateOptions): Promise<ValidationReport> {
  const started = performance.now()
  const step = ctx.log.step(`validating the ${o.target === 'k8s' ? 'Kubernetes' : o.target === 'compose' ? 'Compose' : 'URL'} deployment${o.component ? ` (${o.component})` : ''}`)
  const { checks, cleanup } = await checksFor(ctx, o)
  try {
    const selected = o.component ? checks.filter((c) => c.component === o.component || c.tags?.includes(o.component!)) : checks
    if (!selected.length) throw new KitError(`no checks for component "${o.component}" on this target`, EXIT.usage)
    const results = await runChecks(ctx, selected, { timeoutMs: o.timeoutMs, retries: o.retries, retryDelayMs: o.retryDelayMs })
    const report = reportOf(o.target, results, Math.round(performance.now() - started))
    ctx.log.raw(formatValidation(report))
    const failed = results.filter((r) => r.status === 'fail')
    if (report.ok) step.ok(`${results.length} checks${failed.length ? `, ${failed.length} non-critical failing` : ''}`)
    else step.fail(`${failed.filter((r) => r.critical).length} critical check(s) failed`)
    return report
  } finally {
    await cleanup()
  }
}
