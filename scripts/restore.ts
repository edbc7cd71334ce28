// Restore a verified backup set into PostgreSQL, Redis, Qdrant or Neo4j.
import { run } from './lib/core/cli.ts'
import { EXIT } from './lib/core/errors.ts'
import { resolveShared, sharedOptions, sharedUsage } from './lib/backup/settings.ts'
import { runRestore, renderRestore, renderSets } from './lib/backup/restore.ts'
import { restoreToTime } from './lib/backup/pitr/cli.ts'

export const usage = `Usage: tsx scripts/restore.ts --store <postgres|redis|qdrant|neo4j|all> --from <set id|path|latest>
                             --target <compose|k8s|direct> --dest <dir|s3://bucket/prefix> --yes

Checks every file's sha256 against the set's manifest before anything changes, refuses a set
without a manifest, and asks before overwriting (--yes without a terminal).

Restore:
      --from F          latest (default: the newest verified set), a set id (2025-01-31T02-00-00Z),
                        <store>/<id>, or the path of a local set directory
      --identity F      age identity (key) file for encrypted sets (default BACKUP_AGE_IDENTITY)
      --list            list the sets (complete and incomplete) and exit
      --to TIME         PostgreSQL only: recover to that moment (ISO 8601 with zone, e.g.
                        2026-12-01T10:15:00Z) from pgBackRest's WAL archive: restored beside the
                        current data, replayed and checked on a scratch server, then switched to;
                        the previous data is kept
${sharedUsage}
Exit codes: 0 restored, 1 failed, 2 usage (or no --yes without a terminal), 75 a backup holds the lock.`

await run(usage, {
  ...sharedOptions,
  from: { type: 'string' },
  identity: { type: 'string' },
  list: { type: 'boolean' },
  to: { type: 'string' },
}, async (ctx, flags) => {
  const shared = await resolveShared(ctx, flags)
  if (flags.to !== undefined) return restoreToTime(ctx, flags, shared)
  if (flags.list) {
    const all = await Promise.all(shared.stores.map(async (store) => ({ store, sets: await shared.dest.list(ctx, store) })))
    const text = all.map(({ store, sets }) => renderSets(store, sets)).join('\n')
    return {
      text,
      data: all.map(({ store, sets }) => ({ store, sets: sets.map((s) => ({ id: s.id, complete: Boolean(s.manifest), verified: Boolean(s.manifest?.verified?.ok), bytes: s.manifest?.bytes, location: s.location, incomplete: s.incomplete })) })),
    }
  }
  const result = await runRestore(ctx, {
    stores: shared.stores,
    explicit: flags.store !== undefined && flags.store !== 'all',
    from: flags.from ?? 'latest',
    target: shared.target,
    dest: shared.dest,
    settings: shared.settings,
    identity: flags.identity ?? shared.env.BACKUP_AGE_IDENTITY,
  })
  return { exitCode: result.ok ? EXIT.ok : EXIT.failure, data: result, text: renderRestore(result, ctx.dryRun) }
})
