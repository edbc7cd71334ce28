// Before an upgrade that changes the Open WebUI image (its database schema moves when the new
// version starts): a run of the chart's own PostgreSQL backup CronJob (the kit's verified backup),
// awaited before helm touches anything. A failed backup stops the deploy with the release untouched.
import { probe } from '../core/exec.ts'
import { kubectl } from '../tools/kube.ts'
import type { Step } from '../core/plan.ts'
import type { Ctx } from '../core/context.ts'

interface Obj { apiVersion?: string; kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; spec?: any }

export interface PreUpgradeBackup {
  /** The chart's PostgreSQL backup CronJob the Job is created from. */
  cronJob: string
  job: string
  /** The image running now ('unknown' when it could not be read) and the one the upgrade brings. */
  from: string
  to: string
}

const openwebuiImage = (d: Obj | undefined): string | undefined =>
  (d?.spec?.template?.spec?.containers as Array<{ name: string; image: string }> | undefined)?.find((c) => c.name === 'openwebui')?.image

/** The rendered Open WebUI Deployment and PostgreSQL backup CronJob, when the chart has both. */
export function preUpgradeTargets(objects: Obj[]): { deployment: string; image: string; cronJob: string } | null {
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata?.labels?.['app.kubernetes.io/component'] === 'openwebui')
  const cron = objects.find((o) => o.kind === 'CronJob' && o.metadata?.labels?.['app.kubernetes.io/store'] === 'postgres')
  const image = openwebuiImage(d)
  if (!d?.metadata?.name || !image || !cron?.metadata?.name) return null
  return { deployment: d.metadata.name, image, cronJob: cron.metadata.name }
}

/**
 * A backup is planned when the release serves an Open WebUI image other than the rendered one, or
 * when the running image cannot be read (the safe side); never on a first install (nothing to keep).
 */
export async function planPreUpgradeBackup(ctx: Ctx, objects: Obj[], o: { namespace: string; release: string; firstInstall: boolean }): Promise<PreUpgradeBackup | null> {
  const t = preUpgradeTargets(objects)
  if (!t || o.firstInstall) return null
  const out = await probe(ctx, kubectl('get', 'deployment', t.deployment, '--namespace', o.namespace, '--output', 'json', '--request-timeout', '15s'), 20_000)
  let from = 'unknown'
  if (out !== null) {
    try { from = openwebuiImage(JSON.parse(out) as Obj) ?? 'unknown' } catch { /* unreadable: back up */ }
  }
  if (from === t.image) return null
  const stamp = Math.floor(Date.now() / 1000).toString(36)
  return { cronJob: t.cronJob, job: `${o.release}-pre-upgrade-${stamp}`.slice(0, 63), from, to: t.image }
}

/** Create the Job from the CronJob, then wait for it to complete (or fail) within the deploy timeout. */
export function preUpgradeSteps(b: PreUpgradeBackup, namespace: string, timeout: string, timeoutMs: number): Step[] {
  return [{
    id: 'pre-upgrade-backup',
    title: `pre-upgrade PostgreSQL backup (Open WebUI ${b.from} -> ${b.to})`,
    argv: kubectl('create', 'job', b.job, `--from=cronjob/${b.cronJob}`, '--namespace', namespace),
    mutates: true,
  }, {
    id: 'pre-upgrade-backup-wait',
    title: `wait for backup job ${b.job}`,
    argv: kubectl('wait', `job/${b.job}`, '--for=condition=complete', '--namespace', namespace, `--timeout=${timeout}`),
    mutates: true,
    after: ['pre-upgrade-backup'],
    timeoutMs: timeoutMs + 30_000,
  }]
}
