// Benchmark: the infra phase of a Kubernetes deploy with fake helm/kubectl that sleep like real
// installs. The parallel phase's wall time vs the sum of its steps (goal: ratio <= 0.6).
// Run: tsx bench/deploy.bench.ts [seconds-per-release]
import { deployK8s } from '../scripts/lib/deploy/k8s.ts'
import { k8sFakes, k8sOptions, sandbox, HISTORY_3 } from '../test/deploy/helpers.ts'

const delay = Number(process.argv[2] ?? 1.5)
const bins = k8sFakes({ history: HISTORY_3, infraDelay: delay })
const box = sandbox(bins)
try {
  const ctx = box.ctx()
  const t0 = performance.now()
  const out = await deployK8s(ctx, k8sOptions({ validate: false }))
  const total = performance.now() - t0
  if (!out.ok) throw new Error(`deploy failed: ${out.summary}\n${ctx.stderr()}`)
  const infra = out.steps.filter((s) => s.id.startsWith('infra:'))
  const sum = infra.reduce((a, s) => a + s.durationMs, 0)
  const wall = Math.max(...infra.map((s) => s.endedAt!)) - Math.min(...infra.map((s) => s.startedAt!))
  console.log(`infra steps (${delay}s per helm install): ${infra.map((s) => `${s.title} ${s.durationMs}ms`).join(', ')}`)
  console.log(`sequential sum ${sum}ms, parallel phase ${wall}ms, whole deploy ${Math.round(total)}ms`)
  console.log(`ratio parallel/sequential = ${(wall / sum).toFixed(2)} (goal <= 0.6)`)
} finally {
  bins.remove()
  box.remove()
}
