// What restores kept beside a store in its data directory, for the backup to report (the kept-copies
// metrics and RestoreKeptCopiesLingering): Redis's `<file>.pre-restore-*`, the file stores'
// `.owp-pre-restore-*`. Their size is `du`'s, and when each was set aside is its ctime: a rename
// sets it, and nothing else changes a kept copy.
import type { Ctx } from '../../core/context.ts'
import type { KeptCopies, StoreName, Target } from '../types.ts'

/**
 * Lists "<KiB> <ctime> <name>" for every entry of $1 whose name starts with one of the other
 * arguments; exit 3 when $1 is not a directory here, 4 when du or stat cannot read an entry.
 */
export const KEPT_FILES_SCRIPT = `cd "$1" 2>/dev/null || exit 3
shift
for p in "$@"; do
  for f in "$p"*; do
    [ -e "$f" ] || continue
    k=$(du -sk "./$f") || exit 4
    t=$(stat -c %Z "./$f") || exit 4
    printf '%s %s %s\\n' "\${k%%[!0-9]*}" "$t" "$f"
  done
done`

/** KEPT_FILES_SCRIPT's lines; a line that does not read as one is left out. */
export function parseKeptFiles(out: string): KeptCopies {
  const kept: KeptCopies = { names: [], bytes: 0, since: null }
  for (const line of out.split('\n')) {
    const m = /^(\d+) (\d+) (.+)$/.exec(line)
    if (!m) continue
    kept.names.push(m[3]!)
    kept.bytes += Number(m[1]) * 1024
    const at = new Date(Number(m[2]) * 1000)
    if (!kept.since || at < kept.since) kept.since = at
  }
  return kept
}

/**
 * What restores kept in `dir` where `store` runs, under names that start with one of `prefixes`.
 * None when `dir` is not a directory there; undefined when it could not be read (not looked at: the
 * metrics keep their last values). A backup never fails for it.
 */
export async function keptFiles(ctx: Ctx, target: Target, store: StoreName, dir: string, prefixes: string[]): Promise<KeptCopies | undefined> {
  if (ctx.dryRun) return undefined
  const r = await target.run(ctx, store, ['sh', '-c', KEPT_FILES_SCRIPT, 'sh', dir, ...prefixes], { allowFailure: true, timeout: 120_000 }).catch(() => null)
  // not a directory where the store runs (a direct target's remote Redis): no restore can have kept anything there
  if (r?.exitCode === 3) return { names: [], bytes: 0, since: null }
  if (!r || r.exitCode !== 0) {
    ctx.log.warn(`${store}: could not list what restores kept in ${dir}: the kept-copies metrics keep their last values`)
    return undefined
  }
  const kept = parseKeptFiles(r.stdout)
  if (kept.names.length) ctx.log.warn(`${store}: not backed up: ${kept.names.join(', ')} in ${dir} (what a restore replaced, kept until you remove it)`)
  return kept
}
