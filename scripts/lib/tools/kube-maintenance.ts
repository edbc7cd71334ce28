// A StatefulSet the kit scaled to 0 for an offline maintenance window (the Neo4j dump/load) carries
// an annotation with the run, the time and the replicas to come back to. Whoever finds it still at
// 0 replicas with no kit run holding it (the next backup run, validate-prod) scales it back: a
// killed run must not leave the graph database down.
import type { Ctx } from '../core/context.ts'

export const SCALED_DOWN_ANNOTATION = 'owp.io/scaled-down-by-backup'

export interface ScaledDown { statefulset: string; replicas: number; run: string; at: string; current: number }

interface StsJson { items?: { metadata: { name: string; annotations?: Record<string, string> }; spec?: { replicas?: number } }[] }

/** StatefulSets of `kubectl get statefulsets -o json` that the kit scaled down and that are still down. */
export function scaledDown(json: string): ScaledDown[] {
  const out: ScaledDown[] = []
  for (const s of (JSON.parse(json || '{}') as StsJson).items ?? []) {
    const note = s.metadata.annotations?.[SCALED_DOWN_ANNOTATION]
    if (!note) continue
    let v: { run?: string; at?: string; replicas?: number } = {}
    try { v = JSON.parse(note) } catch { /* a hand-edited value: come back to 1 */ }
    out.push({ statefulset: s.metadata.name, replicas: Math.max(1, Number(v.replicas ?? 1)), run: v.run ?? '?', at: v.at ?? '?', current: s.spec?.replicas ?? 0 })
  }
  return out
}

/** The annotation value written before scaling down. */
export function scaledDownNote(run: string, replicas: number, at = new Date()): string {
  return JSON.stringify({ run, at: at.toISOString(), replicas })
}

/**
 * Scale back every StatefulSet of the release the kit left scaled down, remove leftover
 * maintenance pods, clear the annotation. Returns what was repaired (one line each).
 */
export async function repairScaledDown(ctx: Ctx, kubectl: string[], namespace: string, release: string): Promise<string[]> {
  const r = await ctx.exec([...kubectl, 'get', 'statefulsets', '-n', namespace, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'json'], { timeout: 60_000 })
  const done: string[] = []
  for (const s of scaledDown(r.stdout)) {
    await ctx.exec([...kubectl, 'delete', 'pods', '-n', namespace, '-l', `app.kubernetes.io/instance=${release},owp.io/maintenance-of=${s.statefulset}`, '--ignore-not-found', '--wait=true'], { mutates: true, timeout: 300_000 })
    if (s.current === 0) await ctx.exec([...kubectl, 'scale', `statefulset/${s.statefulset}`, '-n', namespace, `--replicas=${s.replicas}`], { mutates: true, timeout: 120_000 })
    await ctx.exec([...kubectl, 'annotate', `statefulset/${s.statefulset}`, '-n', namespace, `${SCALED_DOWN_ANNOTATION}-`], { mutates: true, timeout: 60_000 })
    done.push(s.current === 0
      ? `statefulset ${s.statefulset} was left at 0 replicas by backup run ${s.run} (${s.at}): scaled back to ${s.replicas}`
      : `statefulset ${s.statefulset} carried the mark of backup run ${s.run} (${s.at}) at ${s.current} replicas: mark removed`)
  }
  for (const d of done) ctx.log.warn(d)
  return done
}
