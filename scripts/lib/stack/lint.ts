// make lint: every manifest the kit ships, checked by the real tools, concurrently.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { CHART_DIR, COMPOSE_FILE, ROOT, ENV_EXAMPLE } from '../core/paths.ts'
import { lintMonitoring } from '../monitoring/lint.ts'
import { loadCompose, composeEnvironment } from './env.ts'
import { checkComposePolicy } from './compose-policy.ts'
import { lintDockerfileFile } from './dockerfile-lint.ts'
import { readSchema } from '../core/config.ts'
import { table } from '../core/log.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason } from '../core/exec.ts'

export interface LintCheck { name: string; ok: boolean; problems: string[]; durationMs: number }
export interface LintReport { ok: boolean; checks: LintCheck[] }

// The schema's defaults plus stand-ins for the required values: enough to interpolate the compose file.
const REQUIRED_STAND_INS: Record<string, string> = {
  DOMAIN: 'chat.example.com', WEBUI_SECRET_KEY: 'lint', POSTGRES_PASSWORD: 'lint', REDIS_PASSWORD: 'lint',
  QDRANT_API_KEY: 'lint', NEO4J_PASSWORD: 'lint-lint', GRAPHRAG_API_KEY: 'lint', GRAFANA_ADMIN_PASSWORD: 'lint',
}

/** A table of the checks on stderr, then every problem of the failed ones. */
export function logChecks(ctx: Ctx, checks: LintCheck[]): void {
  ctx.log.raw(table(['check', 'result', 'time'], checks.map((c) => [c.name, c.ok ? 'ok' : `${c.problems.length} problem(s)`, `${c.durationMs}ms`])))
  for (const c of checks.filter((x) => !x.ok)) {
    ctx.log.error(c.name)
    for (const p of c.problems) ctx.log.raw(`    ${p}`)
  }
}

async function timed(name: string, fn: () => Promise<string[]> | string[]): Promise<LintCheck> {
  const started = performance.now()
  const problems = await Promise.resolve().then(fn).catch((e: Error) => [e.message])
  return { name, ok: problems.length === 0, problems, durationMs: Math.round(performance.now() - started) }
}

/** `helm lint --strict` of the chart with each ci/ scenario, with one helm binary. */
export async function helmLint(ctx: Ctx, helm: string): Promise<string[]> {
  const scenarios = readdirSync(join(CHART_DIR, 'ci')).filter((f) => f.endsWith('.yaml')).sort()
  const results = await Promise.all(scenarios.map(async (s) => {
    const r = await ctx.exec([helm, 'lint', '--strict', CHART_DIR, '-f', join(CHART_DIR, 'ci', s)], { allowFailure: true, timeout: 60_000 })
    if (r.exitCode === 0) return []
    const found = (r.stdout + r.stderr).trim().split('\n').filter((l) => /\[(ERROR|WARNING)\]|Error/.test(l)).join('; ')
    // no finding to quote (helm missing or broken): why the command failed
    return [`${s}: ${found ? ctx.secrets.mask(found) : failureReason(ctx, r)}`]
  }))
  return results.flat()
}

export async function lintAll(ctx: Ctx): Promise<LintReport> {
  const defaults = Object.entries(readSchema().properties).filter(([, p]) => p.default !== undefined).map(([k, p]) => [k, String(p.default)])
  const env = composeEnvironment({ ...Object.fromEntries(defaults), ...REQUIRED_STAND_INS })
  const checks = await Promise.all([
    timed('chart: helm v4 lint --strict (every ci/ scenario)', () => helmLint(ctx, 'helm')),
    timed('chart: helm v3 lint --strict (every ci/ scenario)', () => helmLint(ctx, 'helm3')),
    timed('compose: house policy', () => checkComposePolicy(loadCompose(env).doc).map((p) => p.message)),
    timed('compose: docker-compose config', async () => {
      const r = await ctx.exec(['docker-compose', '-f', COMPOSE_FILE, '--env-file', ENV_EXAMPLE, 'config', '--quiet'],
        { allowFailure: true, env: { ...env, PUBLIC_URL: 'https://chat.example.com' }, timeout: 60_000 })
      return r.exitCode === 0 ? [] : failureReason(ctx, r, Infinity, '\n').split('\n')
    }),
    timed('Dockerfiles', () => readdirSync(join(ROOT, 'docker')).filter((f) => /^Dockerfile(\.[a-z0-9-]+)?$/.test(f))
      .flatMap((f) => lintDockerfileFile(join(ROOT, 'docker', f)).map((p) => `${f}:${p.line} ${p.message}`))),
    lintMonitoring(ctx).then((r): LintCheck => ({
      name: "monitoring: promtool, amtool (compose's config, the chart's AlertmanagerConfig), dashboards, PromQL, catalogue, chart copies",
      ok: r.ok,
      problems: r.checks.filter((c) => !c.ok).flatMap((c) => c.problems.map((p) => `${c.name}: ${p}`)),
      durationMs: Math.max(...r.checks.map((c) => c.durationMs)),
    })),
  ])
  return { ok: checks.every((c) => c.ok), checks }
}
