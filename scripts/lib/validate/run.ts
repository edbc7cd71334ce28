// The check runner: every check at once, each with its own timeout and retries; the report and
// its table. Targets (compose.ts, k8s.ts, edges.ts) build the checks; index.ts runs them.
import { setMaxListeners } from 'node:events'
import { KitError, EXIT } from '../core/errors.ts'
import { table, formatDuration } from '../core/log.ts'
import type { HealthCheck, CheckOutcome, CheckResult, RunChecksOptions, ValidationReport } from './types.ts'
import type { Ctx } from '../core/context.ts'
import { oneLine } from '../core/exec.ts'

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
  // a failed command's message is the command, then its output: the line keeps the output's last lines
  const msg = oneLine(e.message) || String(e)
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
