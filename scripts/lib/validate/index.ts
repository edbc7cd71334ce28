// validate-prod: build the target's checks (compose.ts, k8s.ts, or a URL through edges.ts), run
// them all at once (run.ts), print the table; the run fails when a critical check fails.
import { existsSync } from 'node:fs'
import { KitError, EXIT, UsageError } from '../core/errors.ts'
import { withRoots, urlChecks, extraChecks } from './edges.ts'
import { runChecks, reportOf, formatValidation } from './run.ts'
import type { TargetChecks, ValidateOptions, ValidationReport } from './types.ts'
import type { Ctx } from '../core/context.ts'

export { ValidationFailed, runChecks, reportOf, formatValidation } from './run.ts'
export type * from './types.ts'

export async function checksFor(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
  if (o.caFile && !existsSync(o.caFile)) throw new UsageError(`--ca-file ${o.caFile} not found`)
  const caFile = o.caFile ? withRoots(o.caFile) : undefined
  const opts = { ...o, caFile: caFile?.path ?? undefined }
  try {
    // the target's checks only: a compose validation never loads the Kubernetes code (a cold start each run)
    const built = o.target === 'compose' ? await (await import('./compose.ts')).composeChecks(ctx, opts)
      : o.target === 'k8s' ? await (await import('./k8s.ts')).k8sChecks(ctx, opts) : urlChecks(opts)
    return { checks: [...built.checks, ...extraChecks(opts)], cleanup: async () => { await built.cleanup(); caFile?.remove() } }
  } catch (e) {
    caFile?.remove()
    throw e
  }
}

/** Build the target's checks, run them, print the table, return the report (printing JSON is the caller's). */
export async function validateDeployment(ctx: Ctx, o: ValidateOptions): Promise<ValidationReport> {
  const started = performance.now()
  const step = ctx.log.step(`validating the ${o.target === 'k8s' ? 'Kubernetes' : o.target === 'compose' ? 'Compose' : 'URL'} deployment${o.component ? ` (${o.component})` : ''}`)
  const { checks, cleanup } = await checksFor(ctx, o)
  try {
    const skipped = checks.filter((c) => o.skipComponents?.includes(c.component))
    if (skipped.length) ctx.log.info(`left out: ${skipped.map((c) => c.name).join(', ')} (${[...new Set(skipped.map((c) => c.component))].join(', ')})`)
    const wanted = checks.filter((c) => !skipped.includes(c))
    const selected = o.component ? wanted.filter((c) => c.component === o.component || c.tags?.includes(o.component!)) : wanted
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
