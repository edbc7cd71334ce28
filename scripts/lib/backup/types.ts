// The shapes shared by the backup pieces: stores, targets, drivers, manifests.
import type { Ctx } from '../context.ts'
import type { Target } from './targets.ts'

export const STORES = ['postgres', 'redis', 'qdrant', 'neo4j'] as const
export type StoreName = (typeof STORES)[number]
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
}
