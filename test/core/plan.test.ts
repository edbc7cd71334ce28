// The plan runner: phases of steps, undo of what was applied, a failing step, the report.
import { describe, it, expect } from 'vitest'
import { runPlan, newReport, undoApplied, PlanError, type Phase } from '../../scripts/lib/core/plan.ts'
import { testCtx } from '../helpers/context.ts'

describe('plan runner', () => {
  const record = () => {
    const log: string[] = []
    const step = (id: string, o: { after?: string[]; fail?: boolean; ms?: number; undo?: boolean } = {}) => ({
      id, title: id, argv: ['do', id], mutates: true, after: o.after,
      undo: o.undo ? { title: `undo ${id}`, argv: ['undo', id], mutates: true, action: async () => { log.push(`undo ${id}`) } } : undefined,
      action: async () => {
        log.push(`start ${id}`)
        await new Promise((r) => setTimeout(r, o.ms ?? 5))
        log.push(`end ${id}`)
        if (o.fail) throw new Error(`${id} broke`)
      },
    })
    return { log, step }
  }

  it('runs a parallel phase by its `after` edges and phases in order', async () => {
    const { log, step } = record()
    const plan: Phase[] = [
      { title: 'infra', parallel: true, steps: [step('a', { ms: 30 }), step('b', { after: ['a'] }), step('c', { ms: 10 })] },
      { title: 'app', steps: [step('d')] },
    ]
    const report = await runPlan(testCtx(), plan)
    expect(report.steps.map((s) => s.status)).toEqual(['applied', 'applied', 'applied', 'applied'])
    expect(log.indexOf('start c')).toBeLessThan(log.indexOf('end a')) // c did not wait for a
    expect(log.indexOf('start b')).toBeGreaterThan(log.indexOf('end a')) // b did
    expect(log.indexOf('start d')).toBeGreaterThan(log.indexOf('end b'))
  })

  it('a failing step lets running siblings finish, starts nothing new, and reports every step', async () => {
    const { log, step } = record()
    const plan: Phase[] = [{ title: 'p', parallel: true, steps: [step('a', { fail: true }), step('b', { ms: 30 }), step('c', { after: ['a'] })] }, { title: 'q', steps: [step('d')] }]
    const err = await runPlan(testCtx(), plan).catch((e: unknown) => e) as PlanError
    expect(err).toBeInstanceOf(PlanError)
    expect(err.step.id).toBe('a')
    expect(Object.fromEntries(err.report.steps.map((s) => [s.id, s.status]))).toEqual({ a: 'failed', b: 'applied', c: 'not-run', d: 'not-run' })
    expect(log).toContain('end b')
    expect(log).not.toContain('start c')
  })

  it('undoes applied steps newest first', async () => {
    const { log, step } = record()
    const plan: Phase[] = [{ title: 'p', steps: [step('a', { undo: true }), step('b', { undo: true }), step('c', { fail: true })] }]
    const ctx = testCtx()
    const report = newReport(ctx, plan)
    await runPlan(ctx, plan, report).catch(() => {})
    const undone = await undoApplied(ctx, plan, report)
    expect(undone.map((u) => u.title)).toEqual(['undo b', 'undo a'])
    expect(log.slice(-2)).toEqual(['undo b', 'undo a'])
  })

  it('--dry-run prints each command in runnable order with its undo, and runs no action', async () => {
    const { log, step } = record()
    const ctx = testCtx({ dryRun: true })
    await runPlan(ctx, [{ title: 'infra', parallel: true, steps: [step('b', { after: ['a'] }), step('a', { undo: true })] }])
    expect(ctx.stdout()).toBe('# infra (in parallel)\n[dry-run] do a\n[dry-run]   on failure: undo a\n[dry-run] do b\n')
    expect(log).toEqual([])
  })

  it('rejects a plan whose steps wait for each other', async () => {
    const { step } = record()
    await expect(runPlan(testCtx(), [{ title: 'p', parallel: true, steps: [step('a', { after: ['b'] }), step('b', { after: ['a'] })] }])).rejects.toThrow(/steps wait for each other: a -> b -> a/)
  })
})
