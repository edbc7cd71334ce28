// The real Prometheus tools: promtool, amtool, blackbox_exporter, and a throwaway Prometheus
// on 127.0.0.1 that judges PromQL. A missing tool fails loudly with its install hint.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { freePort } from '../core/net.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument } from 'yaml'
import { KitError } from '../core/errors.ts'
import { failureReason, probe } from '../core/exec.ts'
import { PROMETHEUS_CONFIG, RULES_DIR } from './config.ts'
import type { Ctx } from '../core/context.ts'

export const TOOLS = {
  promtool: { bin: 'promtool', pkg: 'prometheus' },
  prometheus: { bin: 'prometheus', pkg: 'prometheus' },
  amtool: { bin: 'amtool', pkg: 'prometheus-alertmanager' },
  alertmanager: { bin: 'prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
  blackbox: { bin: 'prometheus-blackbox-exporter', pkg: 'prometheus-blackbox-exporter' },
} as const
export type Tool = keyof typeof TOOLS

export async function requireTool(ctx: Ctx, tool: Tool): Promise<string> {
  const { bin, pkg } = TOOLS[tool]
  const path = await probe(ctx, ['sh', '-c', 'command -v "$1"', 'sh', bin])
  if (!path) throw new KitError(`${bin} is not installed: run make setup (or apt-get install -y ${pkg})`, 1, `make setup (or: apt-get install -y ${pkg})`)
  return path
}

export interface ToolRun { ok: boolean; output: string }

async function runTool(ctx: Ctx, tool: Tool, args: string[]): Promise<ToolRun> {
  await requireTool(ctx, tool)
  const r = await ctx.exec([TOOLS[tool].bin, ...args], { allowFailure: true, timeout: 120_000 })
  const output = `${r.stdout}${r.stderr}`.trim()
  if (r.exitCode === 0) return { ok: true, output }
  // every line it printed (masked), else its exit code: a failure is never an empty list of problems
  const why = failureReason(ctx, { exitCode: r.exitCode, stdout: output, stderr: '' }, Infinity, '\n')
  return { ok: false, output: output ? why : `${TOOLS[tool].bin}: ${why}` }
}

export const promtoolCheckConfig = (ctx: Ctx, file: string) => runTool(ctx, 'promtool', ['check', 'config', file])
export const promtoolCheckRules = (ctx: Ctx, files: string[]) => runTool(ctx, 'promtool', ['check', 'rules', ...files])
/** One promtool run over every test file: much faster than one run per alert. */
export const promtoolTestRules = (ctx: Ctx, files: string[]) => runTool(ctx, 'promtool', ['test', 'rules', ...files])
export const amtoolCheckConfig = (ctx: Ctx, file: string) => runTool(ctx, 'amtool', ['check-config', file])
export const blackboxCheckConfig = (ctx: Ctx, file: string) => runTool(ctx, 'blackbox', ['--config.check', `--config.file=${file}`])

/** The receivers Alertmanager routes an alert with these labels to, in order. */
export async function amtoolRoutes(ctx: Ctx, file: string, labels: Record<string, string>): Promise<string[]> {
  const r = await runTool(ctx, 'amtool', ['config', 'routes', 'test', `--config.file=${file}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)])
  if (!r.ok) throw new KitError(`amtool config routes test failed:\n${r.output}`)
  const line = r.output.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:')).pop() ?? ''
  return line.split(',').map((s) => s.trim()).filter(Boolean)
}

/**
 * A copy of prometheus.prod.yml that promtool can check here: container paths (rule files,
 * the Qdrant key secret) point at the repository's rules and a placeholder file.
 */
export function localPrometheusConfig(dir: string, source = PROMETHEUS_CONFIG, rulesDir = RULES_DIR): string {
  const doc = parseDocument(readFileSync(source, 'utf8'))
  doc.set('rule_files', [join(rulesDir, '*.yml')])
  const secret = join(dir, 'secret')
  writeFileSync(secret, 'placeholder\n')
  const text = doc.toString({ lineWidth: 0 }).replace(/credentials_file: \/run\/secrets\/\S+/g, `credentials_file: ${secret}`)
  const file = join(dir, 'prometheus.yml')
  writeFileSync(file, text)
  return file
}

export interface Throwaway { url: string; pid: number; stop(): Promise<void> }

/**
 * Start a real Prometheus with an empty config and temp storage on a free 127.0.0.1 port.
 * A server is not a command that ends, so it is spawned here (own process group, killed by
 * PID on stop, on Ctrl-C through ctx.children and on failure through ctx.cleanups).
 */
export async function startThrowawayPrometheus(ctx: Ctx, timeoutMs = 30_000): Promise<Throwaway> {
  const bin = await requireTool(ctx, 'prometheus')
  const dir = mkdtempSync(join(tmpdir(), 'owp-prom-'))
  writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  evaluation_interval: 1m\n')
  const port = await freePort()
  const child = spawn(bin, [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  let log = ''
  child.stderr?.on('data', (d) => { log += d })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let dead = false
  void exited.then(() => { dead = true })
  const kill = () => { try { process.kill(-child.pid!, 'SIGTERM') } catch { /* gone */ } }
  const unChild = ctx.children.add(kill)
  const stop = async () => {
    unChild(); unCleanup()
    if (!dead) {
      kill()
      const hard = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, 5000)
      await exited
      clearTimeout(hard)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const unCleanup = ctx.cleanups.add(stop)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (dead) { await stop(); throw new KitError(`prometheus exited before it was ready:\n${log.trim()}`) }
    try {
      const r = await fetch(`${url}/-/ready`)
      if (r.ok) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new KitError(`prometheus not ready on ${url} after ${timeoutMs}ms:\n${log.trim()}`) }
    await new Promise((r) => setTimeout(r, 100))
  }
  ctx.log.debug(`throwaway prometheus pid ${child.pid} on ${url}`)
  return { url, pid: child.pid!, stop }
}

export interface QueryVerdict { ok: boolean; error?: string }

/** Ask a real Prometheus to evaluate an expression: bad PromQL answers bad_data. */
export async function prometheusAccepts(url: string, expr: string): Promise<QueryVerdict> {
  const body = new URLSearchParams({ query: expr })
  const r = await fetch(`${url}/api/v1/query`, { method: 'POST', body })
  const json = await r.json() as { status: string; errorType?: string; error?: string }
  return json.status === 'success' ? { ok: true } : { ok: false, error: `${json.errorType}: ${json.error}` }
}
