// make lint: the chart, compose file, Dockerfiles and monitoring config, checked by real tools.
import { run } from './lib/core/cli.ts'
import { lintAll, logChecks } from './lib/stack/lint.ts'

export const usage = `Usage: tsx scripts/lint.ts [--json]

Checks, concurrently: helm lint --strict (helm v4 and v3) of the chart with every ci/ scenario;
the compose file against the house policy and Debian docker-compose's parser; the Dockerfiles;
and the monitoring config (promtool, amtool on compose's Alertmanager config and on the chart's
AlertmanagerConfig as the Prometheus Operator merges it, dashboards, PromQL on a throwaway
Prometheus, metric catalogue, chart copies). Exit 1 when any check finds a problem.`

await run(usage, {}, async (ctx) => {
  const report = await lintAll(ctx)
  logChecks(ctx, report.checks)
  return { exitCode: report.ok ? 0 : 1, data: report, text: report.ok ? 'lint: every check passed' : 'lint: problems found' }
}, { examples: ['make lint',
  'tsx scripts/lint.ts -- --json'] })
