// The shapes shared by the backup pieces: stores, targets, drivers, manifests.
import type { Ctx } from '../core/context.ts'
import type { ExecOptions, ExecResult } from '../core/exec.ts'

/** The databases (each a driver of its own) and the file stores (stores/files.ts, stores/config.ts). */
export const DATABASE_STORES = ['postgres', 'redis', 'qdrant', 'neo4j'] as const
export const FILE_STORES = ['files-openwebui', 'files-graphrag'] as const
/** `config` is the deployment's .env, age-encrypted: only with a recipient, never in `all` without one. */
export const STORES = [...DATABASE_STORES, ...FILE_STORES, 'config'] as const
export type StoreName = (typeof STORES)[number]
export type FileStoreName = (typeof FILE_STORES)[number]

/** The compose service / Kubernetes component a store's commands run beside. */
export const SERVICE_OF: Record<StoreName, string> = {
  postgres: 'postgres', redis: 'redis', qdrant: 'qdrant', neo4j: 'neo4j',
  'files-openwebui': 'openwebui', 'files-graphrag': 'graphrag-processor', config: 'config',
}
export const TARGETS = ['compose', 'k8s', 'direct'] as const
export type TargetKind = (typeof TARGETS)[number]

export const MANIFEST_NAME = 'manifest.json'
export const MANIFEST_FORMAT = 'owp-backup/1'

/** One file of a backup set, as the manifest records it. */
export interface SetFile {
  /** File name inside the set (with .age when encrypted). */
  name: string
  bytes: number
  sha256: string
  /** What the file holds, e.g. "globals", "database", "rdb", "snapshot", "dump". */
  kind: string
  /** The database / collection the file belongs to, when there is one. */
  of?: string
  /** How long producing it took. */
  durationMs: number
  /** Size and checksum before encryption (absent when not encrypted). */
  plain?: { bytes: number; sha256: string }
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT
  store: StoreName
  id: string
  startedAt: string
  finishedAt: string
  durationMs: number
  host: string
  target: { kind: TargetKind; where: string }
  /** Versions of the tools that wrote the files and of the server they came from. */
  tools: Record<string, string>
  server: { version: string }
  files: SetFile[]
  bytes: number
  verified: { ok: boolean; method: string; durationMs: number; detail?: string } | null
  encryption: { tool: 'age'; recipients: string[] } | null
  /** Store-specific facts used by verification and by restore checks (row counts, keys, points). */
  details: Record<string, unknown>
  /** Why the set was taken, when someone said (backup --label; the deploy's `pre-upgrade:<deploy>`). */
  label?: string
}

/** A file a driver produced in the work directory. */
export interface ProducedFile {
  name: string
  kind: string
  of?: string
  durationMs: number
}

export interface DumpResult {
  files: ProducedFile[]
  tools: Record<string, string>
  server: { version: string }
  details: Record<string, unknown>
  /** What earlier restores replaced and kept beside the store, seen by this backup (a driver that keeps such copies says so, even when none). */
  kept?: KeptCopies
}

/** What restores replaced and kept for the operator, still there: never part of a set. */
export interface KeptCopies {
  names: string[]
  bytes: number
  /** When the oldest of them was replaced (null: none). */
  since: Date | null
}

export interface VerifyResult {
  method: string
  detail?: string
}

export interface RestoreResult {
  /** One line per thing restored, e.g. "database app (12 tables)". */
  restored: string[]
  warnings: string[]
}

export interface DriverRun {
  target: Target
  /** Directory the files are written to (or read from, on restore). */
  dir: string
  /** A private local temp directory for this run (removed afterwards). */
  scratch: string
  /** Set id (timestamp), used to name scratch objects. */
  id: string
  settings: StoreSettings
  /** Verification is on: drivers collect what it needs (e.g. row counts in the dump snapshot). */
  verify: boolean
  /**
   * Restore by a driver that restores beside the live store: the set's checksums, read from the
   * first call on (the same promise every call). The driver starts them beside its own work and
   * awaits them before the first change production sees (a failure is the run's error).
   */
  proof?: () => Promise<void>
  /** Restore by a driver that restores beside the live store: stops the writers, right before that change. */
  quiesce?: () => Promise<void>
}

export interface StoreSettings {
  /** Environment for direct connections and for masking (process env over .env). */
  env: Record<string, string>
  /** Neo4j: allowed to stop the database for an offline dump. */
  maintenanceWindow: boolean
  neo4jMode: 'offline' | 'apoc'
  redisMethod: 'rdb' | 'bgsave'
  /** pg_restore --jobs for verification and restore. */
  jobs: number
  /** Per-command timeout in ms. */
  timeoutMs: number
  /** config store: age recipients the .env is encrypted to (never stored in clear). */
  configRecipients?: string[]
  /** config store: the .env file it backs up. */
  envFile?: string | null
  /** age identity file (restore of encrypted parts, config store). */
  identity?: string
  /** PostgreSQL restore: keep what each live database held (default), or drop it after the swap. */
  keepPrevious?: boolean
}

export interface StoreDriver {
  name: StoreName
  /** Write the store's files into run.dir (each through a .partial name). */
  backup(ctx: Ctx, run: DriverRun): Promise<DumpResult>
  /** Prove the files restore (throws when they do not). */
  verify(ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult>
  /** Restore plain files found in run.dir, described by the manifest. */
  restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult>
  /** What a restore replaces, for the confirmation question. */
  describeRestore(manifest: Manifest): string
  /**
   * The restore builds a copy beside the live store and changes production only in a final swap:
   * it starts before the checksums are checked, while the writers still run (run.proof, run.quiesce).
   */
  restoresBeside?: boolean
  /** The restore changes nothing the writers use (the configuration, written beside the .env): they are not stopped for it. */
  leavesWritersRunning?: boolean
}

// Where a store runs (targets.ts implements these).
export interface RunOptions extends Omit<ExecOptions, 'env'> {
  /** Plain variables for the tool (shown in argv where the target needs it). */
  env?: Record<string, string>
  /** Secret variables for the tool: never placed in argv. */
  secretEnv?: Record<string, string>
}

export interface OfflineIo {
  /** Local directory the admin command's files come from / go to. */
  localDir: string
  /** Files to bring back into localDir after the command (backup). */
  collect?: string[]
  /** Files from localDir to provide to the command (restore). */
  provide?: string[]
}

/** Run an admin command while the store is stopped; `ioPath` is localDir as the command sees it. */
export type AdminRunner = (argv: string[], o?: RunOptions) => Promise<ExecResult>

/** How to reach the services around the stores (writers.ts): compose argv base, or kubectl and the release. */
export interface WriterControl {
  kind: 'compose' | 'k8s'
  compose?: string[]
  /** compose: Compose v1 (docker-compose 1.x), whose `ps` filters with --filter status=running. */
  composeV1?: boolean
  kubectl?: string[]
  namespace?: string
  release?: string
}

export interface Target {
  kind: TargetKind
  /** The writers' controls (absent for direct: the kit does not manage them there). */
  writerControl?(): WriterControl
  /** Human description of where the store is, for logs and the restore question. */
  where(store: StoreName): string
  run(ctx: Ctx, store: StoreName, argv: string[], o?: RunOptions): Promise<ExecResult>
  /** Copy a file from where the store runs to this host. */
  copyFrom(ctx: Ctx, store: StoreName, remote: string, local: string): Promise<void>
  /** Copy a file from this host to where the store runs. */
  copyTo(ctx: Ctx, store: StoreName, local: string, remote: string): Promise<void>
  /** Base URL of an HTTP API of the store (Qdrant). */
  httpUrl(ctx: Ctx, store: StoreName, port: number, envName: string): Promise<string>
  /** Stop the store, run admin commands with its data, start it again (always). */
  offline<T>(ctx: Ctx, store: StoreName, io: OfflineIo, fn: (admin: AdminRunner, ioPath: string) => Promise<T>): Promise<T>
  /** Wait until the store's process answers again after a restart it did itself. */
  restarted(ctx: Ctx, store: StoreName): Promise<void>
}

// Where backup sets live (destination.ts and s3.ts implement these).
export interface SetRef {
  store: StoreName
  id: string
  /** Where the set is, for messages: a directory or an s3:// URL. */
  location: string
  manifest: Manifest | null
  /** Why a set without a valid manifest is incomplete. */
  incomplete?: string
  /** From the manifest when complete, from the id otherwise. */
  time: Date
}

export interface Destination {
  url: string
  kind: 'local' | 's3'
  /** Whether a set (complete or not) with this id exists already. */
  taken(ctx: Ctx, store: StoreName, id: string): Promise<boolean>
  /** A directory this run writes the set's files into. */
  workDir(store: StoreName, id: string): string
  /** Make the set complete: write the manifest last (after uploading the files, for S3). */
  publish(ctx: Ctx, store: StoreName, id: string, workDir: string, manifest: Manifest): Promise<string>
  /** Clean up the work directory of a run that did not complete. */
  discard(ctx: Ctx, store: StoreName, id: string, workDir: string): Promise<void>
  list(ctx: Ctx, store: StoreName): Promise<SetRef[]>
  /** A local directory holding the set's files (downloaded for S3) and a cleanup. */
  fetch(ctx: Ctx, set: SetRef): Promise<{ dir: string; done(): void }>
  /** Delete a set, manifest first: an interrupted delete leaves an incomplete set, never a broken complete one. */
  remove(ctx: Ctx, set: SetRef): Promise<void>
  // Platform manifests: small JSON files under <dest>/platform/ (platform.ts gives them meaning).
  putMeta(ctx: Ctx, name: string, text: string): Promise<void>
  /** The file's text, or null when there is none. */
  getMeta(ctx: Ctx, name: string): Promise<string | null>
  listMeta(ctx: Ctx): Promise<string[]>
  removeMeta(ctx: Ctx, name: string): Promise<void>
  /**
   * The directory of the store locks of a target: --lock-dir / BACKUP_LOCK_DIR; for a Kubernetes
   * target backing up to a directory, <dest>/.locks (the PVC every Job pod mounts: a new pod sees
   * the lease of a killed one); else the kit's lock dir on this host (backup/locks.ts names the file).
   */
  lockDir(target: TargetKind): string
}

export interface DestinationSettings {
  dest: string
  env: Record<string, string>
  s3Endpoint?: string
  s3Region?: string
  lockDir?: string
  stagingDir?: string
}
