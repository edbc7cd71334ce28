// Helm: version detection, the wait/rollback flags right for v3 or v4, argv builders, release state.
import { probe, failureReason, oneLine } from '../core/exec.ts'
import { KitError, UsageError } from '../core/errors.ts'
import { compareVersions, parseVersion } from '../core/preflight.ts'
import type { Ctx } from '../core/context.ts'

export interface HelmInfo {
  /** The helm program (argv[0]): `helm`, or HELM_BIN. */
  bin: string
  version: string
  major: 3 | 4
}

export const MIN_HELM = '3.14.0'
export const HELM_INSTALL_HINT = 'install helm (https://helm.sh/docs/intro/install/) or run make setup (puts helm v4 in .tools/bin)'

/** The helm program to run: HELM_BIN lets a user pick e.g. helm3 explicitly. */
export function helmBin(ctx: Ctx): string {
  return ctx.env.HELM_BIN || 'helm'
}

/** Ask the installed helm its version; null when it is missing. */
export async function detectHelm(ctx: Ctx): Promise<HelmInfo | null> {
  const bin = helmBin(ctx)
  const out = await probe(ctx, [bin, 'version', '--template', '{{.Version}}'])
  const version = out ? parseVersion(out) : null
  if (!version) return null
  const major = Number(version.split('.')[0])
  if (major !== 3 && major !== 4) throw new KitError(`unsupported helm ${version}: the kit drives helm v3 and v4`, 1, HELM_INSTALL_HINT)
  return { bin, version, major }
}

export async function requireHelm(ctx: Ctx): Promise<HelmInfo> {
  const h = await detectHelm(ctx)
  if (!h) throw new KitError(`${helmBin(ctx)} not found on PATH`, 1, HELM_INSTALL_HINT)
  if (compareVersions(h.version, MIN_HELM) < 0) throw new KitError(`helm ${h.version} is too old (need >= ${MIN_HELM})`, 1, HELM_INSTALL_HINT)
  return h
}

/**
 * Flags that make an upgrade wait for the workloads and undo itself on failure.
 * Helm 4: plain --wait means hookOnly and --atomic is deprecated, hence --wait=watcher --rollback-on-failure.
 */
export function upgradeSafetyFlags(h: HelmInfo): string[] {
  return h.major === 4 ? ['--wait=watcher', '--rollback-on-failure', '--cleanup-on-fail'] : ['--atomic', '--wait']
}

export function waitFlag(h: HelmInfo): string {
  return h.major === 4 ? '--wait=watcher' : '--wait'
}

/** Helm durations: 90s, 15m, 1h30m. */
export function checkDuration(text: string, flag = '--timeout'): string {
  if (!/^(\d+(ms|s|m|h))+$/.test(text)) throw new UsageError(`${flag} must be a duration like 90s, 15m or 1h30m (got "${text}")`)
  return text
}

export function durationMs(text: string): number {
  let ms = 0
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms']
  return ms
}

export interface ChartRelease {
  name: string
  namespace: string
  /** A local path, a chart name with `repo`, or an oci:// reference. */
  chart: string
  repo?: string
  version?: string
  valuesFiles?: string[]
  timeout: string
  historyMax?: number
  createNamespace?: boolean
}

export function upgradeArgv(h: HelmInfo, r: ChartRelease): string[] {
  return [
    h.bin, 'upgrade', '--install', r.name, r.chart,
    '--namespace', r.namespace,
    ...(r.createNamespace === false ? [] : ['--create-namespace']),
    ...(r.repo ? ['--repo', r.repo] : []),
    ...(r.version ? ['--version', r.version] : []),
    ...(r.valuesFiles ?? []).flatMap((f) => ['--values', f]),
    ...upgradeSafetyFlags(h),
    '--history-max', String(r.historyMax ?? 10),
    '--timeout', r.timeout,
  ]
}

export function rollbackArgv(h: HelmInfo, name: string, namespace: string, revision: number, timeout: string): string[] {
  return [h.bin, 'rollback', name, String(revision), '--namespace', namespace, waitFlag(h), '--cleanup-on-fail', '--timeout', timeout]
}

export function uninstallArgv(h: HelmInfo, name: string, namespace: string, timeout: string): string[] {
  return [h.bin, 'uninstall', name, '--namespace', namespace, waitFlag(h), '--timeout', timeout]
}

/** Offline render: the values are checked against values.schema.json and the objects inspected. */
export function templateArgv(h: HelmInfo, r: ChartRelease, apiVersions: string[] = []): string[] {
  return [
    h.bin, 'template', r.name, r.chart, '--namespace', r.namespace,
    ...(r.valuesFiles ?? []).flatMap((f) => ['--values', f]),
    ...apiVersions.flatMap((a) => ['--api-versions', a]),
  ]
}

export function historyArgv(h: HelmInfo, name: string, namespace: string): string[] {
  return [h.bin, 'history', name, '--namespace', namespace, '--max', '20', '--output', 'json']
}

export function listArgv(h: HelmInfo, name: string, namespace: string): string[] {
  // v4 dropped --all: name the states instead (valid in v3 and v4)
  return [h.bin, 'list', '--namespace', namespace, '--filter', `^${name}$`, '--deployed', '--failed', '--pending', '--output', 'json']
}

export function getValuesArgv(h: HelmInfo, name: string, namespace: string): string[] {
  return [h.bin, 'get', 'values', name, '--namespace', namespace, '--output', 'json']
}

export function testArgv(h: HelmInfo, name: string, namespace: string, timeout: string): string[] {
  return [h.bin, 'test', name, '--namespace', namespace, '--logs', '--timeout', timeout]
}

export interface HistoryEntry { revision: number; status: string; chart: string; app_version?: string; updated?: string; description?: string }

export interface ReleaseState {
  /** No release of that name: the next upgrade is a first install. */
  exists: boolean
  /** The revision serving now: what a failed validation rolls back to. */
  deployedRevision: number | null
  latest: HistoryEntry | null
  /** pending-install / pending-upgrade / pending-rollback: another operation holds the release. */
  pending: boolean
  /** The probe could not reach the cluster: unknown state. */
  unknown: boolean
  /** Why the state is unknown (helm's last line), for the report. */
  reason?: string
}

/** What the cluster knows about a release, from `helm history` (read-only). */
export async function releaseState(ctx: Ctx, h: HelmInfo, name: string, namespace: string): Promise<ReleaseState> {
  const r = await ctx.exec(historyArgv(h, name, namespace), { allowFailure: true, timeout: 30_000 }).catch((e: Error) => e)
  if (r instanceof Error) return { exists: false, deployedRevision: null, latest: null, pending: false, unknown: true, reason: oneLine(ctx.secrets.mask(r.message)) }
  if (r.exitCode !== 0) {
    // only helm's own answer proves there is no release; "not found" from the API server (a namespace, a CRD) does not
    if (/^Error: release: not found\s*$/m.test(r.stderr)) return { exists: false, deployedRevision: null, latest: null, pending: false, unknown: false }
    const reason = failureReason(ctx, r, 1)
    return { exists: false, deployedRevision: null, latest: null, pending: false, unknown: true, reason }
  }
  const entries = parseHistory(r.stdout)
  const latest = entries.at(-1) ?? null
  const deployed = [...entries].reverse().find((e) => e.status === 'deployed') ?? null
  return {
    exists: entries.length > 0,
    deployedRevision: deployed?.revision ?? null,
    latest,
    pending: latest ? latest.status.startsWith('pending') : false,
    unknown: false,
  }
}

export function parseHistory(text: string): HistoryEntry[] {
  try {
    const parsed = JSON.parse(text || '[]') as HistoryEntry[]
    return Array.isArray(parsed) ? parsed.sort((a, b) => a.revision - b.revision) : []
  } catch {
    return []
  }
}

export interface ListedRelease { name: string; namespace: string; revision: string | number; status: string; chart: string; app_version?: string }

export function parseList(text: string): ListedRelease[] {
  try {
    const parsed = JSON.parse(text || '[]') as ListedRelease[]
    return Array.isArray(parsed) ? parsed : []
  } catch {
    return []
  }
}
