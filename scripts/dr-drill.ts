// make dr-drill: restore the newest platform set into a scratch deployment beside production, prove it works, tear it down.
import { run } from './lib/core/cli.ts'
import { EXIT, UsageError } from './lib/core/errors.ts'
import { COMPOSE_FILE } from './lib/core/paths.ts'
import { resolveShared, sharedOptions, positiveInt } from './lib/backup/settings.ts'
import { runDrill } from './lib/backup/drill.ts'

export const usage = `Usage: tsx scripts/dr-drill.ts [--from latest|<set id>] [--dest D] [--env-file F] [--json]

Restores one platform set (default: the newest complete one) into a scratch compose project
<project>-drill beside production: its own volumes and networks, no published port, no LightLLM
unless --with-llm. Starts the application on it, runs validate-prod against it from inside, checks
the content against the platform manifest (row counts per table, keys, points, nodes, files and
bytes), reports RTO (scratch start to validated) and RPO (age of the set's data), writes both as
metrics (dr_drill.prom), and tears the scratch project down in every path (Ctrl-C included).
Production is never read or written; its containers and volumes are compared before and after.
Prints one line: dr drill: set <id>, <N> stores, validate ok, rto <S> s, rpo <S> s, production untouched

      --from F          latest (default) or a platform set id
      --allow-partial   drill a partial or incomplete platform set (its parts)
      --with-llm        start LightLLM in the scratch project too (it needs GPUs of its own)
      --wait SEC        wait this long for the scratch services to be healthy (default 600)
      --metrics-dir D   write dr_drill.prom here (default BACKUP_METRICS_DIR)
      --dest D, --env-file F, --project P, --compose-file F, --identity F, --staging-dir D: as for restore
Exit codes: 0 the drill passed, 1 it failed (the line says where), 2 usage.`

await run(usage, {
  ...sharedOptions,
  from: { type: 'string' },
  'allow-partial': { type: 'boolean' },
  'with-llm': { type: 'boolean' },
  wait: { type: 'string' },
  'metrics-dir': { type: 'string' },
}, async (ctx, flags) => {
  if (flags.target && flags.target !== 'compose') throw new UsageError('dr-drill runs on compose; the Kubernetes drill (a scratch namespace) is not built yet (docs/disaster-recovery.md)')
  const shared = await resolveShared(ctx, { ...flags, target: 'compose' })
  const report = await runDrill(ctx, {
    dest: shared.dest,
    from: flags.from ?? 'latest',
    allowPartial: flags['allow-partial'],
    env: shared.env,
    envFile: shared.settings.envFile ?? null,
    project: flags.project ?? shared.env.COMPOSE_PROJECT_NAME ?? 'owp',
    composeFile: flags['compose-file'] ?? COMPOSE_FILE,
    settings: shared.settings,
    identity: flags.identity ?? shared.env.BACKUP_AGE_IDENTITY,
    withLlm: flags['with-llm'],
    waitSeconds: positiveInt('wait', flags.wait, 600, 1),
    metricsDir: flags['metrics-dir'] ?? shared.env.BACKUP_METRICS_DIR,
  })
  if (report.error) ctx.log.error(report.error)
  for (const c of report.failedChecks) ctx.log.error(`content: ${c}`)
  // The one line goes to stderr with --json (stdout carries the report), to stdout otherwise.
  if (ctx.json) ctx.log.raw(report.line)
  return { exitCode: report.ok ? EXIT.ok : EXIT.failure, data: report, text: report.line }
})
