// Back up PostgreSQL, Redis, Qdrant and Neo4j into verified, timestamped sets (cron-safe).
import { run } from './lib/core/cli.ts'
import { EXIT } from './lib/core/errors.ts'
import { resolveShared, retentionFrom, sharedOptions, sharedUsage } from './lib/backup/settings.ts'
import { parseRecipients } from './lib/backup/encryption.ts'
import { runBackup, renderReport } from './lib/backup/backup.ts'
import { pitrBackup } from './lib/backup/pitr/cli.ts'

export const usage = `Usage: tsx scripts/backup.ts --store <postgres|redis|qdrant|neo4j|all> --target <compose|k8s|direct>
                            --dest <dir|s3://bucket/prefix> [--encrypt age1...] [--no-verify] [--json]

Each store becomes one set <dest>/<store>/<UTC timestamp>/ with its files and manifest.json
(written last: a set without it is incomplete and ignored). Every set is verified by default
(PostgreSQL: restored into a scratch database, row counts compared). Old sets are pruned only
after a verified set. An overlapping run exits 75.

Backup:
      --encrypt R       age recipient(s), comma separated (default BACKUP_AGE_RECIPIENT)
      --verify          verify the set (the default); --no-verify skips it (and pruning)
      --keep-daily N    keep the newest set of each of the last N days (default 7)
      --keep-weekly N   ... of the last N ISO weeks (default 4)
      --keep-monthly N  ... of the last N months (default 6); all three 0: prune nothing
      --metrics-dir D   write node-exporter textfile metrics here (default BACKUP_METRICS_DIR)
      --pushgateway URL push the same metrics to a Prometheus Pushgateway (default BACKUP_PUSHGATEWAY_URL)
      --pitr            PostgreSQL only: a pgBackRest base backup for point-in-time recovery (checks
                        WAL archiving first); --pitr-type auto (default: full weekly, else diff) | full | diff | incr
${sharedUsage}
Exit codes: 0 every store backed up, 1 a store failed, 2 usage, 75 another run holds the lock.`

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
  pitr: { type: 'boolean' },
  'pitr-type': { type: 'string' },
}, async (ctx, flags) => {
  const shared = await resolveShared(ctx, flags)
  if (flags.pitr) return pitrBackup(ctx, flags, shared)
  const report = await runBackup(ctx, {
    stores: shared.stores,
    explicit: flags.store !== undefined && flags.store !== 'all',
    target: shared.target,
    dest: shared.dest,
    settings: shared.settings,
    verify: !flags['no-verify'],
    recipients: parseRecipients(flags.encrypt ?? shared.env.BACKUP_AGE_RECIPIENT),
    retention: retentionFrom(flags),
    metricsDir: flags['metrics-dir'] ?? shared.env.BACKUP_METRICS_DIR,
    pushgateway: flags.pushgateway ?? shared.env.BACKUP_PUSHGATEWAY_URL,
  })
  if (!ctx.json) ctx.log.raw(renderReport(report))
  return { exitCode: report.ok ? EXIT.ok : EXIT.failure, data: report }
})
