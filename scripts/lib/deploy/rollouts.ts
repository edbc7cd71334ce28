// deploy --kubernetes with Argo Rollouts: after the chart, wait for each Rollout to finish, pause
// for a promotion, or abort; on failure abort what was seen still running (traffic back to the
// stable pods) before the chart is rolled back. Plain kubectl polling: the argo plugin is optional.
import { rolloutGetArgv, rolloutAbortArgv } from '../tools/argo.ts'
import { judgeRollout, isFinal, rolloutHint, type Rollout, type RolloutState } from '../validate/rollouts.ts'
import { KitError } from '../core/errors.ts'
import { shellQuote, failureReason } from '../core/exec.ts'
import type { Step } from '../core/plan.ts'
import type { Ctx } from '../core/context.ts'

export interface RolloutRef { name: string; namespace: string; strategy: string }

/** The Rollouts a rendered chart contains (objects from `helm template`). */
export function renderedRollouts(objects: Array<{ apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; spec?: Record<string, unknown> }>, namespace: string): RolloutRef[] {
  return objects.filter((o) => o.kind === 'Rollout' && o.apiVersion?.startsWith('argoproj.io/') && o.metadata?.name).map((o) => ({
    name: o.metadata!.name!,
    namespace: o.metadata?.namespace ?? namespace,
    strategy: Object.keys((o.spec?.strategy as Record<string, unknown> | undefined) ?? {})[0] ?? 'unknown',
  }))
}

export class RolloutFailed extends KitError {
  constructor(readonly state: RolloutState, message: string) { super(message, 1) }
}

/** What the wait saw last of each Rollout: the only facts the abort path is planned from. */
export type SeenRollouts = Map<string, RolloutState>

export interface WaitOptions { timeoutMs: number; intervalMs?: number; seen: SeenRollouts }

/** Poll one Rollout until it is done or paused for a promotion; throw when it aborts, degrades or times out. */
export async function waitRollout(ctx: Ctx, ref: RolloutRef, o: WaitOptions): Promise<RolloutState> {
  const deadline = Date.now() + o.timeoutMs
  const interval = o.intervalMs ?? 5000
  let unreadable = 0
  let last = ''
  for (;;) {
    const r = await ctx.exec(rolloutGetArgv(ref.name, ref.namespace), { allowFailure: true, timeout: 30_000 })
    if (r.exitCode === 0) {
      unreadable = 0
      let state: RolloutState | null = null
      try { state = judgeRollout(JSON.parse(r.stdout) as Rollout) } catch { /* half-written answer: read again */ }
      if (state) {
        o.seen.set(ref.name, state)
        if (state.detail !== last) ctx.log.info(`Rollout ${ref.name}: ${state.detail}`)
        last = state.detail
        if (state.verdict === 'aborted' || state.verdict === 'degraded') throw new RolloutFailed(state, `Rollout ${ref.name} ${state.verdict}: ${state.detail}`)
        if (state.verdict === 'paused') ctx.log.warn(`Rollout ${ref.name} waits for a promotion: ${rolloutHint(state, ref.namespace)}`)
        if (isFinal(state.verdict)) return state
      }
    } else if (++unreadable >= 3) {
      // an unreachable API or a missing Rollout: nothing seen, so nothing is aborted on its account
      throw new KitError(`cannot read Rollout ${ref.name} in ${ref.namespace}: ${failureReason(ctx, r, 1)}`, 1,
        'is Argo Rollouts installed (helm/infra.yaml entry argo-rollouts) and the cluster reachable?')
    }
    if (Date.now() + interval > deadline) {
      const seen = o.seen.get(ref.name)
      if (seen) throw new RolloutFailed(seen, `Rollout ${ref.name} did not finish in time: ${seen.detail}`)
      throw new KitError(`Rollout ${ref.name} never answered in time`, 1)
    }
    await new Promise((res) => setTimeout(res, interval))
    if (ctx.signal.aborted) throw new KitError('interrupted', 130)
  }
}

/** The plan steps: one wait per Rollout, shown with the abort that runs if it fails. */
export function rolloutSteps(refs: RolloutRef[], o: { timeoutMs: number; intervalMs?: number; seen: SeenRollouts }): Step[] {
  return refs.map((ref) => ({
    id: `rollout:${ref.name}`,
    title: `wait for Rollout ${ref.name} (${ref.strategy}) to finish or abort`,
    argv: rolloutGetArgv(ref.name, ref.namespace),
    mutates: true, // not run under --dry-run: nothing was rolled out
    timeoutMs: o.timeoutMs + 60_000,
    action: async (c) => { await waitRollout(c, ref, o) },
    undo: { title: `abort Rollout ${ref.name} (traffic back to the stable pods)`, argv: rolloutAbortArgv(ref.name, ref.namespace), mutates: true },
  }))
}

export interface AbortRecord { name: string; action: 'aborted' | 'already aborted' | 'abort failed' | 'not touched'; detail: string }

/**
 * After a failed rollout: abort each Rollout last seen moving or paused (never one the kit did not
 * see, never one Argo already aborted), so users are served by the stable pods while the chart rolls back.
 */
export async function abortSeen(ctx: Ctx, refs: RolloutRef[], seen: SeenRollouts): Promise<AbortRecord[]> {
  const out: AbortRecord[] = []
  for (const ref of refs) {
    const st = seen.get(ref.name)
    if (!st) { out.push({ name: ref.name, action: 'not touched', detail: 'never seen: its state is unknown' }); continue }
    if (st.verdict === 'aborted') { out.push({ name: ref.name, action: 'already aborted', detail: st.detail }); continue }
    if (st.verdict === 'done') { out.push({ name: ref.name, action: 'not touched', detail: st.detail }); continue }
    const r = await ctx.exec(rolloutAbortArgv(ref.name, ref.namespace), { mutates: true, allowFailure: true, timeout: 30_000, title: `abort Rollout ${ref.name}` })
    out.push(r.exitCode === 0
      ? { name: ref.name, action: 'aborted', detail: `was ${st.detail}` }
      : { name: ref.name, action: 'abort failed', detail: `${failureReason(ctx, r, 1)}; by hand: ${shellQuote(rolloutAbortArgv(ref.name, ref.namespace))}` })
  }
  return out
}
