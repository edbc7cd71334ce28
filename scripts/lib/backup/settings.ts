// Flags and environment of backup.ts / restore.ts turned into the objects the runs use.
// The .env is read for connection settings and secrets only: a CronJob pod has a handful of
// variables, not the whole deploy contract, so it is not validated here (deploy does that).
import { existsSync, readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import dotenv from 'dotenv'
import { KitError, UsageError } from '../core/errors.ts'
import { COMPOSE_INSTALL_HINT, detectCompose, type ComposeCli } from '../tools/compose.ts'
import { readSchema, secretNames } from '../core/config.ts'
import { COMPOSE_FILE } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'
import { createTarget, type Target } from './targets.ts'
import { composeExtraFiles } from '../tools/compose.ts'
import { createDestination, type Destination } from './destination.ts'
import { STORES, TARGETS, type StoreName, type StoreSettings, type TargetKind } from './types.ts'
import { parseRecipients } from './encryption.ts'
import type { RetentionPolicy } from './retention.ts'

/** Flags shared by backup.ts and restore.ts. */
export const sharedOptions = {
  store: { type: 'string' },
  target: { type: 'string' },
  dest: { type: 'string' },
  'env-file': { type: 'string' },
  project: { type: 'string' },
  'compose-file': { type: 'string' },
  namespace: { type: 'string' },
  release: { type: 'string' },
  'kube-context': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  'lock-dir': { type: 'string' },
  'staging-dir': { type: 'string' },
  'maintenance-window': { type: 'boolean' },
  'neo4j-mode': { type: 'string' },
  'redis-method': { type: 'string' },
  jobs: { type: 'string' },
  timeout: { type: 'string' },
  'config-recipient': { type: 'string' },
  identity: { type: 'string' },
} as const

export const sharedUsage = `
Where:
      --store S         postgres | redis | qdrant | neo4j | files-openwebui | files-graphrag | config
                        | all (default: every store, one platform set; config only with a recipient);
                        several joined by commas: postgres,files-openwebui
      --target T        compose (default) | k8s | direct (host tools, connection from env:
                        PGHOST/PGPORT/PGUSER/PGPASSWORD or POSTGRES_*; REDIS_HOST/REDIS_PORT/
                        REDIS_PASSWORD; QDRANT_URL/QDRANT_API_KEY; NEO4J_HOME/NEO4J_USERNAME/NEO4J_PASSWORD)
      --dest D          a directory or s3://bucket/prefix (default BACKUP_S3_URL, else BACKUP_DIR, else ./backups)
      --env-file F      .env to read connection settings and secrets from (default ./.env when present)
      --project P       compose project (default COMPOSE_PROJECT_NAME or owp)
      --compose-file F  compose file (default compose/docker-compose.prod.yml)
      --namespace N     k8s namespace (default openwebui-prod); --release R (default owp); --kube-context C
      --s3-endpoint URL S3-compatible endpoint (default BACKUP_S3_ENDPOINT); --s3-region R
      --lock-dir D      store leases (default: the kit lock dir; k8s to a directory: <dest>/.locks)
      --staging-dir D   local staging for S3 uploads/downloads (default the system temp dir)
      --maintenance-window  allow stopping Neo4j for an offline dump/load (or BACKUP_MAINTENANCE_WINDOW=true)
      --neo4j-mode M    offline (default: neo4j-admin dump, needs --maintenance-window) | apoc (online
                        export); or BACKUP_NEO4J_MODE
      --redis-method M  rdb (default: redis-cli --rdb) | bgsave (BGSAVE, LASTSAVE polling, copy dump.rdb)
      --jobs N          pg_restore --jobs for verification and restore (default 1)
      --timeout SEC     limit for each dump/restore command (default 21600)
      --config-recipient R  age recipient(s) the .env (store config) is encrypted to (default
                        BACKUP_CONFIG_RECIPIENT); without one the configuration is not backed up
      --identity F      age identity (key) file for encrypted sets (default BACKUP_AGE_IDENTITY)
Files: Open WebUI's data directory and GraphRAG's data volume through the running containers
(compose), a Job mounting the claim (k8s), or OPENWEBUI_DATA_DIR / GRAPHRAG_DATA_DIR (direct).`

export type SharedFlags = { [K in keyof typeof sharedOptions]?: (typeof sharedOptions)[K]['type'] extends 'boolean' ? boolean : string }

/** Names whose values are always masked, beyond the schema's x-secret ones. */
const ALWAYS_SECRET = ['PGPASSWORD', 'REDISCLI_AUTH', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'QDRANT_API_KEY', 'NEO4J_PASSWORD', 'POSTGRES_PASSWORD', 'REDIS_PASSWORD']

export function loadBackupEnv(ctx: Ctx, envFile?: string): { env: Record<string, string>; file: string | null } {
  const file = envFile ?? (existsSync(join(ctx.cwd, '.env')) ? join(ctx.cwd, '.env') : null)
  if (file && !existsSync(file)) throw new UsageError(`env file not found: ${file}`)
  const fromFile = file ? dotenv.parse(readFileSync(file)) : {}
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(fromFile)) if (v !== '') env[k] = v
  for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined && v !== '') env[k] = v
  let names: string[] = []
  try { names = [...secretNames(readSchema()).keys()] } catch { /* schema missing: the fixed list still applies */ }
  for (const name of new Set([...names, ...ALWAYS_SECRET])) ctx.secrets.add(env[name])
  return { env, file: file ? (isAbsolute(file) ? file : join(ctx.cwd, file)) : null }
}

export function parseStores(value: string | undefined): StoreName[] {
  const v = value ?? 'all'
  if (v === 'all') return [...STORES]
  const list = v.split(',').map((s) => s.trim())
  const bad = list.filter((s) => !STORES.includes(s as StoreName))
  if (bad.length) throw new UsageError(`--store must be one of ${STORES.join(', ')} or all, got ${bad.join(', ')}`)
  return list as StoreName[]
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  const v = value ?? fallback
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got "${v}"`)
  return v as T
}

function trueOrFalse(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (value !== 'true' && value !== 'false') throw new UsageError(`${name} must be true or false, got "${value}"`)
  return value === 'true'
}

export function positiveInt(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${flag} must be a whole number >= ${min}, got "${value}"`)
  return Number(value)
}

export interface Resolved {
  stores: StoreName[]
  target: Target
  dest: Destination
  settings: StoreSettings
  env: Record<string, string>
}

export async function resolveShared(ctx: Ctx, flags: SharedFlags): Promise<Resolved> {
  const stores = parseStores(flags.store)
  const kind = oneOf<TargetKind>('target', flags.target, TARGETS, 'compose')
  const { env, file } = loadBackupEnv(ctx, flags['env-file'])
  const settings: StoreSettings = {
    env,
    // Also from the environment, for CronJobs: BACKUP_MAINTENANCE_WINDOW=true, BACKUP_NEO4J_MODE=apoc.
    maintenanceWindow: Boolean(flags['maintenance-window']) || env.BACKUP_MAINTENANCE_WINDOW === 'true',
    neo4jMode: oneOf('neo4j-mode', flags['neo4j-mode'] ?? env.BACKUP_NEO4J_MODE, ['offline', 'apoc'] as const, 'offline'),
    redisMethod: oneOf('redis-method', flags['redis-method'], ['rdb', 'bgsave'] as const, 'rdb'),
    jobs: positiveInt('jobs', flags.jobs, 1, 1),
    timeoutMs: positiveInt('timeout', flags.timeout, 21_600, 1) * 1000,
    configRecipients: parseRecipients(flags['config-recipient'] ?? env.BACKUP_CONFIG_RECIPIENT),
    envFile: file,
    identity: flags.identity ?? env.BACKUP_AGE_IDENTITY,
    keepPrevious: trueOrFalse('BACKUP_RESTORE_KEEP_PREVIOUS', env.BACKUP_RESTORE_KEEP_PREVIOUS, true),
  }
  const target = createTarget({
    kind, env,
    composeCli: kind === 'compose' ? await composeCliFor(ctx) : undefined,
    project: flags.project ?? env.COMPOSE_PROJECT_NAME ?? 'owp',
    composeFile: flags['compose-file'] ?? COMPOSE_FILE,
    // compose only: IMAGE_MIRROR writes its override beside the compose file (a CronJob's is read-only)
    extraFiles: kind === 'compose' ? composeExtraFiles(env, flags['compose-file'] ?? COMPOSE_FILE) : [],
    envFile: file,
    namespace: flags.namespace ?? env.K8S_NAMESPACE ?? 'openwebui-prod',
    release: flags.release ?? env.HELM_RELEASE ?? 'owp',
    kubeContext: flags['kube-context'],
  })
  const destUrl = flags.dest ?? env.BACKUP_S3_URL ?? env.BACKUP_DIR ?? './backups'
  const dest = await createDestination({
    dest: destUrl.startsWith('s3://') || isAbsolute(destUrl) ? destUrl : join(ctx.cwd, destUrl),
    env, s3Endpoint: flags['s3-endpoint'], s3Region: flags['s3-region'], lockDir: flags['lock-dir'], stagingDir: flags['staging-dir'],
  })
  return { stores, target, dest, settings, env }
}

/**
 * The compose CLI the compose target runs the stores through: v2, or v1 (docker-compose 1.x) with a
 * warning, as the deploy does. None at all: refuse at once, before any lease or destination is touched.
 */
async function composeCliFor(ctx: Ctx): Promise<ComposeCli> {
  const cli = await detectCompose(ctx, { anyAnswer: true })
  if (!cli) {
    if (ctx.dryRun) return { kind: 'v2', version: 'unknown', base: ['docker', 'compose'] }
    throw new KitError('no Docker Compose CLI found (neither `docker compose` nor `docker-compose`): the compose target reaches the stores through it', 1,
      `${COMPOSE_INSTALL_HINT}; or --target direct / --target k8s`)
  }
  if (cli.kind === 'v1') ctx.log.warn(`docker-compose ${cli.version} is Compose v1 (end of life): it works here; install the v2 plugin (docker compose)`)
  return cli
}

export function retentionFrom(flags: { 'keep-daily'?: string; 'keep-weekly'?: string; 'keep-monthly'?: string }): RetentionPolicy {
  return {
    daily: positiveInt('keep-daily', flags['keep-daily'], 7),
    weekly: positiveInt('keep-weekly', flags['keep-weekly'], 4),
    monthly: positiveInt('keep-monthly', flags['keep-monthly'], 6),
  }
}
