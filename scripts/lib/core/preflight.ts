// Declarative preflight checks, run concurrently, each with its own timeout and an install hint.
import { statSync, accessSync, constants } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { portFree } from './net.ts'
import { KitError } from './errors.ts'
import { table } from './log.ts'
import { probe, probeWhy } from './exec.ts'
import type { Ctx } from './context.ts'

export interface CheckResult { ok: boolean; detail: string; warn?: boolean }

export interface Check {
  name: string
  /** What to do when it fails: an install command or the setting to change. */
  hint: string
  timeoutMs?: number
  /** A failing optional check warns instead of failing the run. */
  optional?: boolean
  run(ctx: Ctx): Promise<CheckResult>
}

export interface PreflightReport {
  ok: boolean
  results: Array<{ name: string; ok: boolean; warn: boolean; detail: string; hint?: string; durationMs: number }>
}

export class PreflightError extends KitError {
  constructor(readonly report: PreflightReport) {
    const failed = report.results.filter((r) => !r.ok && !r.warn)
    super(`preflight failed (${failed.length} of ${report.results.length} checks):\n` +
      failed.map((r) => `  - ${r.name}: ${r.detail}\n    hint: ${r.hint}`).join('\n'))
  }
}

export async function runPreflight(ctx: Ctx, checks: Check[], o: { skip?: boolean } = {}): Promise<PreflightReport> {
  if (o.skip) {
    ctx.log.warn(`preflight skipped (--skip-checks): ${checks.map((c) => c.name).join(', ')}`)
    return { ok: true, results: [] }
  }
  const step = ctx.log.step(`preflight: ${checks.length} checks`)
  const results = await Promise.all(checks.map(async (check) => {
    const started = performance.now()
    const r = await withTimeout(check.run(ctx), check.timeoutMs ?? 10_000)
      .catch((e: Error): CheckResult => ({ ok: false, detail: e.message }))
    const warn = !r.ok && (check.optional || r.warn === true)
    return { name: check.name, ok: r.ok, warn, detail: r.detail, hint: r.ok ? undefined : check.hint, durationMs: Math.round(performance.now() - started) }
  }))
  const report = { ok: results.every((r) => r.ok || r.warn), results }
  ctx.log.raw(table(['check', 'result', 'detail'], results.map((r) => [r.name, r.ok ? 'ok' : r.warn ? 'warn' : 'FAIL', r.detail])))
  for (const r of results) if (r.warn) ctx.log.warn(`${r.name}: ${r.detail} (hint: ${r.hint})`)
  if (!report.ok) { step.fail(); throw new PreflightError(report) }
  step.ok()
  return report
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms) }),
  ])
}

/** Compare dotted versions numerically: -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => parseInt(n, 10) || 0)
  const pb = b.split('.').map((n) => parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

/** The first x.y[.z] in a tool's version output. */
export function parseVersion(text: string): string | null {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1] ?? null
}

export function toolCheck(tool: string, o: { min?: string; versionArgv?: string[]; hint: string; optional?: boolean }): Check {
  return {
    name: `${tool}${o.min ? ` >= ${o.min}` : ''}`,
    hint: o.hint,
    optional: o.optional,
    async run(ctx) {
      const out = await probe(ctx, o.versionArgv ?? [tool, '--version'])
      if (out === null) return { ok: false, detail: `${tool} not found on PATH or not working` }
      const version = parseVersion(out)
      if (o.min && (!version || compareVersions(version, o.min) < 0)) return { ok: false, detail: `found ${version ?? 'unknown version'}, need >= ${o.min}` }
      return { ok: true, detail: version ?? 'present' }
    },
  }
}

export function dockerDaemonCheck(): Check {
  return {
    name: 'docker daemon',
    hint: 'start the Docker engine (systemctl start docker) or set DOCKER_HOST',
    async run(ctx) {
      const v = await probeWhy(ctx, ['docker', 'version', '--format', '{{.Server.Version}}'])
      return v.out ? { ok: true, detail: `engine ${v.out}` } : { ok: false, detail: `no Docker engine answers (${v.why})` }
    },
  }
}

export function kubeContextCheck(): Check {
  return {
    name: 'kubernetes cluster',
    hint: 'point KUBECONFIG at a reachable cluster (kubectl config use-context NAME)',
    timeoutMs: 15_000,
    async run(ctx) {
      const context = await probeWhy(ctx, ['kubectl', 'config', 'current-context'])
      if (!context.out) return { ok: false, detail: `no current kube context (${context.why ?? 'kubectl printed none'})` }
      const ready = await probeWhy(ctx, ['kubectl', 'get', '--raw', '/readyz', '--request-timeout=10s'], 12_000)
      return ready.out !== null ? { ok: true, detail: `context ${context.out}` } : { ok: false, detail: `context ${context.out} is not reachable (${ready.why})` }
    },
  }
}

export function diskCheck(path: string, minGiB: number): Check {
  return {
    name: `free disk at ${path} >= ${minGiB} GiB`,
    hint: `free space under ${path} (docker system prune, or move the data root)`,
    async run() {
      const s = await statfs(path)
      const gib = (s.bavail * s.bsize) / 2 ** 30
      return { ok: gib >= minGiB, detail: `${gib.toFixed(1)} GiB free` }
    },
  }
}

export function portsFreeCheck(ports: number[], host = '0.0.0.0'): Check {
  return {
    name: `ports ${ports.join(', ')} free`,
    hint: 'stop what listens there (ss -ltnp), or change the published ports in .env',
    async run() {
      const busy = (await Promise.all(ports.map(async (p) => ((await portFree(p, host)) ? null : p)))).filter((p) => p !== null)
      return busy.length ? { ok: false, detail: `in use: ${busy.join(', ')}` } : { ok: true, detail: 'free' }
    },
  }
}

/** A check from a plain predicate, for things like "env is valid". */
export function predicateCheck(name: string, hint: string, fn: (ctx: Ctx) => Promise<CheckResult> | CheckResult): Check {
  return { name, hint, run: async (ctx) => fn(ctx) }
}

export type PathKind = 'file' | 'dir'

/** What stands at a host path, as a problem, or null when it is a readable file/directory as wanted. */
export function pathProblem(path: string, want: PathKind): string | null {
  let st
  try { st = statSync(path) } catch { return `${path} does not exist` }
  if (want === 'file' && !st.isFile()) return `${path} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not a file`
  if (want === 'dir' && !st.isDirectory()) return `${path} is a file, not a directory`
  try { accessSync(path, constants.R_OK) } catch { return `${path} is not readable` }
  return null
}

/** Host paths a bind mount needs (Docker creates a directory at a missing path, silently). */
export function hostPathsCheck(name: string, hint: string, paths: Array<[string, PathKind]>): Check {
  return {
    name, hint,
    async run() {
      const problems = paths.map(([p, k]) => pathProblem(p, k)).filter((x): x is string => x !== null)
      return problems.length ? { ok: false, detail: problems.join('; ') } : { ok: true, detail: paths.map(([p]) => p).join(', ') }
    },
  }
}
