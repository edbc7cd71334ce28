// Restore one platform set (or one store's set) into the deployment; --list shows the sets.
import { run } from './lib/core/cli.ts'
import { EXIT } from './lib/core/errors.ts'
import { resolveShared, sharedOptions, sharedUsage } from './lib/backup/settings.ts'
import { runRestore, renderRestore } from './lib/backup/restore.ts'
import { listSets } from './lib/backup/list.ts'
import { restoreToTime } from './lib/backup/pitr/cli.ts'

export const usage = `Usage: tsx scripts/restore.ts --store <store[,store...]|all> --from <set id|path|latest>
                             --target <compose|k8s|direct> --dest <dir|s3://bucket/prefix> --yes

Without --store (or with several) the restore takes every part of ONE platform set: --from latest
is the newest complete platform set, --from <id> names one; a partial or incomplete set is refused
without --allow-partial. A destination without platform sets (the per-store layout of earlier
versions) restores each store's newest set. Checks every file's sha256 against the set's manifest
before anything changes, refuses a set without a manifest, and asks before overwriting (--yes
without a terminal). PostgreSQL keeps each database it replaces as <db>_owp_old_* (named in the
report with its DROP DATABASE, never backed up; BACKUP_RESTORE_KEEP_PREVIOUS=false drops them).

Restore:
      --from F          latest (default), a set id (2025-01-31T02-00-00Z), <store>/<id>, or the
                        path of a local set directory
      --allow-partial   restore the parts a partial or incomplete platform set has
      --list            list the platform sets (age, completeness, size) and per-store sets; exit
      --to TIME         PostgreSQL only: recover to that moment (ISO 8601 with zone, e.g.
                        2026-12-01T10:15:00Z) from pgBackRest's WAL archive: restored beside the
                        current data, replayed and checked on a scratch server, then switched to;
                        the previous data is kept
${sharedUsage}`

await run(usage, {
  ...sharedOptions,
  from: { type: 'string' },
  identity: { type: 'string' },
  list: { type: 'boolean' },
  'allow-partial': { type: 'boolean' },
  to: { type: 'string' },
}, async (ctx, flags) => {
  const shared = await resolveShared(ctx, flags)
  if (flags.to !== undefined) return restoreToTime(ctx, flags, shared)
  if (flags.list) return listSets(ctx, shared.dest, shared.stores)
  const result = await runRestore(ctx, {
    stores: shared.stores,
    explicit: flags.store !== undefined && flags.store !== 'all',
    from: flags.from ?? 'latest',
    target: shared.target,
    dest: shared.dest,
    settings: shared.settings,
    identity: flags.identity ?? shared.env.BACKUP_AGE_IDENTITY,
    allowPartial: Boolean(flags['allow-partial']),
  })
  return { exitCode: result.ok ? EXIT.ok : EXIT.failure, data: result, text: renderRestore(result, ctx.dryRun) }
}, { examples: ['make restore ARGS="--store all --target compose --dest ./backups --list"',
  'make restore ARGS="--store postgres --from latest --target compose --dest ./backups --yes"',
  'make restore ARGS="--store all --from latest --target compose --dest ./backups --dry-run"'], exitCodes: {75: 'a backup holds the lock'} })
