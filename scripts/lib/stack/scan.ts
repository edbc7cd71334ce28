// make scan: trivy config scans (chart, compose stack, Dockerfiles) and image scans of what
// build-images produced, failing on HIGH/CRITICAL; npm audit of the kit's production dependencies.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { probe, exitCodeAndWhy } from '../core/exec.ts'
import { ROOT, CHART_DIR } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'

export const TRIVY_INSTALL_HINT = 'install trivy: https://trivy.dev/latest/getting-started/installation/ ' +
  '(Debian: add the aquasecurity apt repository, then apt-get install trivy; or brew install trivy)'

export type ScanStatus = 'ok' | 'fail' | 'skipped' | 'error'

export interface ScanResult {
  name: string
  kind: 'config' | 'image' | 'npm'
  target: string
  status: ScanStatus
  /** Findings at the failing severities, by severity. */
  counts: Record<string, number>
  detail: string
  findings?: Array<{ id: string; severity: string; title: string; where: string }>
}

export interface ScanOptions {
  severities: string[]
  images: string[]
  ignoreUnfixed?: boolean
  skipNpm?: boolean
  requireTrivy?: boolean
}

export function configTargets(): Array<{ name: string; target: string; argv: string[] }> {
  return [
    { name: 'chart', target: CHART_DIR, argv: ['config'] },
    // trivy has no compose misconfig checks: the compose dir gets the secret scanner and the
    // Dockerfile/Kubernetes checks of whatever it finds; compose hardening is tested in test/stack
    { name: 'compose stack', target: join(ROOT, 'compose'), argv: ['fs', '--scanners', 'misconfig,secret'] },
    { name: 'Dockerfiles', target: join(ROOT, 'docker'), argv: ['config', '--file-patterns', 'dockerfile:Dockerfile\\..*'] },
  ]
}

interface TrivyReport {
  Results?: Array<{
    Target?: string
    Misconfigurations?: Array<{ ID?: string; AVDID?: string; Severity: string; Title?: string; Status?: string }>
    Vulnerabilities?: Array<{ VulnerabilityID: string; Severity: string; Title?: string; PkgName?: string; InstalledVersion?: string }>
    Secrets?: Array<{ RuleID?: string; Severity: string; Title?: string; StartLine?: number }>
  }>
}

/** Findings of a trivy JSON report at the given severities (passed misconfig checks are not findings). */
export function trivyFindings(json: string, severities: string[]): NonNullable<ScanResult['findings']> {
  const report = JSON.parse(json || '{}') as TrivyReport
  const keep = new Set(severities)
  const out: NonNullable<ScanResult['findings']> = []
  for (const r of report.Results ?? []) {
    for (const m of r.Misconfigurations ?? []) if (m.Status !== 'PASS' && keep.has(m.Severity)) out.push({ id: m.AVDID ?? m.ID ?? '?', severity: m.Severity, title: m.Title ?? '', where: r.Target ?? '' })
    for (const v of r.Vulnerabilities ?? []) if (keep.has(v.Severity)) out.push({ id: v.VulnerabilityID, severity: v.Severity, title: `${v.PkgName ?? ''} ${v.InstalledVersion ?? ''}`.trim(), where: r.Target ?? '' })
    for (const s of r.Secrets ?? []) if (keep.has(s.Severity)) out.push({ id: s.RuleID ?? 'secret', severity: s.Severity, title: s.Title ?? '', where: `${r.Target ?? ''}${s.StartLine ? `:${s.StartLine}` : ''}` })
  }
  return out
}

function countBy(findings: Array<{ severity: string }>, severities: string[]): Record<string, number> {
  return Object.fromEntries(severities.map((s) => [s, findings.filter((f) => f.severity === s).length]))
}

function summarize(counts: Record<string, number>): string {
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`)
  return parts.length ? parts.join(', ') : 'no findings'
}

async function trivyScan(ctx: Ctx, name: string, kind: 'config' | 'image', target: string, args: string[], o: ScanOptions): Promise<ScanResult> {
  const argv = ['trivy', ...args, '--severity', o.severities.join(','), '--format', 'json', '--quiet', ...(kind === 'image' && o.ignoreUnfixed ? ['--ignore-unfixed'] : []), target]
  const r = await ctx.exec(argv, { allowFailure: true, timeout: 15 * 60_000 }).catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }))
  if (r.exitCode !== 0) return { name, kind, target, status: 'error', counts: {}, detail: `trivy exit ${exitCodeAndWhy(ctx, r, 1)}` }
  try {
    const findings = trivyFindings(r.stdout, o.severities)
    const counts = countBy(findings, o.severities)
    return { name, kind, target, status: findings.length ? 'fail' : 'ok', counts, detail: summarize(counts), findings }
  } catch {
    return { name, kind, target, status: 'error', counts: {}, detail: 'trivy printed no JSON report' }
  }
}

/** npm audit --omit=dev: the kit's own production dependencies. */
export async function npmAudit(ctx: Ctx, severities: string[]): Promise<ScanResult> {
  const r = await ctx.exec(['npm', 'audit', '--omit=dev', '--json'], { cwd: ROOT, allowFailure: true, timeout: 180_000 }).catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }))
  const levels = severities.map((s) => s.toLowerCase())
  try {
    const j = JSON.parse(r.stdout) as { metadata?: { vulnerabilities?: Record<string, number> }; error?: { summary?: string } }
    if (j.error) return { name: 'npm audit --omit=dev', kind: 'npm', target: 'package-lock.json', status: 'error', counts: {}, detail: auditError(j.error.summary ?? 'npm audit failed') }
    const v = j.metadata?.vulnerabilities ?? {}
    const counts = Object.fromEntries(levels.map((l) => [l.toUpperCase(), v[l] ?? 0]))
    const failing = Object.values(counts).some((n) => n > 0)
    return { name: 'npm audit --omit=dev', kind: 'npm', target: 'package-lock.json', status: failing ? 'fail' : 'ok', counts, detail: `${summarize(counts)}${v.total ? ` (${v.total} at any severity)` : ''}` }
  } catch {
    return { name: 'npm audit --omit=dev', kind: 'npm', target: 'package-lock.json', status: 'error', counts: {}, detail: auditError(r.exitCode === 0 ? 'npm audit printed no JSON report' : `npm audit exit ${exitCodeAndWhy(ctx, r, 1)}`) }
  }
}

// npm audit asks the registry: offline, say that plainly rather than npm's request dump.
function auditError(detail: string): string {
  return /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|request to \S+ failed|network|offline/i.test(detail)
    ? `not scanned: the npm registry cannot be reached (${detail.split('\n')[0]!.slice(0, 100)}); --skip-npm when offline`
    : detail
}

export interface ScanReport {
  /** Something was scanned and nothing failed or errored. */
  ok: boolean
  trivy: string | null
  results: ScanResult[]
  /** How many scans ran to a verdict (ok or fail). */
  scanned: number
  /** What could not be scanned, and why, one line each. */
  notScanned: string[]
}

export async function runScans(ctx: Ctx, o: ScanOptions): Promise<ScanReport> {
  const trivyVersion = await probe(ctx, ['trivy', '--version'])
  const trivy = trivyVersion ? (/Version:\s*(\S+)/.exec(trivyVersion)?.[1] ?? trivyVersion.split('\n')[0] ?? 'present') : null
  const jobs: Array<Promise<ScanResult>> = []
  if (trivy) {
    for (const t of configTargets()) {
      if (!existsSync(t.target)) { jobs.push(Promise.resolve({ name: t.name, kind: 'config', target: t.target, status: 'skipped', counts: {}, detail: 'not in this checkout' })); continue }
      jobs.push(trivyScan(ctx, t.name, 'config', t.target, t.argv, o))
    }
    for (const ref of o.images) {
      jobs.push((async () => {
        // only what build-images left on this engine: a scan must not pull from a registry
        const here = await probe(ctx, ['docker', 'image', 'inspect', '--format', '{{.Id}}', ref])
        if (!here) return { name: `image ${ref}`, kind: 'image', target: ref, status: 'skipped', counts: {}, detail: 'not on this Docker engine: run make build-images first' } satisfies ScanResult
        return trivyScan(ctx, `image ${ref}`, 'image', ref, ['image'], o)
      })())
    }
  } else {
    ctx.log.warn(`trivy is not installed: the config and image scans are skipped.\n  ${TRIVY_INSTALL_HINT}`)
    jobs.push(Promise.resolve({ name: 'trivy', kind: 'config', target: '', status: o.requireTrivy ? 'error' : 'skipped', counts: {}, detail: `trivy not installed: ${TRIVY_INSTALL_HINT}` }))
  }
  if (!o.skipNpm) jobs.push(npmAudit(ctx, o.severities))
  const results = await Promise.all(jobs)
  const scanned = results.filter((r) => r.status === 'ok' || r.status === 'fail').length
  const notScanned = results.filter((r) => r.status === 'skipped' || r.status === 'error').map((r) => `${r.name}: ${r.detail}`)
  return { ok: scanned > 0 && results.every((r) => r.status === 'ok' || r.status === 'skipped'), trivy, results, scanned, notScanned }
}
