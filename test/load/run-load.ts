// Run the load tester in-process with CLI-style argv, as scripts/load-test.ts would.
import { parseArgs } from 'node:util'
import { commonOptions } from '../../scripts/lib/cli.ts'
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

export async function runLoad(argv: string[], env: Record<string, string> = {}): Promise<LoadRun> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...loadTestOptions, ...commonOptions }, allowPositionals: true, strict: true })
  const ctx = testCtx({ env, dryRun: Boolean(values['dry-run']) })
  const out = await loadTest(ctx, values as Flags, positionals)
  const doc = out.data as LoadTestDocument
  const phase = <T>(mode: string) => {
    const p = doc.phases.find((x) => x.mode === mode)
    if (!p) throw new Error(`no ${mode} phase in ${JSON.stringify(doc)}`)
    return p as T
  }
  return { exitCode: out.exitCode ?? 0, doc, text: out.text ?? '', ctx, http: () => phase<HttpSummary>('http'), llm: () => phase<LlmSummary>('llm') }
}
