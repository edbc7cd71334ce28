// Back up the platform (databases, Open WebUI and GraphRAG files, the encrypted .env) into one verified platform set (cron-safe).
import { run } from './lib/core/cli.ts'
import { EXIT } from './lib/core/errors.ts'
import { resolveShared, retentionFrom, sharedOptions, sharedUsage } from './lib/backup/settings.ts'
import { parseRecipients } from './lib/backup/encryption.ts'
import { runBackup, renderReport } from './lib/backup/backup.ts'
import { defaultMetricsSinks } from './lib/backup/metrics.ts'
import { COMPOSE_FILE } from './lib/core/paths.ts'
import { pitrBackup } from './lib/backup/pitr/cli.ts'
import { pitrSite } from './lib/backup/pitr/index.ts'

export const usage = `Usage: tsx scripts/backup.ts --store <store[,store...]|all> --target <compose|k8s|direct>
                            --dest <dir|s3://bucket/prefix> [--encrypt age1...] [--no-verify] [--json]

Without --store (or with all) the run is one platform set: every enabled store under one id,
<dest>/<store>/<id>/ each with its files and manifest.json, then <dest>/platform/<id>.json listing
every part with its size, checksum and tool versions, written last (a set without it is
incomplete). --store S takes that store's set alone. Every set is verified by default (PostgreSQL:
restored into a scratch database, row counts compared). Old sets are pruned only after a verified
set, platform sets as a whole. An overlapping run exits 75.

Backup:
      --encrypt R       age recipient(s), comma separated (default BACKUP_AGE_RECIPIENT)
      --verify          verify the set (the default); --no-verify skips it (and pruning)
      --keep-daily N    keep the newest set of each of the last N days (default 7)
      --keep-weekly N   ... of the last N ISO weeks (default 4)
      --keep-monthly N  ... of the last N months (default 6); all three 0: prune nothing
      --metrics-dir D   write node-exporter textfile metrics here (default BACKUP_METRICS_DIR, else for
                        --target compose the directory the compose node-exporter reads:
                        compose/.generated/textfile beside the compose file)
      --pushgateway URL push the same metrics to a Prometheus Pushgateway (default BACKUP_PUSHGATEWAY_URL,
                        which the chart sets for its CronJobs)
      --label L         a label kept in the manifest (e.g. pre-upgrade:<deploy>: what the deploy takes before an upgrade)
      --pitr            PostgreSQL only: a pgBackRest base backup for point-in-time recovery (checks
                        WAL archiving first); --pitr-type auto (default: full weekly, else diff) | full | diff | incr.
                        A platform set (compose, direct) takes one by itself when the server archives
                        its WAL through pgBackRest, and its manifest records it (pitr)
${sharedUsage}`

await run(usage, {
  ...sharedOptions,
  encrypt: { type: 'string' },
  verify: { type: 'boolean' },
  'no-verify': { type: 'boolean' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'metrics-dir': { type: 'string' },
  pushgateway: { type: 'string' },
  label: { type: 'string' },
  pitr: { type: 'boolean' },
  'pitr-type': { type: 'string' },
}, async (ctx, flags) => {
  const shared = await resolveShared(ctx, flags)
  if (flags.pitr) return pitrBackup(ctx, flags, shared)
  const sinks = defaultMetricsSinks(shared.target.kind, flags['compose-file'] ?? COMPOSE_FILE, shared.env)
  const metricsDir = flags['metrics-dir'] ?? sinks.metricsDir
  const pushgateway = flags.pushgateway ?? sinks.pushgateway
  if (!metricsDir && !pushgateway) ctx.log.warn('no backup metrics will be written (set BACKUP_METRICS_DIR or BACKUP_PUSHGATEWAY_URL): a backup that stops would go unnoticed')
  const report = await runBackup(ctx, {
    stores: shared.stores,
    explicit: flags.store !== undefined && flags.store !== 'all',
    target: shared.target,
    dest: shared.dest,
    settings: shared.settings,
    verify: !flags['no-verify'],
    recipients: parseRecipients(flags.encrypt ?? shared.env.BACKUP_AGE_RECIPIENT),
    retention: retentionFrom(flags),
    metricsDir,
    pushgateway,
    platform: flags.store === undefined || flags.store === 'all',
    label: flags.label,
    // compose and this host: a server archiving its WAL through pgBackRest gets its base backup in the set
    ...(shared.target.kind !== 'k8s' ? { pitr: { site: () => pitrSite(ctx, shared.target.kind, shared.env, flags), metricsDir } } : {}),
  })
  if (!ctx.json) ctx.log.raw(renderReport(report))
  return { exitCode: report.ok ? EXIT.ok : EXIT.failure, data: report }
}, { examples: ['make backup ARGS="--store all --target compose --dest ./backups"',
  'tsx scripts/backup.ts -- --store postgres --target compose --dest s3://bucket/owp --json',
  'make backup ARGS="--store all --target compose --dest ./backups --dry-run"'], exitCodes: {75: 'another backup or restore holds the lock (cron retries later)'} })
