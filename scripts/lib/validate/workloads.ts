// Judge a release by its workloads (Deployments, StatefulSets, DaemonSets: rollout complete,
// desired = updated = available), not by every pod that carries its labels. Pods of Jobs and
// failed/evicted pods whose controller has a Ready replacement are reported, never fatal.
// To judge a new kind (an Argo Rollout), add its judge to JUDGES and its plural to WORKLOAD_KINDS.
import type { CheckStatus } from './types.ts'

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: {
    name: string; namespace?: string; uid?: string; generation?: number
    labels?: Record<string, string>; annotations?: Record<string, string>
    ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>
  }
  spec?: Record<string, any>
  status?: Record<string, any>
}

/** What `kubectl get` lists in one call: the workloads and what explains their pods. */
export const WORKLOAD_KINDS = ['deployments', 'statefulsets', 'daemonsets', 'replicasets', 'pods', 'horizontalpodautoscalers']

export interface Verdict { status: CheckStatus; name: string; detail: string }
export interface ReleaseVerdict { workloads: Verdict[]; pods: Verdict[] }

interface Index { pods: KubeObject[]; byUid: Map<string, KubeObject>; hpaFor(kind: string, name: string): KubeObject | undefined }
type Judge = (w: KubeObject, ix: Index) => Verdict

const n = (v: unknown): number => (typeof v === 'number' ? v : 0)
const ref = (o: KubeObject) => `${(o.kind ?? '').toLowerCase()}/${o.metadata.name}`
const controllerOf = (o: KubeObject) => o.metadata.ownerReferences?.find((r) => r.controller) ?? o.metadata.ownerReferences?.[0]
const ready = (p: KubeObject) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')
const condition = (o: KubeObject, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type) as { status: string; reason?: string; message?: string } | undefined

/** Why a pod is not Ready, as a user reads it: CrashLoopBackOff, ImagePullBackOff, Pending (Unschedulable), Evicted. */
export function podReason(p: KubeObject): string {
  if (p.status?.reason) return p.status.reason as string
  const waiting = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
    .map((c: any) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).filter(Boolean)
  if (waiting.length) return [...new Set(waiting)].join(',')
  const sched = condition(p, 'PodScheduled')
  if (sched?.status === 'False') return `${p.status?.phase ?? 'Pending'} (${sched.reason ?? 'not scheduled'})`
  return p.status?.phase ?? 'unknown'
}

/** The pods a workload owns, directly (StatefulSet, DaemonSet) or through its ReplicaSets (Deployment). */
function podsOf(w: KubeObject, ix: Index): KubeObject[] {
  return ix.pods.filter((p) => {
    let owner = controllerOf(p)
    for (let hop = 0; owner && hop < 2; hop++) {
      if (owner.uid === w.metadata.uid) return true
      owner = ix.byUid.get(owner.uid) ? controllerOf(ix.byUid.get(owner.uid)!) : undefined
    }
    return false
  })
}

/** Pods of the workload that are not Ready, with their reasons (the first three). */
function notReadyDetail(w: KubeObject, ix: Index): string {
  const bad = podsOf(w, ix).filter((p) => !ready(p) && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded')
  return bad.length ? `: ${bad.slice(0, 3).map((p) => `${p.metadata.name} ${podReason(p)}`).join(', ')}` : ''
}

/**
 * The missing replicas of a complete rollout are only Pending pods of an HPA scale-up (waiting for a
 * node) while the HPA's minimum is available: a warning, not a broken release.
 */
function scalingUp(w: KubeObject, ix: Index, available: number): string | null {
  const hpa = ix.hpaFor(w.kind!, w.metadata.name)
  if (!hpa) return null
  const min = n(hpa.spec?.minReplicas) || 1
  const missing = podsOf(w, ix).filter((p) => !ready(p) && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded')
  if (available < min || !missing.length || missing.some((p) => p.status?.phase !== 'Pending' || (p.status?.containerStatuses ?? []).length)) return null
  return `HPA ${hpa.metadata.name} scaling up: ${missing.length} pod(s) ${missing.map(podReason).filter((r, i, a) => a.indexOf(r) === i).join(', ')}`
}

function generationSeen(w: KubeObject): string | null {
  const seen = n(w.status?.observedGeneration)
  return seen < n(w.metadata.generation) ? `generation ${w.metadata.generation} not observed yet (controller at ${seen})` : null
}

const deployment: Judge = (w, ix) => {
  const name = ref(w)
  const desired = w.spec?.replicas ?? 1
  const s = w.status ?? {}
  const unseen = generationSeen(w)
  if (unseen) return { status: 'fail', name, detail: unseen }
  const progressing = condition(w, 'Progressing')
  if (progressing?.status === 'False') return { status: 'fail', name, detail: `rollout failed (${progressing.reason}): ${progressing.message ?? ''}${notReadyDetail(w, ix)}` }
  if (desired === 0) return { status: 'warn', name, detail: 'scaled to 0' }
  const updated = n(s.updatedReplicas), available = n(s.availableReplicas), total = n(s.replicas)
  if (updated < desired) return { status: 'fail', name, detail: `rollout incomplete: ${updated}/${desired} updated${notReadyDetail(w, ix)}` }
  if (total > updated) return { status: 'fail', name, detail: `rollout incomplete: ${total - updated} old replica(s) still running` }
  if (available < desired) {
    const hpa = scalingUp(w, ix, available)
    if (hpa) return { status: 'warn', name, detail: `${available}/${desired} available, ${hpa}` }
    return { status: 'fail', name, detail: `${available}/${desired} available${notReadyDetail(w, ix)}` }
  }
  return { status: 'ok', name, detail: `${desired}/${desired} updated and available` }
}

const statefulSet: Judge = (w, ix) => {
  const name = ref(w)
  const desired = w.spec?.replicas ?? 1
  const s = w.status ?? {}
  const unseen = generationSeen(w)
  if (unseen) return { status: 'fail', name, detail: unseen }
  if (desired === 0) return { status: 'warn', name, detail: 'scaled to 0' }
  const rolling = (w.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate'
  const updated = n(s.updatedReplicas), available = n(s.availableReplicas ?? s.readyReplicas)
  if (rolling && (updated < desired || (s.updateRevision && s.currentRevision !== s.updateRevision)))
    return { status: 'fail', name, detail: `rollout incomplete: ${updated}/${desired} at revision ${s.updateRevision ?? '?'}${notReadyDetail(w, ix)}` }
  if (available < desired) {
    const hpa = scalingUp(w, ix, available)
    if (hpa) return { status: 'warn', name, detail: `${available}/${desired} available, ${hpa}` }
    return { status: 'fail', name, detail: `${available}/${desired} available${notReadyDetail(w, ix)}` }
  }
  return { status: 'ok', name, detail: `${desired}/${desired} updated and available` }
}

const daemonSet: Judge = (w, ix) => {
  const name = ref(w)
  const s = w.status ?? {}
  const unseen = generationSeen(w)
  if (unseen) return { status: 'fail', name, detail: unseen }
  const desired = n(s.desiredNumberScheduled), updated = n(s.updatedNumberScheduled), available = n(s.numberAvailable)
  if (updated < desired) return { status: 'fail', name, detail: `rollout incomplete: ${updated}/${desired} nodes updated${notReadyDetail(w, ix)}` }
  if (available < desired) return { status: 'fail', name, detail: `${available}/${desired} nodes available${notReadyDetail(w, ix)}` }
  return { status: 'ok', name, detail: `${desired}/${desired} nodes updated and available` }
}

/** One judge per workload kind: the place to add Argo Rollouts. */
export const JUDGES: Record<string, Judge> = { Deployment: deployment, StatefulSet: statefulSet, DaemonSet: daemonSet }

/** Pods no workload judgement covers: Jobs' pods, and failed or evicted pods (replaced or not). */
function podNotes(ix: Index, judged: Set<string>): Verdict[] {
  const notes: Verdict[] = []
  for (const p of ix.pods) {
    const owner = controllerOf(p)
    const phase = p.status?.phase
    if (owner?.kind === 'Job') {
      if (phase === 'Failed') notes.push({ status: 'warn', name: `pod/${p.metadata.name}`, detail: `pod of Job ${owner.name} failed (${podReason(p)}); the Job's own history says why` })
      else if (phase !== 'Succeeded') notes.push({ status: 'ok', name: `pod/${p.metadata.name}`, detail: `pod of Job ${owner.name} ${phase ?? 'unknown'}` })
      continue
    }
    if (phase !== 'Failed') continue
    const siblings = ix.pods.filter((q) => q !== p && owner && controllerOf(q)?.uid === owner.uid && ready(q))
    const detail = `${podReason(p)}${p.status?.message ? ` (${String(p.status.message).slice(0, 80)})` : ''}`
    if (siblings.length) notes.push({ status: 'ok', name: `pod/${p.metadata.name}`, detail: `${detail}; ${owner!.kind} ${owner!.name} replaced it (${siblings[0]!.metadata.name} Ready)` })
    else notes.push({ status: 'warn', name: `pod/${p.metadata.name}`, detail: `${detail}; no Ready replacement${owner && judged.has(owner.uid) ? '' : ' and no workload of the release owns it'}` })
  }
  return notes
}

/** Judge every workload of a `kubectl get <WORKLOAD_KINDS> -o json` list; the release fails when one fails. */
export function judgeRelease(items: KubeObject[]): ReleaseVerdict {
  const byUid = new Map(items.filter((o) => o.metadata.uid).map((o) => [o.metadata.uid!, o]))
  const hpas = items.filter((o) => o.kind === 'HorizontalPodAutoscaler')
  const ix: Index = {
    pods: items.filter((o) => o.kind === 'Pod' && !o.metadata.annotations?.['helm.sh/hook']),
    byUid,
    hpaFor: (kind, name) => hpas.find((h) => h.spec?.scaleTargetRef?.kind === kind && h.spec?.scaleTargetRef?.name === name),
  }
  const workloads = items.filter((o) => o.kind && JUDGES[o.kind])
  const judged = new Set<string>()
  for (const w of workloads) {
    judged.add(w.metadata.uid ?? '')
    for (const rs of items.filter((o) => o.kind === 'ReplicaSet' && controllerOf(o)?.uid === w.metadata.uid)) judged.add(rs.metadata.uid ?? '')
  }
  return { workloads: workloads.map((w) => JUDGES[w.kind!]!(w, ix)), pods: podNotes(ix, judged) }
}
