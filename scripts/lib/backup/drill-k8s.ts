// The restore drill on Kubernetes (dr-drill --target k8s): the platform set restored into a scratch
// namespace beside production, with the kit's own helm and kubectl. The chart is installed there
// under the same release name with production's values cut down (no Ingress, no certificates, no
// backups, no monitoring objects, no LightLLM unless asked); CloudNativePG's Cluster bootstraps from
// production's own backups (recovery to the set's time, its own backups off); the other stores are
// restored by the kit's drivers into the fresh claims (file stores through a Job that mounts them).
// Then validate-prod against the scratch namespace, the content checked against the manifest, RTO
// and RPO reported and written, and the namespace removed in every path (Ctrl-C included).
// Production is only looked at (helm get values, Secrets it names, pods and claims listed).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { KitError, UsageError } from '../core/errors.ts'
import { CHART_DIR } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'
import { requireHelm, uninstallArgv, getValuesArgv, waitFlag, type HelmInfo } from '../tools/helm.ts'
import { privateTmp } from './staging.ts'
import { createTarget } from './targets.ts'
import { runRestore } from './restore.ts'
import { forgetStoppedWriters } from './writers.ts'
import { releaseClaims } from './claims.ts'
import { choosePlatformSet, listPlatformSets, type PlatformRef } from './platform.ts'
import { concludeDrill, renderDrillMetrics, validateAndCheck, writeDrillMetrics, type DrillMetrics, type DrillReport } from './drill.ts'
import { DATABASE_STORES, FILE_STORES, type Destination, type StoreName, type StoreSettings } from './types.ts'
import { failureReason } from '../core/exec.ts'

export interface K8sDrillOptions {
  dest: Destination
  from: string
  allowPartial?: boolean
  release: string
  namespace: string
  kubeContext?: string
  chart?: string
  settings: StoreSettings
  identity?: string
  withLlm?: boolean
  /** Seconds helm and the recovery may take to bring the scratch release up. */
  waitSeconds?: number
  metricsDir?: string
  /** Prometheus Pushgateway base URL (the chart's drill CronJob): the same metrics, pushed. */
  pushgateway?: string
  now?: () => Date
}

type Values = Record<string, any>

/** The scratch namespace: <namespace>-drill (a DNS label: at most 63 characters). */
export function scratchNamespace(namespace: string): string {
  const name = `${namespace.slice(0, 63 - '-drill'.length)}-drill`
  return name
}

/** The LLM endpoint of a drill without --with-llm: never resolves. */
export const DRILL_NO_LLM = 'http://no-llm-in-the-drill.invalid/v1'

/** Production's values cut down for the drill (a new object; production's are not changed). */
export function drillValues(prod: Values, o: { release: string; namespace: string; set: PlatformRef; withLlm?: boolean }): Values {
  const v: Values = structuredClone(prod ?? {})
  const at = (path: string[], value: unknown) => {
    let o2 = v
    for (const k of path.slice(0, -1)) o2 = (o2[k] = o2[k] && typeof o2[k] === 'object' ? o2[k] : {})
    o2[path.at(-1)!] = value
  }
  at(['ingress', 'enabled'], false)
  at(['gatewayAPI', 'enabled'], false)
  at(['tls', 'certManager', 'enabled'], false)
  at(['backup', 'enabled'], false)
  at(['drill', 'enabled'], false)
  // the NetworkPolicies of the scratch release let production's drill pod (and no other) reach its Qdrant
  at(['drill', 'scratchOf'], o.namespace)
  at(['tests', 'enabled'], false)
  at(['monitoring', 'serviceMonitor', 'enabled'], false)
  at(['monitoring', 'prometheusRule', 'enabled'], false)
  if (!o.withLlm) {
    at(['lightllm', 'enabled'], false)
    // the schema wants an endpoint when LightLLM is off: one that cannot resolve (RFC 2606 .invalid),
    // so that nothing the drill starts talks to production's or anyone's LLM; validation leaves the chat check out
    if (!v.openwebui?.llm?.baseUrl) at(['openwebui', 'llm', 'baseUrl'], DRILL_NO_LLM)
  }
  if (v.postgres?.mode === 'cnpg') {
    // the scratch Cluster recovers from production's backups to the set's time; it never backs up itself
    at(['postgres', 'cnpg', 'backup', 'enabled'], false)
    at(['postgres', 'cnpg', 'recovery'], { name: '', source: '', targetTime: '', active: false })
    at(['postgres', 'cnpg', 'bootstrapFrom'], { source: `${o.release}-postgres`, targetTime: o.set.time.toISOString().replace(/\.\d+Z$/, 'Z') })
  }
  return v
}

/** Names of the Secrets production's values point at (existingSecret and friends): the scratch release needs copies. */
export function secretsNamed(values: Values): string[] {
  const out = new Set<string>()
  const walk = (x: unknown, key = '') => {
    if (Array.isArray(x)) x.forEach((y) => walk(y))
    else if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) walk(y, k)
    else if (typeof x === 'string' && x && /^existing(Secret|SecretName)$/.test(key)) out.add(x)
  }
  walk(values)
  return [...out].sort()
}

/** A Secret as read from production, made fit to create in the scratch namespace (data only). */
export function copyOfSecret(secret: Values, namespace: string): Values {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret.metadata?.name, namespace, labels: { 'owp.io/drill-copy': 'true' } }, type: secret.type ?? 'Opaque', data: secret.data ?? {} }
}

/** What production looks like from outside: pods (uid, restarts, start) and claims (uid, phase). */
export async function k8sFingerprint(ctx: Ctx, kube: (...a: string[]) => string[], namespace: string): Promise<string> {
  const pods = await ctx.exec(kube('get', 'pods', '-n', namespace, '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.status.startTime} {.status.containerStatuses[*].restartCount}{"\\n"}{end}'), { timeout: 60_000 })
  const pvcs = await ctx.exec(kube('get', 'pvc', '-n', namespace, '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.status.phase}{"\\n"}{end}'), { timeout: 60_000 })
  const sorted = (s: string) => s.split('\n').filter(Boolean).sort().join('\n')
  return `${sorted(pods.stdout)}\n--\n${sorted(pvcs.stdout)}`
}

export async function runK8sDrill(ctx: Ctx, o: K8sDrillOptions): Promise<DrillReport> {
  const now = o.now ?? (() => new Date())
  const started = now()
  const t0 = performance.now()
  const scratch = scratchNamespace(o.namespace)
  if (scratch === o.namespace) throw new UsageError('the drill namespace must differ from production')
  const report: DrillReport = { ok: false, set: null, project: scratch, stores: 0, validate: 'not run', rtoSeconds: null, rpoSeconds: null, productionUntouched: null, restore: [], checks: [], failedChecks: [], line: '' }
  const set = choosePlatformSet(await listPlatformSets(ctx, o.dest), o.from, o.dest.url, Boolean(o.allowPartial))
  report.set = set.id
  report.rpoSeconds = Math.round((started.getTime() - set.time.getTime()) / 1000)
  const helm: HelmInfo = await requireHelm(ctx)
  const kube = (...a: string[]) => ['kubectl', ...(o.kubeContext ? ['--context', o.kubeContext] : []), ...a]
  const hctx = o.kubeContext ? ['--kube-context', o.kubeContext] : []
  const wait = o.waitSeconds ?? 900

  const before = await k8sFingerprint(ctx, kube, o.namespace)
  const prod = JSON.parse((await ctx.exec([...getValuesArgv(helm, o.release, o.namespace), ...hctx], { timeout: 60_000 })).stdout || '{}') as Values | null
  const dir = privateTmp(o.settings.env.BACKUP_STAGING_DIR ?? tmpdir(), 'owp-drill-k8s-')
  let tornDown = false
  const teardown = async () => {
    if (tornDown) return
    tornDown = true
    const step = ctx.log.step(`tearing down the scratch namespace ${scratch}`)
    await releaseClaims()
    // the namespace delete below removes what the uninstall leaves: its failure alone is no failed teardown
    await ctx.exec([...uninstallArgv(helm, o.release, scratch, '5m'), ...hctx], { mutates: true, allowFailure: true, timeout: 360_000 })
    const r = await ctx.exec(kube('delete', 'namespace', scratch, '--ignore-not-found', '--wait=true', '--timeout=600s'), { mutates: true, allowFailure: true, timeout: 660_000 })
    if (r.exitCode === 0) step.ok()
    else step.fail(failureReason(ctx, r))
    rmSync(dir, { recursive: true, force: true })
  }
  const unregister = ctx.cleanups.add(teardown)
  const rctx: Ctx = { ...ctx, yes: true } // the scratch namespace is the drill's own: no question to ask
  try {
    // Debris of a drill that was killed hard (SIGKILL leaves no cleanup): the scratch namespace's own.
    await ctx.exec(kube('delete', 'namespace', scratch, '--ignore-not-found', '--wait=true', '--timeout=600s'), { mutates: true, timeout: 660_000 })
    const target = createTarget({ kind: 'k8s', env: o.settings.env, namespace: scratch, release: o.release, kubeContext: o.kubeContext })
    forgetStoppedWriters(o.dest, target) // the record of a killed drill's writers went with its namespace
    await ctx.exec(kube('create', 'namespace', scratch), { mutates: true, title: `create namespace ${scratch}` })
    await ctx.exec(kube('label', 'namespace', scratch, `owp.io/drill-of=${o.namespace}`, `owp.io/drill-set=${set.id}`, 'app.kubernetes.io/managed-by=owp-kit'), { mutates: true })
    for (const name of secretsNamed(prod ?? {})) {
      const got = await ctx.exec(kube('get', 'secret', name, '-n', o.namespace, '-o', 'json'), { timeout: 60_000, allowFailure: true })
      if (got.exitCode !== 0) throw new KitError(`production's values name Secret ${name}, which kubectl cannot read in namespace ${o.namespace} (${failureReason(ctx, got)})`)
      await ctx.exec(kube('create', '-n', scratch, '-f', '-'), { mutates: true, input: JSON.stringify(copyOfSecret(JSON.parse(got.stdout), scratch)), title: `copy Secret ${name} into ${scratch}` })
    }
    const values = drillValues(prod ?? {}, { release: o.release, namespace: o.namespace, set, withLlm: o.withLlm })
    mkdirSync(dir, { recursive: true })
    const valuesFile = join(dir, 'drill-values.json')
    writeFileSync(valuesFile, JSON.stringify(values, null, 2), { mode: 0o600 }) // may hold secrets: private, removed at teardown
    await ctx.exec([helm.bin, 'install', o.release, o.chart ?? CHART_DIR, '--namespace', scratch, ...hctx, '--values', valuesFile, waitFlag(helm), '--timeout', `${wait}s`],
      { mutates: true, timeout: (wait + 120) * 1000, title: `install ${o.release} into ${scratch}${values.postgres?.cnpg?.bootstrapFrom ? ` (Cluster recovered to ${values.postgres.cnpg.bootstrapFrom.targetTime})` : ''}` })

    const settings: StoreSettings = { ...o.settings, maintenanceWindow: true, envFile: null, identity: o.identity }
    const cnpg = values.postgres?.mode === 'cnpg'
    // CloudNativePG brought PostgreSQL back from its own backups: the dump part is not restored over it
    const parts: StoreName[] = set.parts.map((p) => p.store).filter((s) => s !== 'config' && !(cnpg && s === 'postgres'))
    const restoreParts = async (list: StoreName[]) => {
      if (!list.length) return
      const r = await runRestore(rctx, { stores: list, explicit: true, from: set.id, target, dest: o.dest, settings, identity: o.identity, allowPartial: o.allowPartial })
      report.restore.push(...r.stores)
      if (!r.ok) throw new KitError(`the restore into ${scratch} failed: ${r.stores.filter((x) => !x.ok).map((x) => `${x.store}: ${x.error}`).join('; ')}`)
    }
    await restoreParts(parts.filter((s) => (DATABASE_STORES as readonly string[]).includes(s)))
    await restoreParts(parts.filter((s) => (FILE_STORES as readonly string[]).includes(s)))
    report.stores = set.parts.length

    await validateAndCheck(ctx, report, {
      validate: { target: 'k8s', namespace: scratch, release: o.release, env: { LIGHTLLM_ENABLED: o.withLlm ? 'true' : 'false' }, skipComponents: o.withLlm ? [] : ['llm'] },
      t0, set, parts, rctx, run: { target, dir, scratch: dir, id: set.id, settings, verify: true },
    })
  } catch (e) {
    report.error = ctx.secrets.mask(e instanceof Error ? e.message : String(e))
  } finally {
    await teardown()
    unregister()
  }
  await concludeDrill(ctx, report, before, () => k8sFingerprint(ctx, kube, o.namespace))
  const m: DrillMetrics = { success: report.ok, at: now(), rtoSeconds: report.rtoSeconds, rpoSeconds: report.rpoSeconds, setTime: set.time }
  if (o.metricsDir && !ctx.dryRun) {
    try { report.metricsFile = writeDrillMetrics(o.metricsDir, m) } catch (e) { ctx.log.warn(`could not write drill metrics: ${(e as Error).message}`) }
  }
  if (o.pushgateway && !ctx.dryRun) {
    try { await pushDrillMetrics(o.pushgateway, m) } catch (e) { ctx.log.warn(`could not push drill metrics: ${(e as Error).message}`) }
  }
  return report
}

/** The job label of the drill's pushed series (a CronJob has no node-exporter textfile directory). */
export const DRILL_PUSH_JOB = 'dr-drill'

/** Push the drill's metrics to a Pushgateway; a failed drill keeps the last success read back from it. */
export async function pushDrillMetrics(base: string, m: DrillMetrics, timeoutMs = 10_000): Promise<string> {
  const root = base.replace(/\/+$/, '')
  const group = `${root}/metrics/job/${DRILL_PUSH_JOB}`
  const call = async (url: string, init: RequestInit) => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }).catch((e: Error) => { throw new KitError(`cannot reach the Pushgateway at ${url}: ${e.message}`) })
    const body = await res.text()
    if (!res.ok) throw new KitError(`the Pushgateway refused ${init.method} ${url}: HTTP ${res.status} ${body.trim().slice(0, 200)}`)
    return body
  }
  const previous = m.success ? '' : (await call(`${root}/metrics`, { method: 'GET' })).split('\n')
    .map((l) => /^(dr_drill_[a-z_]+)\{([^}]*)\}\s+(\S+)/.exec(l)).filter((x): x is RegExpExecArray => Boolean(x && x[2]!.includes(`job="${DRILL_PUSH_JOB}"`)))
    .map((x) => `${x[1]} ${Number(x[3])}`).join('\n')
  await call(group, { method: 'PUT', body: renderDrillMetrics(m, previous), headers: { 'Content-Type': 'text/plain; version=0.0.4' } })
  return group
}
