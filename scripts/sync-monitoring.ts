// Copy the rules and dashboards of config/ into the chart; --check reports drift, --lint runs
// every monitoring check (promtool, amtool, blackbox, dashboards, PromQL, catalogue).
import { run } from './lib/core/cli.ts'
import { logChecks } from './lib/stack/lint.ts'
import { describeDrift, driftCount, monitoringDrift, syncMonitoring } from './lib/monitoring/sync.ts'
import { lintMonitoring } from './lib/monitoring/lint.ts'

export const usage = `Usage: tsx scripts/sync-monitoring.ts [--check | --lint] [--json] [--dry-run]

Copies config/prometheus/rules/*.yml, config/grafana/dashboards/*.json and config/alertmanager/*.yml into
helm/openwebui-platform/files/monitoring/ (the chart renders its PrometheusRules and dashboard
ConfigMaps from those copies) and removes copies whose source is gone.

  --check   change nothing; exit 1 when a copy is missing, differs or has no source
  --lint    run every monitoring check with the real tools (promtool check config/rules,
            promtool test rules, amtool check-config and routes (compose's config and the
            chart's AlertmanagerConfig), blackbox --config.check,
            dashboard lint, PromQL parsed and sent to a throwaway Prometheus on 127.0.0.1,
            metric names against config/prometheus/metrics-catalog.yml, chart drift)`

await run(usage, { check: { type: 'boolean' }, lint: { type: 'boolean' } }, async (ctx, flags) => {
  if (flags.lint) {
    const report = await lintMonitoring(ctx)
    logChecks(ctx, report.checks)
    return { exitCode: report.ok ? 0 : 1, data: report, text: report.ok ? 'monitoring: every check passed' : 'monitoring: checks failed' }
  }
  if (flags.check) {
    const drift = monitoringDrift()
    const problems = describeDrift(drift)
    for (const p of problems) ctx.log.error(p)
    if (problems.length) ctx.log.info('run: make sync-monitoring')
    return { exitCode: driftCount(drift) ? 1 : 0, data: { ok: !problems.length, ...drift }, text: problems.length ? '' : 'chart copies are in sync' }
  }
  const step = ctx.log.step('sync monitoring rules and dashboards into the chart')
  const result = syncMonitoring(ctx)
  step.ok(`${result.copied.length} copied, ${result.removed.length} removed, ${result.unchanged} unchanged`)
  return { data: { ok: true, dryRun: ctx.dryRun, ...result } }
}, { examples: ['make sync-monitoring',
  'make sync-monitoring ARGS=--check',
  'make sync-monitoring ARGS=--lint'] })
