// File stores: Open WebUI's data directory (uploads, its other files) and GraphRAG's data volume,
// as one tar archive taken through the running container (compose exec, a Kubernetes Job that
// mounts the claim, or the host directory). Caches and re-downloadable models are excluded and the
// exclusion is written in the manifest. Restore extracts beside the data (.owp-restore-<id>), then
// swaps entry by entry, keeping what was there in .owp-pre-restore-<id> until the operator removes it.
// The free space of the data directory (df where it is mounted) is checked before the extraction.
import { join } from 'node:path'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { tarStats, type TarStats } from '../tar-stats.ts'
import { ensureSpace, localFreeBytes, requireSpace } from '../space.ts'
import type { DriverRun, DumpResult, FileStoreName, Manifest, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'
import { failureReason, exitCodeAndWhy } from '../../core/exec.ts'

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

/** GNU tar exits 1 when a file changed while it read it: a live volume, not a broken archive. */
function tarOutcome(ctx: Ctx, store: string, r: { exitCode: number; stderr: string }): boolean {
  if (r.exitCode === 0) return false
  if (r.exitCode === 1 && /changed as we read it|file changed|shrank by/i.test(r.stderr)) return true
  throw new KitError(`${store}: tar exited ${exitCodeAndWhy(ctx, { ...r, stdout: '' }, 3, '; ')}`)
}

/** Archive the store's directory into `local` (through the target); returns the archive's stats. */
export async function archive(ctx: Ctx, store: FileStoreName, run: DriverRun, local: string, excluded: Exclusion[]): Promise<{ stats: TarStats | null; changed: boolean }> {
  const dir = dirOf(store, run)
  const r = await run.target.run(ctx, store, tarArgv(dir, excluded), { stdoutFile: local, allowFailure: true, mutates: true, timeout: run.settings.timeoutMs, title: `tar ${dir}` })
  if (ctx.dryRun) return { stats: null, changed: false }
  const changed = tarOutcome(ctx, store, r)
  return { stats: tarStats(local), changed }
}

/** Extract into <dir>/.owp-restore-<id> (emptied first: a killed earlier attempt leaves debris there only). */
export const EXTRACT_SCRIPT = 'set -e; rm -rf "$1"; mkdir -p "$1"; tar -C "$1" -xf -'

/**
 * Swap the extracted tree in, entry by entry; what was there goes to .owp-pre-restore-<id>.
 * Excluded entries (caches) stay. A pre-restore folder left by an interrupted restore stops the
 * swap: moving into it again would mix two generations of data.
 */
export const SWAP_SCRIPT = `set -e
cd "$1"; id=$2; shift 2
new=".owp-restore-$id"; old=".owp-pre-restore-$id"
[ -d "$new" ] || { echo "no extracted tree $new" >&2; exit 3; }
for d in .owp-pre-restore-*; do
  [ -d "$d" ] || continue
  if [ -n "$(ls -A "$d")" ]; then echo "$1/$d holds the data of an interrupted or earlier restore: move it back or remove it, then run the restore again" >&2; exit 4; fi
done
mkdir -p "$old"
for e in * .[!.]* ..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  case "$e" in .owp-restore-*|.owp-pre-restore-*) continue;; esac
  keep=no; for x in "$@"; do [ "$e" = "$x" ] && keep=yes; done
  [ "$keep" = yes ] && continue
  mv -- "$e" "$old/"
done
for e in "$new"/* "$new"/.[!.]* "$new"/..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  mv -- "$e" .
done
rmdir "$new"
rmdir "$old" 2>/dev/null || true
`

function driverFor(store: FileStoreName): StoreDriver {
  async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
    const excluded = FILE_STORE_SPECS[store].excludes(run.settings.env)
    const version = (await run.target.run(ctx, store, ['tar', '--version'], { allowFailure: true })).stdout.split('\n')[0]?.trim() || 'unknown'
    const started = Date.now()
    const { stats, changed } = await archive(ctx, store, run, partialPath(run.dir, ARCHIVE), excluded)
    if (!ctx.dryRun) finishFile(run.dir, ARCHIVE)
    if (changed) ctx.log.warn(`${store}: files changed while tar read them (the archive holds each as it was read)`)
    const details: FilesDetails = { dir: dirOf(store, run), excluded, files: stats?.files ?? 0, bytes: stats?.bytes ?? 0, dirs: stats?.dirs ?? 0, ...(changed ? { changedWhileRead: true } : {}) }
    return { files: [{ name: ARCHIVE, kind: 'tar', durationMs: Date.now() - started }], tools: { tar: version }, server: { version: version }, details: details as unknown as Record<string, unknown> }
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
    if (!ctx.dryRun) {
      // The extracted tree sits beside the data until the swap (renames): its bytes, and at most a block more per entry.
      await ensureSpace(ctx, run.target, store, dir, d.bytes + (d.files + (d.dirs ?? 0)) * 4096, `the ${d.files} files restored beside ${dir}`)
      // The check after the swap archives the restored tree again, on this host.
      const tar = manifest.files.find((f) => f.kind === 'tar')
      requireSpace(ctx, 'the archive that checks the restored files', run.scratch, tar?.plain?.bytes ?? tar?.bytes ?? d.bytes, localFreeBytes(run.scratch))
    }
    await run.target.run(ctx, store, ['sh', '-c', EXTRACT_SCRIPT, 'sh', staged], { stdinFile: join(run.dir, ARCHIVE), mutates: true, timeout: run.settings.timeoutMs, title: `extract into ${staged}` })
    const swap = await run.target.run(ctx, store, ['sh', '-c', SWAP_SCRIPT, 'sh', dir, run.id, ...d.excluded.map((e) => e.path)], { mutates: true, allowFailure: true, timeout: 600_000, title: `swap ${dir}` })
    if (swap.exitCode !== 0) throw new KitError(`${store}: the restored files were not swapped in: ${failureReason(ctx, swap)}`, 1, `the extracted tree is in ${staged}; nothing of ${dir} was changed before the swap`)
    if (ctx.dryRun) return { restored: [`${d.files} files into ${dir}`], warnings: [] }
    const check = await archive(ctx, store, run, join(run.scratch, `check-${ARCHIVE}`), d.excluded)
    const s = check.stats!
    if (s.files !== d.files || s.bytes !== d.bytes) throw new KitError(`${store}: ${dir} holds ${s.files} files (${s.bytes} bytes) after the restore, the set has ${d.files} (${d.bytes})`)
    return {
      restored: [`${d.files} files (${d.bytes} bytes) into ${dir}; ${d.excluded.map((e) => e.path).join(', ')} left as they were`],
      warnings: [`what ${dir} held before is kept in ${dir}/.owp-pre-restore-${run.id} (remove it once the restore is confirmed)`],
    }
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
