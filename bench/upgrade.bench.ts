// Benchmark: what zero downtime costs on one host. The same upgrade (IMAGE_TAG e2e -> e2e-next:
// Open WebUI, GraphRAG, the Celery worker and MCP move, Open WebUI migrates its schema once) by
// `deploy --docker-compose --strategy recreate` and by the default blue-green, each on a freshly
// deployed e2e stack on the real engine. Prints both wall times, the ratio, the extra seconds and
// the blue-green switch time (NGINX reload until no old worker takes requests). Never asserted.
// Run (the engine is shared): flock /tmp/owp-e2e-run.lock tsx bench/upgrade.bench.ts
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { createContext } from '../scripts/lib/core/context.ts'
import { acquireLock } from '../scripts/lib/core/lock.ts'
import { engineLayout, stopEngine } from '../test/e2e/harness/engine.ts'
import { prepareE2E } from '../test/e2e/harness/prepare.ts'
import { stackPaths, e2eEnv, writeEnvFile, updateEnvFile, removeProject, E2E_DOMAIN } from '../test/e2e/harness/stack.ts'
import { NEXT_TAG } from '../test/e2e/harness/images.ts'
import { kit, json, type Stack } from '../test/e2e/kit.ts'
import { runScript } from '../test/helpers/run-script.ts'
import { tmpDir } from '../test/helpers/tmp.ts'
import { freePort } from '../test/helpers/net.ts'

interface Outcome { ok: boolean; summary: string; upgrade?: { switchMs?: number; drainMs?: number } }

const ctx = createContext()
const layout = engineLayout()
const release = acquireLock(ctx, layout.lockFile, 'upgrade benchmark')
const prepared = await prepareE2E(ctx, { layout })
const results: Record<string, { ms: number; switchMs?: number; drainMs?: number }> = {}
try {
  for (const strategy of ['recreate', 'bluegreen'] as const) {
    await removeProject(ctx, prepared.env)
    const tmp = tmpDir('owp-bench-upgrade-')
    try {
      const paths = stackPaths(tmp.path)
      const [httpPort, httpsPort] = [await freePort(), await freePort()]
      writeEnvFile(paths.envFile, e2eEnv(paths, { httpPort, httpsPort }))
      const tls = await runScript('scripts/tls-selfsigned.ts', ['--domain', E2E_DOMAIN, '--dir', paths.certDir, '--env-file', paths.envFile])
      if (tls.code !== 0) throw new Error(tls.stderr)
      const stack: Stack = { engineEnv: prepared.env, envFile: paths.envFile, certFile: join(paths.certDir, 'tls.crt'), httpPort, httpsPort }
      const first = json<Outcome>(await kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--timeout', '8m', '--json'], 900_000))
      if (!first.ok) throw new Error(`first deploy: ${first.summary}`)
      updateEnvFile(paths.envFile, { IMAGE_TAG: NEXT_TAG })
      const t0 = performance.now()
      const r = await kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--strategy', strategy, '--env-file', paths.envFile, '--timeout', '8m', '--drain-timeout', '30s', '--json'], 900_000)
      const ms = Math.round(performance.now() - t0)
      const out = json<Outcome>(r)
      if (!out.ok) throw new Error(`${strategy} upgrade: ${out.summary}\n${r.stderr.slice(-3000)}`)
      results[strategy] = { ms, switchMs: out.upgrade?.switchMs, drainMs: out.upgrade?.drainMs }
      console.log(`${strategy}: upgrade ${(ms / 1000).toFixed(1)}s${out.upgrade?.switchMs !== undefined ? `, switch ${out.upgrade.switchMs} ms, drain ${out.upgrade.drainMs} ms` : ''}`)
    } finally {
      await removeProject(ctx, prepared.env)
      tmp.remove()
    }
  }
  const r = results.recreate!
  const b = results.bluegreen!
  console.log(`blue-green / recreate = ${(b.ms / r.ms).toFixed(2)} (${b.ms >= r.ms ? '+' : '-'}${(Math.abs(b.ms - r.ms) / 1000).toFixed(1)} s for zero downtime); switch ${b.switchMs} ms; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
} finally {
  await stopEngine(ctx, layout, prepared.engine)
  release()
}
