// Benchmark (never a test; needs root and the e2e engine, like `make e2e`): `deploy.ts
// --docker-compose` of the e2e stack against bare `docker compose up -d --wait` of the same files on
// the same engine, interleaved, from nothing and again with nothing changed. Prints both ratios,
// the raw medians and the kit's own overhead (its wall time minus compose's and validation's).
// Goals: <= 1.05x from nothing; own overhead <= 1 s.
//   tsx bench/deploy.bench.ts          (BENCH_ROUNDS=2 by default; each round brings the stack up twice)
import { join } from 'node:path'
import { table } from '../scripts/lib/core/log.ts'
import { benchStack } from '../test/e2e/harness/bench.ts'
import { kitEnv, composeArgv, removeProject } from '../test/e2e/harness/stack.ts'
import { runScript } from '../test/helpers/run-script.ts'
import { median } from '../test/load/fixture.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const bench = await benchStack('deploy')
const { ctx, prepared, paths } = bench

interface Outcome { ok: boolean; summary: string; steps: Array<{ id: string; durationMs: number }> }
const samples = { kitFresh: [] as number[], kitSame: [] as number[], bareFresh: [] as number[], bareSame: [] as number[], overheadFresh: [] as number[], overheadSame: [] as number[] }

async function kitDeploy(fresh: boolean): Promise<void> {
  const t0 = performance.now()
  const r = await runScript('scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--json'], { env: kitEnv(prepared.env), timeoutMs: 900_000 })
  const wall = performance.now() - t0
  const out = JSON.parse(r.stdout) as Outcome
  if (!out.ok) throw new Error(`deploy failed: ${out.summary}\n${r.stderr.slice(-4000)}`)
  // what compose and validation took inside the kit's run; the rest is the kit's own
  const theirs = out.steps.filter((s) => ['pull', 'build', 'up', 'wait', 'validate'].includes(s.id)).reduce((a, s) => a + s.durationMs, 0)
  ;(fresh ? samples.kitFresh : samples.kitSame).push(wall)
  ;(fresh ? samples.overheadFresh : samples.overheadSame).push(wall - theirs)
}

async function bareUp(fresh: boolean): Promise<void> {
  const t0 = performance.now()
  await ctx.exec(composeArgv(paths.envFile, 'up', '-d', '--wait'), { env: { ...process.env, ...prepared.env }, timeout: 900_000 })
  ;(fresh ? samples.bareFresh : samples.bareSame).push(performance.now() - t0)
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    // interleaved, the order swapped every round: neither side always gets the warmer engine
    const sides = round % 2 ? [bareUp, kitDeploy] : [kitDeploy, bareUp]
    for (const side of sides) {
      await removeProject(ctx, prepared.env)
      await side(true)
      await side(false)
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
  }
} finally {
  await bench.done()
}

const s = (ms: number[]) => `${(median(ms) / 1000).toFixed(1)} s`
process.stdout.write(`${table(['', 'kit (deploy.ts)', 'bare compose up --wait', 'ratio', 'kit own overhead'], [
  ['from nothing', s(samples.kitFresh), s(samples.bareFresh), `${(median(samples.kitFresh) / median(samples.bareFresh)).toFixed(2)}x`, s(samples.overheadFresh)],
  ['nothing changed', s(samples.kitSame), s(samples.bareSame), `${(median(samples.kitSame) / median(samples.bareSame)).toFixed(2)}x`, s(samples.overheadSame)],
])}\n`)
process.stdout.write(`raw (ms): ${JSON.stringify(Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map(Math.round)])))}\n`)
process.stdout.write(`goals: from nothing <= 1.05x, own overhead <= 1 s (validation is counted apart: ${join('bench', 'validate.bench.ts')} times it)\n`)
