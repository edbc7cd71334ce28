// Benchmark: validate-prod's wall time vs its slowest check, against real local HTTP servers that
// answer after 50-800 ms (goal: ratio <= 1.2; checks run concurrently, so the slowest one rules).
// Run: tsx bench/validate.bench.ts [checks]
import { runChecks, type HealthCheck } from '../scripts/lib/validate/index.ts'
import { httpCheck } from '../scripts/lib/validate/probes.ts'
import { testCtx } from '../test/helpers/context.ts'
import { httpServer, health, type TestServer } from '../test/deploy/servers.ts'

const n = Number(process.argv[2] ?? 12)
const delays = Array.from({ length: n }, (_, i) => 50 + Math.round((750 * i) / Math.max(1, n - 1)))
const servers: TestServer[] = await Promise.all(delays.map((d) => httpServer(health(d))))
try {
  const checks: HealthCheck[] = servers.map((s, i) => ({
    name: `svc-${i} (${delays[i]}ms)`, component: 'bench', critical: true,
    run: (a) => httpCheck({ url: `${s.url}/health` }, a),
  }))
  const ctx = testCtx()
  await runChecks(ctx, checks.slice(0, 1), { retries: 0 }) // warm up the HTTP client
  const t0 = performance.now()
  const results = await runChecks(ctx, checks, { retries: 0, timeoutMs: 5000 })
  const wall = performance.now() - t0
  const bad = results.filter((r) => r.status !== 'ok')
  if (bad.length) throw new Error(`checks failed: ${bad.map((r) => `${r.name}: ${r.detail}`).join('; ')}`)
  const slowest = Math.max(...results.map((r) => r.durationMs))
  const sum = results.reduce((a, r) => a + r.durationMs, 0)
  console.log(`${n} checks, server delays ${delays[0]}..${delays.at(-1)}ms`)
  console.log(`wall ${Math.round(wall)}ms, slowest check ${slowest}ms, sequential sum ${sum}ms`)
  console.log(`ratio wall/slowest = ${(wall / slowest).toFixed(2)} (goal <= 1.2); wall/sum = ${(wall / sum).toFixed(2)}`)
} finally {
  for (const s of servers) await s.close()
}
