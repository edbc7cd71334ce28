// Argo Rollouts: what a Rollout's status means for the operator (finished, progressing, paused for
// a timed step, waiting for a promotion, aborted, degraded), judged from `kubectl get -o json` as
// Argo Rollouts v1.x writes it, and the validate-prod check over the release's Rollouts.
import { rolloutListArgv, rolloutAbortArgv, rolloutPromoteArgv } from '../tools/argo.ts'
import { shellQuote, failureReason } from '../core/exec.ts'
import type { HealthCheck } from './types.ts'
import type { Ctx } from '../core/context.ts'

interface Condition { type: string; status: string; reason?: string; message?: string }
interface AnalysisRunStatus { name?: string; status?: string; message?: string }
export interface Rollout {
  metadata: { name: string; namespace?: string; generation?: number }
  spec?: {
    replicas?: number
    strategy?: {
      blueGreen?: { autoPromotionEnabled?: boolean; autoPromotionSeconds?: number }
      canary?: { steps?: Array<{ setWeight?: number; pause?: { duration?: string | number } }> }
    }
  }
  status?: {
    phase?: string
    message?: string
    abort?: boolean
    observedGeneration?: string | number
    currentStepIndex?: number
    currentPodHash?: string
    stableRS?: string
    replicas?: number
    updatedReplicas?: number
    readyReplicas?: number
    availableReplicas?: number
    pauseConditions?: Array<{ reason: string; startTime?: string }>
    conditions?: Condition[]
    canary?: { currentStepAnalysisRunStatus?: AnalysisRunStatus; currentBackgroundAnalysisRunStatus?: AnalysisRunStatus }
    blueGreen?: { activeSelector?: string; previewSelector?: string; prePromotionAnalysisRunStatus?: AnalysisRunStatus; postPromotionAnalysisRunStatus?: AnalysisRunStatus }
  }
}

/**
 * done: the new version serves everything; progressing: Argo is moving (or has not seen the new
 * spec yet); timed-pause: a canary pause step with a duration, it resumes by itself; paused: waits
 * for a promotion; aborted: Argo sent traffic back to the stable pods; degraded: unhealthy otherwise.
 */
export type RolloutVerdict = 'done' | 'progressing' | 'timed-pause' | 'paused' | 'aborted' | 'degraded'

export interface RolloutState {
  name: string
  strategy: 'blueGreen' | 'canary' | 'unknown'
  verdict: RolloutVerdict
  /** One line for people: phase, step, replicas, Argo's own message. */
  detail: string
  stableRS?: string
  currentPodHash?: string
}

const FINAL: RolloutVerdict[] = ['done', 'paused', 'aborted', 'degraded']
/** The verdicts after which a deploy stops waiting. */
export const isFinal = (v: RolloutVerdict) => FINAL.includes(v)

function failedAnalysis(s: NonNullable<Rollout['status']>): AnalysisRunStatus | undefined {
  return [s.canary?.currentStepAnalysisRunStatus, s.canary?.currentBackgroundAnalysisRunStatus, s.blueGreen?.prePromotionAnalysisRunStatus, s.blueGreen?.postPromotionAnalysisRunStatus]
    .find((a) => a && ['Failed', 'Error', 'Inconclusive'].includes(a.status ?? ''))
}

export function judgeRollout(r: Rollout): RolloutState {
  const s = r.status ?? {}
  const strategy = r.spec?.strategy?.blueGreen ? 'blueGreen' : r.spec?.strategy?.canary ? 'canary' : 'unknown'
  const steps = r.spec?.strategy?.canary?.steps ?? []
  const step = strategy === 'canary' && steps.length && s.currentStepIndex !== undefined ? `step ${Math.min(s.currentStepIndex, steps.length)}/${steps.length}` : ''
  const pods = `${s.availableReplicas ?? 0}/${r.spec?.replicas ?? s.replicas ?? '?'} available, ${s.updatedReplicas ?? 0} updated`
  const base = { name: r.metadata.name, strategy, stableRS: s.stableRS, currentPodHash: s.currentPodHash } as const
  const line = (phase: string, extra = '') => [phase, step, pods, extra].filter(Boolean).join(', ')
  const analysis = failedAnalysis(s)
  const analysisLine = analysis && !(analysis.message && s.message?.includes(analysis.message)) ? `analysis ${analysis.name ?? ''} ${analysis.status}${analysis.message ? `: ${analysis.message}` : ''}` : ''
  const why = [s.message, analysisLine].filter(Boolean).join('; ')

  const invalid = s.conditions?.find((c) => c.type === 'InvalidSpec' && c.status === 'True')
  if (invalid) return { ...base, verdict: 'degraded', detail: line('InvalidSpec', invalid.message) }
  if (s.abort) return { ...base, verdict: 'aborted', detail: line('Aborted', `${why || 'aborted'}; traffic on the stable pods (${s.stableRS ?? 'unknown ReplicaSet'})`) }
  // the controller has not seen the newest spec yet: whatever the status says is about the previous one
  if (r.metadata.generation !== undefined && s.observedGeneration !== undefined && String(s.observedGeneration) !== String(r.metadata.generation)) {
    return { ...base, verdict: 'progressing', detail: line('Progressing', 'waiting for the controller to observe the new spec') }
  }
  switch (s.phase) {
    case 'Healthy':
      return { ...base, verdict: 'done', detail: line('Healthy', s.stableRS ? `stable ${s.stableRS}` : '') }
    case 'Degraded':
      return { ...base, verdict: 'degraded', detail: line('Degraded', why) }
    case 'Paused': {
      const reasons = (s.pauseConditions ?? []).map((p) => p.reason)
      const current = s.currentStepIndex !== undefined ? steps[s.currentStepIndex] : undefined
      const timed = strategy === 'canary' && reasons.every((x) => x === 'CanaryPauseStep') && current?.pause?.duration !== undefined
        || strategy === 'blueGreen' && reasons.every((x) => x === 'BlueGreenPause') && Boolean(r.spec?.strategy?.blueGreen?.autoPromotionSeconds)
      if (timed) return { ...base, verdict: 'timed-pause', detail: line('Paused', `${reasons.join(', ')} (resumes by itself)`) }
      return { ...base, verdict: 'paused', detail: line('Paused', `${reasons.join(', ') || 'paused'}: waiting for a promotion`) }
    }
    case 'Progressing':
    case undefined:
      return { ...base, verdict: 'progressing', detail: line(s.phase ?? 'Progressing', s.message ?? '') }
    default:
      return { ...base, verdict: 'degraded', detail: line(s.phase, why) }
  }
}

/** What to type: promote a paused Rollout, abort a running one. */
export function rolloutHint(st: RolloutState, namespace: string): string {
  if (st.verdict === 'paused') return `promote: ${shellQuote(rolloutPromoteArgv(st.name, namespace))} (or kubectl argo rollouts promote ${st.name} -n ${namespace}); abort: ${shellQuote(rolloutAbortArgv(st.name, namespace))}`
  if (st.verdict === 'aborted') return `the stable version serves; to retry, fix the cause and deploy again, or roll the chart back (helm rollback)`
  return ''
}

/** validate-prod: every Rollout of the release, healthy, paused (warn) or aborted/degraded (fail). */
export function rolloutsCheck(ctx: Ctx, namespace: string, selector: string): HealthCheck {
  return {
    name: 'Argo Rollouts of the release',
    component: 'rollouts',
    critical: true,
    async run(a) {
      const r = await ctx.exec(rolloutListArgv(namespace, selector, `${Math.ceil(a.timeoutMs / 1000)}s`), { allowFailure: true, timeout: a.timeoutMs, signal: a.signal })
      if (r.exitCode !== 0) {
        // no Argo Rollouts in the cluster: the chart rendered plain Deployments
        if (/doesn't have a resource type|the server could not find the requested resource/.test(r.stderr)) return { status: 'skip', detail: 'Argo Rollouts not installed (no Rollout objects)' }
        return { status: 'fail', detail: `cannot list Rollouts: ${failureReason(ctx, r, 1)}` }
      }
      let items: Rollout[]
      try { items = (JSON.parse(r.stdout) as { items?: Rollout[] }).items ?? [] } catch { return { status: 'fail', detail: 'kubectl answered no JSON' } }
      if (!items.length) return { status: 'skip', detail: 'no Rollouts (rollout.strategy: rolling)' }
      const states = items.map(judgeRollout)
      const detail = states.map((s) => `${s.name}: ${s.detail}`).join('; ')
      const bad = states.filter((s) => s.verdict === 'aborted' || s.verdict === 'degraded')
      if (bad.length) return { status: 'fail', detail: `${detail}. ${bad.map((s) => rolloutHint(s, namespace)).filter(Boolean)[0] ?? ''}`.trim(), data: states }
      const waiting = states.filter((s) => s.verdict !== 'done')
      if (waiting.length) {
        const hint = waiting.map((s) => rolloutHint(s, namespace)).find(Boolean)
        return { status: 'warn', detail: hint ? `${detail}. ${hint}` : detail, data: states }
      }
      return { status: 'ok', detail, data: states }
    },
  }
}
