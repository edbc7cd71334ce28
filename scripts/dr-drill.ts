// make dr-drill: restore the newest platform set into a scratch deployment beside production, prove it works, tear it down.
import { run } from './lib/core/cli.ts'
import { EXIT, UsageError } from './lib/core/errors.ts'
import { COMPOSE_FILE } from './lib/core/paths.ts'
import { resolveShared, sharedOptions, positiveInt } from './lib/backup/settings.ts'
import { runDrill } from './lib/backup/drill.ts'
import { runK8sDrill } from './lib/backup/drill-k8s.ts'

export const usage = `Usage: tsx scripts/dr-drill.ts [--target compose|k8s] [--from latest|<set id>] [--dest D] [--env-file F] [--json]

Restores one platform set (default: the newest complete one) into a scratch compose project
<project>-drill beside production: its own volumes and networks, no published port, no LightLLM
unless --with-llm. Starts the application on it, runs validate-prod against it from inside, checks
the content against the platform manifest (row counts per table, keys, points, nodes, files and
bytes), reports RTO (scratch start to validated) and RPO (age of the set's data), writes both as
metrics (dr_drill.prom), and tears the scratch project down in every path (Ctrl-C included).
Production is never read or written; its containers and volumes are compared before and after.
On Kubernetes (--target k8s) the scratch deployment is the namespace <namespace>-drill: the chart
installed there under the same release name with production's values cut down (no Ingress, no
certificates, no backups, no monitoring objects); with CloudNativePG its Cluster bootstraps from
production's backups (recovery to the set's time); the other stores are restored into the fresh
claims; the namespace is deleted in every path. Production's pods and claims are compared before and after.
Prints one line: dr drill: set <id>, <N> stores, validate ok, rto <S> s, rpo <S> s, production untouched

      --from F          latest (default) or a platform set id
      --allow-partial   drill a partial or incomplete platform set (its parts)
      --with-llm        start LightLLM in the scratch project too (it needs GPUs of its own)
      --wait SEC        wait this long for the scratch services to be healthy (default 600)
      --metrics-dir D   write dr_drill.prom here (default BACKUP_METRICS_DIR)
      --pushgateway URL push the drill metrics to a Prometheus Pushgateway (default BACKUP_PUSHGATEWAY_URL; the chart's CronJob)
      --target T        compose (default) or k8s; --namespace N, --release R, --kube-context C for k8s
      --dest D, --env-file F, --project P, --compose-file F, --identity F, --staging-dir D: as for restore
Exit codes: 0 the drill passed, 1 it failed (the line says where), 2 usage.`

await run(usage, {
  ...sharedOptions,
  from: { type: 'string' },
  'allow-partial': { type: 'boolean' },
  'with-llm': { type: 'boolean' },
  wait: { type: 'string' },
  'metrics-dir': { type: 'string' },
  pushgateway: { type: 'string' },
}, async (ctx, flags) => {
  if (flags.target && flags.target !== 'compose' && flags.target !== 'k8s') throw new UsageError(`--target must be compose or k8s, got "${flags.target}"`)
  if (flags.target === 'k8s') {
    const shared = await resolveShared(ctx, { ...flags, target: 'k8s' })
    const report = await runK8sDrill(ctx, {
      dest: shared.dest,
      from: flags.from ?? 'latest',
      allowPartial: flags['allow-partial'],
      release: flags.release ?? shared.env.HELM_RELEASE ?? 'owp',
      namespace: flags.namespace ?? shared.env.K8S_NAMESPACE ?? 'openwebui-prod',
      kubeContext: flags['kube-context'],
      settings: shared.settings,
      identity: flags.identity ?? shared.env.BACKUP_AGE_IDENTITY,
      withLlm: flags['with-llm'],
      waitSeconds: positiveInt('wait', flags.wait, 900, 1),
      metricsDir: flags['metrics-dir'] ?? shared.env.BACKUP_METRICS_DIR,
      pushgateway: flags.pushgateway ?? shared.env.BACKUP_PUSHGATEWAY_URL,
    })
    if (report.error) ctx.log.error(report.error)
    for (const c of report.failedChecks) ctx.log.error(`content: ${c}`)
    if (ctx.json) ctx.log.raw(report.line)
    return { exitCode: report.ok ? EXIT.ok : EXIT.failure, data: report, text: report.line }
  }
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
