// Benchmark (never a test; needs root and the e2e engine, like `make e2e`): the `validate-prod`
// process against the running e2e stack (startup included) vs its slowest single check run alone,
// in-process, on the same stack. Checks run at once, so the slowest one should rule: goal <= 1.2x.
//   tsx bench/validate.bench.ts        (BENCH_ROUNDS=5 by default; brings the e2e stack up first)
import { createContext } from '../scripts/lib/core/context.ts'
import { table } from '../scripts/lib/core/log.ts'
import { checksFor, runChecks, type ValidationReport } from '../scripts/lib/validate/index.ts'
import { benchStack } from '../test/e2e/harness/bench.ts'
import { kitEnv } from '../test/e2e/harness/stack.ts'
import { runScript } from '../test/helpers/run-script.ts'
import { median } from '../test/load/fixture.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const bench = await benchStack('validate')
const { prepared, paths } = bench
const env = kitEnv(prepared.env)
const processMs: number[] = []
const aloneMs: number[] = []
let slowest = ''
try {
  const up = await runScript('scripts/deploy.ts', ['--docker-compose', '--yes', '--no-validate', '--env-file', paths.envFile], { env, timeoutMs: 900_000 })
  if (up.code !== 0) throw new Error(`deploy failed:\n${up.stderr.slice(-4000)}`)
  const kitCtx = createContext({ env: { ...process.env, ...env } })
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now()
    const r = await runScript('scripts/validate-prod.ts', ['--target', 'compose', '--env-file', paths.envFile, '--json'], { env, timeoutMs: 300_000 })
    processMs.push(performance.now() - t0)
    const report = JSON.parse(r.stdout) as ValidationReport
    if (!report.ok) throw new Error(`validation failed:\n${r.stderr.slice(-4000)}`)
    // the slowest check of this very run, run again alone
    slowest = report.results.reduce((a, b) => (b.durationMs > a.durationMs ? b : a)).name
    const { checks, cleanup } = await checksFor(kitCtx, { target: 'compose', envFile: paths.envFile })
    try {
      const t1 = performance.now()
      await runChecks(kitCtx, checks.filter((c) => c.name === slowest))
      aloneMs.push(performance.now() - t1)
    } finally { await cleanup() }
  }
} finally {
  await bench.done()
}

process.stdout.write(`${table(['validate-prod process', `slowest check alone (${slowest})`, 'ratio'], [
  [`${(median(processMs) / 1000).toFixed(2)} s`, `${(median(aloneMs) / 1000).toFixed(2)} s`, `${(median(processMs) / median(aloneMs)).toFixed(2)}x`],
])}\n`)
process.stdout.write(`raw (ms): process ${JSON.stringify(processMs.map(Math.round))}, alone ${JSON.stringify(aloneMs.map(Math.round))}; goal <= 1.2x\n`)
