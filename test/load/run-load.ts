// Run the load tester in-process with CLI-style argv, as scripts/load-test.ts would.
import { parseArgs } from 'node:util'
import { commonOptions } from '../../scripts/lib/core/cli.ts'
import { loadTestOptions } from '../../scripts/lib/load/options.ts'
import { loadTest } from '../../scripts/lib/load/run.ts'
import type { LoadTestDocument } from '../../scripts/lib/load/export.ts'
import type { HttpSummary, LlmSummary } from '../../scripts/lib/load/summary.ts'
import type { Flags } from '../../scripts/lib/load/plan.ts'
import { testCtx, type TestCtx } from '../helpers/context.ts'

export interface LoadRun {
  exitCode: number
  doc: LoadTestDocument
  text: string
  ctx: TestCtx
  http(): HttpSummary
  llm(): LlmSummary
}

export async function runLoad(argv: string[], env: Record<string, string> = {}, o: { cwd?: string } = {}): Promise<LoadRun> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...loadTestOptions, ...commonOptions }, allowPositionals: true, strict: true })
  const ctx = testCtx({ env, dryRun: Boolean(values['dry-run']), cwd: o.cwd })
  const out = await loadTest(ctx, values as Flags, positionals)
  const doc = out.data as LoadTestDocument
  const phase = <T>(mode: string) => {
    const p = doc.phases.find((x) => x.mode === mode)
    if (!p) throw new Error(`no ${mode} phase in ${JSON.stringify(doc)}`)
    return p as T
  }
  return { exitCode: out.exitCode ?? 0, doc, text: out.text ?? '', ctx, http: () => phase<HttpSummary>('http'), llm: () => phase<LlmSummary>('llm') }
}

/** The whole CLI in-process (runMain: parsing, exit codes, stdout/stderr), output captured. */
export async function runCli(argv: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { runMain } = await import('../../scripts/lib/core/cli.ts')
  const { usage } = await import('../../scripts/lib/load/options.ts')
  let stdout = ''
  let stderr = ''
  const out = process.stdout.write
  const err = process.stderr.write
  const saved: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(env)) { saved[k] = process.env[k]; if (v === undefined) delete process.env[k]; else process.env[k] = v }
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += String(chunk); return true }) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true }) as typeof process.stderr.write
  try {
    const code = await runMain(usage, loadTestOptions, (ctx, flags, positionals) => loadTest(ctx, flags, positionals), { argv, positionals: true })
    return { code, stdout, stderr }
  } finally {
    process.stdout.write = out
    process.stderr.write = err
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  }
}
