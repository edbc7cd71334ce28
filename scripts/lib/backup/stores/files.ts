// File stores: Open WebUI's data directory (uploads, its other files) and GraphRAG's data volume,
// as one tar archive taken through the running container (compose exec, a Kubernetes Job that
// mounts the claim, or the host directory). Caches and re-downloadable models are excluded and the
// exclusion is written in the manifest. Restore extracts beside the data (.owp-restore-<id>), proves
// the tree against the set, then swaps entry by entry (undone if it fails or is killed), keeping what
// was there in .owp-pre-restore-<id> until the operator removes it.
// The free space of the data directory (df where it is mounted) is checked before the extraction.
import { join } from 'node:path'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { tarStats, type TarStats } from '../tar-stats.ts'
import { ensureSpace, localFreeBytes, requireSpace } from '../space.ts'
import type { DriverRun, DumpResult, FileStoreName, Manifest, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'
import { failureReason, exitCodeAndWhy } from '../../core/exec.ts'
import { keptFiles } from './kept-files.ts'

export interface Exclusion { path: string; why: string }

export interface FilesDetails {
  dir: string
  excluded: Exclusion[]
  files: number
  bytes: number
  dirs: number
  /** tar saw files change while it read them (a live volume): the archive holds each as tar read it. */
  changedWhileRead?: boolean
}

const ARCHIVE = 'files.tar'

interface FileStoreSpec {
  /** The directory inside the container (compose, k8s). */
  dir: string
  /** The host directory of a direct target. */
  directEnv: string
  excludes(env: Record<string, string>): Exclusion[]
}

export const FILE_STORE_SPECS: Record<FileStoreName, FileStoreSpec> = {
  'files-openwebui': {
    dir: '/app/backend/data',
    directEnv: 'OPENWEBUI_DATA_DIR',
    excludes: (env) => [
      { path: 'cache', why: 'caches and re-downloadable models (embedding, whisper, TTS), rebuilt by Open WebUI' },
      // The compose file and the chart run Open WebUI with VECTOR_DB=qdrant: its vectors are the qdrant part.
      ...((env.VECTOR_DB ?? 'qdrant') !== 'chroma' ? [{ path: 'vector_db', why: `VECTOR_DB=${env.VECTOR_DB ?? 'qdrant'}: the vectors are in the qdrant part` }] : []),
    ],
  },
  'files-graphrag': {
    dir: '/var/lib/graphrag',
    directEnv: 'GRAPHRAG_DATA_DIR',
    excludes: () => [{ path: 'cache', why: 'GraphRAG LLM response cache, rebuilt on demand' }],
  },
}

function dirOf(store: FileStoreName, run: DriverRun): string {
  const spec = FILE_STORE_SPECS[store]
  if (run.target.kind !== 'direct') return spec.dir
  const dir = run.settings.env[spec.directEnv]
  if (!dir) throw new KitError(`${store}: set ${spec.directEnv} to the directory to back up (target direct)`)
  return dir
}

/** The tar argv that writes the store's directory, minus its exclusions, to stdout. */
export function tarArgv(dir: string, excluded: Exclusion[]): string[] {
  // A restore's staged tree and the data it set aside are never part of the next backup.
  return ['tar', '-C', dir, '-cf', '-', ...excluded.map((e) => `--exclude=./${e.path}`), '--exclude=./.owp-restore-*', '--exclude=./.owp-pre-restore-*', '.']
}

/** What GNU tar read of a live volume: files that changed or went away while it read them. */
export interface LiveRead { changed: string[]; removed: string[] }

// GNU tar's warnings for a volume in use (exit 1, the archive whole): a file changed or shrank while
// it read it, or went away between the directory's listing and its read; a socket is never archived
// (tar names itself as it was called: `tar`, or a path to it)
const LIVE_LINE = /^(?:\S*\/)?tar: (.*): (file changed as we read it|File shrank by \d+ bytes; padding with zeros|File removed before we read it|socket ignored)$/

/** tar's stderr as LiveRead when every line of it is such a warning; null when anything else was said. */
export function liveRead(stderr: string): LiveRead | null {
  const read: LiveRead = { changed: [], removed: [] }
  for (const line of stderr.split('\n')) {
    if (!line.trim()) continue
    const m = LIVE_LINE.exec(line)
    if (!m) return null
    const name = m[1]!.replace(/^\.\//, '')
    if (m[2]!.startsWith('File removed')) read.removed.push(name)
    else if (m[2] !== 'socket ignored') read.changed.push(name)
  }
  return read
}

/** GNU tar exits 1 when files changed or went away while it read them: a live volume, not a broken archive. */
function tarOutcome(ctx: Ctx, store: string, r: { exitCode: number; stderr: string }): LiveRead {
  const live = r.exitCode === 0 ? { changed: [], removed: [] } : r.exitCode === 1 ? liveRead(r.stderr) : null
  if (live) return live
  throw new KitError(`${store}: tar exited ${exitCodeAndWhy(ctx, { ...r, stdout: '' }, 3, '; ')}`)
}

/** At most ten names, then how many more. */
const some = (names: string[]) => `${names.slice(0, 10).join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''}`

/** Archive the store's directory into `local` (through the target); returns the archive's stats and what changed while it was read. */
export async function archive(ctx: Ctx, store: FileStoreName, run: DriverRun, local: string, excluded: Exclusion[], dir = dirOf(store, run)): Promise<{ stats: TarStats | null; live: LiveRead }> {
  const r = await run.target.run(ctx, store, tarArgv(dir, excluded), { stdoutFile: local, allowFailure: true, mutates: true, timeout: run.settings.timeoutMs, title: `tar ${dir}` })
  if (ctx.dryRun) return { stats: null, live: { changed: [], removed: [] } }
  const live = tarOutcome(ctx, store, r)
  return { stats: tarStats(local), live }
}

/**
 * Every step of a restore on the data directory, in one shell script: `sh -c RESTORE_SCRIPT sh
 * <step> <dir> <set id> <excluded entry>...`, step one of:
 * - recover: put right what a killed restore left: a swap it did not finish is undone (what it set
 *   aside goes back, the set's entries it had moved in go back to their tree), its extracted trees
 *   are removed. What a completed earlier restore set aside (.owp-pre-restore-*, the operator removes
 *   it) stops the restore here, before anything is extracted: a second swap would mix generations.
 * - extract: the archive on stdin into <dir>/.owp-restore-<id> (emptied first).
 * - swap: each entry of <dir> to .owp-pre-restore-<id>, then each entry of the extracted tree into
 *   <dir>. Excluded entries (caches) stay. A swap that fails is undone before the script exits;
 *   one killed is undone by the next run's recover. While entries move in, .owp-restore-<id>.in
 *   exists; removing the extracted tree (empty by then) is the commit.
 * Each step holds a lock on <dir> (flock, where the image has it): a step of a killed run that
 * still works (its process outlives the kit, in a container even more) ends before the next
 * touches the directory.
 */
export const RESTORE_SCRIPT = `set -e
step=$1; mkdir -p "$2"; cd "$2"; id=$3; shift 3; kept=" $* "
if command -v flock >/dev/null 2>&1; then
  exec 9< .
  # 75: still held after 10 minutes; any other failure (a file system without locks, a flock
  # without -w) goes on without the lock, as where the image has no flock
  flock -E 75 -w 600 9 || { st=$?; [ $st -ne 75 ] || { echo "a step of an earlier restore still works in $PWD (it holds its lock)" >&2; exit 75; }; }
fi
ours() { case "$1" in .owp-restore-*|.owp-pre-restore-*) return 0;; esac; case "$kept" in *" $1 "*) return 0;; esac; return 1; }
# move each entry of $1 (but ours) into $2
move_all() {
  for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    ours "\${e##*/}" && continue
    mv -- "$e" "$2/"
  done
}
# undo the swap of set $1: idempotent, so a run killed while undoing is undone by the next
undo() {
  n=".owp-restore-$1"; o=".owp-pre-restore-$1"
  if [ -e "$n.in" ]; then move_all . "$n"; rm -f "$n.in"; fi
  move_all "$o" .
  rmdir "$o"
  rm -rf "$n"
}
case "$step" in
recover)
  for o in .owp-pre-restore-*; do
    [ -d "$o" ] || continue
    i=\${o#.owp-pre-restore-}
    [ -d ".owp-restore-$i" ] || continue
    undo "$i"
    echo "put back what an interrupted restore (set $i) had moved aside"
  done
  for n in .owp-restore-*; do
    case "$n" in *.in) [ -d "\${n%.in}" ] || rm -f "$n"; continue;; esac
    [ -d "$n" ] || continue
    rm -rf "$n"
    echo "removed the extracted tree of an interrupted restore ($n)"
  done
  for o in .owp-pre-restore-*; do
    [ -d "$o" ] || continue
    if [ -n "$(ls -A "$o")" ]; then echo "$PWD/$o holds what this directory held before an earlier restore: remove it once that restore is confirmed, then run this one again" >&2; exit 4; fi
    rmdir "$o"
  done ;;
extract)
  rm -rf ".owp-restore-$id"; mkdir ".owp-restore-$id"; tar -C ".owp-restore-$id" -xf - ;;
swap)
  n=".owp-restore-$id"; o=".owp-pre-restore-$id"
  [ -d "$n" ] || { echo "no extracted tree $PWD/$n" >&2; exit 3; }
  # recover refused this already; a directory made since would make this swap look interrupted
  if [ -e "$o" ]; then rm -rf "$n"; echo "$PWD/$o exists: not swapping" >&2; exit 4; fi
  mkdir "$o"
  trap 'st=$?; trap - EXIT; if [ $st -ne 0 ]; then undo "$id"; echo "the swap failed and was undone: $PWD holds what it held before" >&2; fi; exit $st' EXIT
  trap 'exit 143' TERM INT HUP
  move_all . "$o"
  : > "$n.in"
  move_all "$n" .
  rmdir "$n"
  rm -f "$n.in"
  trap - EXIT TERM INT HUP
  rmdir "$o" 2>/dev/null || echo "kept $o" ;;
*) echo "unknown step $step" >&2; exit 2 ;;
esac
`

function driverFor(store: FileStoreName): StoreDriver {
  async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
    const excluded = FILE_STORE_SPECS[store].excludes(run.settings.env)
    const version = (await run.target.run(ctx, store, ['tar', '--version'], { allowFailure: true })).stdout.split('\n')[0]?.trim() || 'unknown'
    const started = Date.now()
    const { stats, live } = await archive(ctx, store, run, partialPath(run.dir, ARCHIVE), excluded)
    if (!ctx.dryRun) finishFile(run.dir, ARCHIVE)
    if (live.changed.length) ctx.log.warn(`${store}: ${live.changed.length} path(s) changed while tar read them (the archive holds each as it was read): ${some(live.changed)}`)
    if (live.removed.length) ctx.log.warn(`${store}: ${live.removed.length} path(s) went away before tar read them (not in the set): ${some(live.removed)}`)
    const changed = live.changed.length + live.removed.length > 0
    if (stats && stats.files === 0) ctx.log.warn(`${store}: ${dirOf(store, run)} holds no file (is the volume mounted where it should be?): the set is empty, and restoring it would empty the directory`)
    const details: FilesDetails = { dir: dirOf(store, run), excluded, files: stats?.files ?? 0, bytes: stats?.bytes ?? 0, dirs: stats?.dirs ?? 0, ...(changed ? { changedWhileRead: true } : {}) }
    // what earlier restores set aside (never archived), for the kept-copies metrics
    const kept = await keptFiles(ctx, run.target, store, details.dir, ['.owp-pre-restore-'])
    return { files: [{ name: ARCHIVE, kind: 'tar', durationMs: Date.now() - started }], tools: { tar: version }, server: { version: version }, details: details as unknown as Record<string, unknown>, kept }
  }

  async function verify(ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult> {
    const d = dump.details as unknown as FilesDetails
    if (ctx.dryRun) return { method: 'tar headers' }
    // Reading every header to the end-of-archive blocks proves the archive is whole.
    const s = tarStats(join(run.dir, ARCHIVE))
    if (s.files !== d.files || s.bytes !== d.bytes) throw new KitError(`${store}: the archive lists ${s.files} files (${s.bytes} bytes), the backup counted ${d.files} (${d.bytes})`)
    return { method: 'tar headers read to the end', detail: `${s.files} files, ${s.bytes} bytes (${d.excluded.map((e) => e.path).join(', ') || 'nothing'} excluded)` }
  }

  async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
    const d = manifest.details as unknown as FilesDetails
    const dir = dirOf(store, run)
    const staged = `${dir}/.owp-restore-${run.id}`
    const step = (name: 'recover' | 'extract' | 'swap', o: { stdinFile?: string } = {}) =>
      run.target.run(ctx, store, ['sh', '-c', RESTORE_SCRIPT, 'sh', name, dir, run.id, ...d.excluded.map((e) => e.path)],
        { ...o, mutates: true, allowFailure: true, timeout: name === 'extract' ? run.settings.timeoutMs : 900_000, title: `${name} ${dir}` })
    const busy = (r: { exitCode: number }) => (r.exitCode === 75 ? 75 : 1)
    const result: RestoreResult = { restored: [], warnings: [] }

    // 1. What a killed restore left is put right first; a completed one's kept data stops the run here.
    const recovered = await step('recover')
    for (const line of recovered.stdout.split('\n').filter(Boolean)) {
      ctx.log.warn(`${store}: ${line}`)
      result.restored.push(`first, after an interrupted restore: ${line}`)
    }
    if (recovered.exitCode !== 0) throw new KitError(`${store}: ${failureReason(ctx, recovered)}; nothing ${result.restored.length ? 'else ' : ''}was changed`, busy(recovered))
    if (!ctx.dryRun) {
      // The extracted tree sits beside the data until the swap (renames): its bytes, and at most a block more per entry.
      await ensureSpace(ctx, run.target, store, dir, d.bytes + (d.files + (d.dirs ?? 0)) * 4096, `the ${d.files} files restored beside ${dir}`)
      // The proof archives the extracted tree again, on this host.
      const tar = manifest.files.find((f) => f.kind === 'tar')
      requireSpace(ctx, 'the archive that checks the restored files', run.scratch, tar?.plain?.bytes ?? tar?.bytes ?? d.bytes, localFreeBytes(run.scratch))
    }

    // 2. Extract beside the data and prove the tree against the set. Nothing of the data changes here.
    const dropStaged = () => run.target.run(ctx, store, ['rm', '-rf', staged], { mutates: true, allowFailure: true, timeout: 900_000 })
    const extracted = await step('extract', { stdinFile: join(run.dir, ARCHIVE) })
    if (extracted.exitCode !== 0) {
      await dropStaged()
      throw new KitError(`${store}: extracting the set beside ${dir} failed: ${failureReason(ctx, extracted)}; nothing was changed`, busy(extracted))
    }
    if (!ctx.dryRun) {
      const s = (await archive(ctx, store, run, join(run.scratch, `check-${ARCHIVE}`), [], staged)).stats!
      if (s.files !== d.files || s.bytes !== d.bytes) {
        await dropStaged()
        throw new KitError(`${store}: the files extracted from the set are ${s.files} (${s.bytes} bytes), the set has ${d.files} (${d.bytes}); nothing was changed`)
      }
    }

    // 3. The swap: undone by the script if it fails, by the next run's recover if it is killed.
    const swapped = await step('swap')
    if (swapped.exitCode !== 0) {
      const undone = /was undone/.test(swapped.stderr)
      throw new KitError(`${store}: the restored files were not swapped in: ${failureReason(ctx, swapped)}`, busy(swapped),
        undone ? `${dir} holds what it held before` : `the next restore of ${store} puts back what this one moved aside (${dir}/.owp-pre-restore-${run.id})`)
    }
    result.restored.push(`${d.files} files (${d.bytes} bytes, counted before the swap) into ${dir}; ${d.excluded.map((e) => e.path).join(', ') || 'nothing'} left as it was`)
    if (swapped.stdout.includes(`kept .owp-pre-restore-${run.id}`)) {
      result.warnings.push(`what ${dir} held before is kept in ${dir}/.owp-pre-restore-${run.id} (remove it once the restore is confirmed: the next restore refuses while it is there)`)
    }
    return result
  }

  return {
    name: store,
    backup,
    verify,
    restore,
    describeRestore: (m) => `the files of ${(m.details as unknown as FilesDetails).dir} (what is there now is kept aside in .owp-pre-restore-${m.id})`,
  }
}

export const filesOpenwebuiDriver = driverFor('files-openwebui')
export const filesGraphragDriver = driverFor('files-graphrag')
