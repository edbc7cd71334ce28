// The e2e compose stack: its .env (strong generated secrets, free ports, temp paths), how the kit's
// scripts are pointed at the stand-in override, and what is left of a project on the engine.
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, writeFileSync, readFileSync, existsSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, COMPOSE_FILE } from '../../../scripts/lib/core/paths.ts'
import { EXIT, KitError, UsageError } from '../../../scripts/lib/core/errors.ts'
import { E2E_TAG } from './images.ts'
import type { Ctx } from '../../../scripts/lib/core/context.ts'

/**
 * The e2e lane (OWP_E2E_LANE): `make e2e` runs the files on up to three compose projects at once on
 * one engine (harness/lanes.ts). Lane a keeps the historical names; lanes b and c have their own
 * project, subnets and shared-stack record, so they never meet.
 */
export const E2E_LANES = ['a', 'b', 'c'] as const
export type Lane = typeof E2E_LANES[number]
/** The lane OWP_E2E_LANE names (default a), or a usage error naming the bad value. */
export function laneOf(env: NodeJS.ProcessEnv = process.env): Lane {
  const lane = env.OWP_E2E_LANE || 'a'
  if (!(E2E_LANES as readonly string[]).includes(lane)) throw new UsageError(`OWP_E2E_LANE must be ${E2E_LANES.slice(0, -1).join(', ')} or ${E2E_LANES.at(-1)} (got "${lane}")`)
  return lane as Lane
}

/**
 * Every entry point (lanes.ts, setup.ts, the vitest globalSetup) calls this first, before it parses
 * a flag or starts anything: a bad OWP_E2E_LANE is one line on stderr and exit 2.
 */
export function exitOnBadLane(env: NodeJS.ProcessEnv = process.env): void {
  try {
    laneOf(env)
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`)
    process.exit(EXIT.usage)
  }
}

// Importing this file never throws (a stack trace, exit 1, before the entry point could say what is
// wrong): a bad value only names its own project and files here, and every entry point refuses it.
export const E2E_LANE = (process.env.OWP_E2E_LANE || 'a') as Lane
const laneSuffix = (lane: Lane) => (lane === 'a' ? '' : `-${lane}`)
/** The subnets of each lane's networks: not the compose defaults (a user's own stack on the engine keeps its own). */
export const LANE_SUBNETS: Record<Lane, { app: string; monitoring: string }> = {
  a: { app: '172.28.0.0/24', monitoring: '172.29.0.0/24' },
  b: { app: '172.30.0.0/24', monitoring: '172.31.0.0/24' },
  c: { app: '172.26.0.0/24', monitoring: '172.27.0.0/24' },
}
export const E2E_PROJECT = `owp-e2e${laneSuffix(E2E_LANE)}`
export const E2E_OVERRIDE = join(ROOT, 'test', 'e2e', 'compose.e2e.yml')
/** `docker` first on PATH for the kit's scripts: adds the override after the production file. */
export const E2E_BIN = join(ROOT, 'test', 'e2e', 'bin')
export const E2E_DOMAIN = 'owp-e2e.test'
/** The stack the first e2e file deployed, for the files after it (written by ensureStack/shareStack). */
export const SHARED_STACK_FILE = join(ROOT, '.cache', `e2e-shared-stack${laneSuffix(E2E_LANE)}.json`)
/** How long the last e2e setup took, per phase (written by the globalSetup, read by the timings reporter). */
export const SETUP_TIMINGS_FILE = join(ROOT, '.cache', 'e2e-setup-timings.json')

export interface StackPaths {
  dir: string
  envFile: string
  certDir: string
  backups: string
  textfile: string
  models: string
}

export interface StackSettings {
  httpPort: number
  httpsPort: number
  imageTag?: string
}

const secret = (bytes = 24) => randomBytes(bytes).toString('hex')

/**
 * What a lane's stack turns on beyond the defaults. Lane c (the upgrades) runs the applications'
 * database traffic through the kit's PgBouncer image: the blue-green switch, the migration and the
 * rollback's restore of the pre-upgrade set go through a connection pool, as for users who enable it.
 */
export const LANE_ENV: Record<Lane, Record<string, string>> = { a: {}, b: {}, c: { PGBOUNCER_ENABLED: 'true' } }

/** The .env of the e2e stack: production mode (so weak secrets are refused), fresh secrets. */
export function e2eEnv(paths: StackPaths, s: StackSettings): Record<string, string> {
  return {
    DEPLOY_ENV: 'production',
    COMPOSE_PROJECT_NAME: E2E_PROJECT,
    DOMAIN: E2E_DOMAIN,
    PUBLIC_URL: `https://${E2E_DOMAIN}:${s.httpsPort}`,
    HTTP_PORT: String(s.httpPort),
    HTTPS_PORT: String(s.httpsPort),
    TLS_CERT_PATH: join(paths.certDir, 'tls.crt'),
    TLS_KEY_PATH: join(paths.certDir, 'tls.key'),
    // not the defaults: a user's own stack on the same engine keeps its subnets, the other lane its own
    APP_SUBNET: LANE_SUBNETS[E2E_LANE].app,
    MONITORING_SUBNET: LANE_SUBNETS[E2E_LANE].monitoring,
    IMAGE_REGISTRY: 'owp-e2e',
    IMAGE_TAG: s.imageTag ?? E2E_TAG,
    WEBUI_SECRET_KEY: secret(32),
    POSTGRES_USER: 'openwebui',
    POSTGRES_PASSWORD: secret(),
    POSTGRES_DB: 'openwebui',
    REDIS_PASSWORD: secret(),
    QDRANT_API_KEY: secret(32),
    NEO4J_PASSWORD: secret(16),
    LIGHTLLM_ENABLED: 'true',
    LLM_MODEL_DIR: paths.models,
    LLM_MODEL_NAME: 'qwen2.5-7b-instruct',
    LLM_TP: '1',
    LLM_SHM_SIZE: '256m',
    OPENAI_API_KEY: 'none',
    GRAPHRAG_API_KEY: secret(32),
    CELERY_CONCURRENCY: '2',
    GRAFANA_ADMIN_USER: 'admin',
    GRAFANA_ADMIN_PASSWORD: secret(),
    BACKUP_DIR: paths.backups,
    BACKUP_METRICS_DIR: paths.textfile,
    ...LANE_ENV[E2E_LANE] ?? {},
  }
}

export function writeEnvFile(file: string, env: Record<string, string>): void {
  writeFileSync(file, `# the e2e stack (generated by the e2e suite; secrets are fresh every run)\n${Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 })
}

/** Change some variables of an existing .env (the broken-release deploy changes IMAGE_TAG). */
export function updateEnvFile(file: string, changes: Record<string, string>): void {
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const [k, v] of Object.entries(changes)) {
    const i = lines.findIndex((l) => l.startsWith(`${k}=`))
    if (i >= 0) lines[i] = `${k}=${v}`
    else lines.splice(lines.length - 1, 0, `${k}=${v}`)
  }
  writeFileSync(file, lines.join('\n'))
}

export function stackPaths(dir: string): StackPaths {
  const p: StackPaths = {
    dir,
    envFile: join(dir, '.env'),
    certDir: join(dir, 'certs'),
    backups: join(dir, 'backups'),
    textfile: join(dir, 'textfile'),
    models: join(dir, 'models'),
  }
  for (const d of [p.certDir, p.backups, p.textfile, join(p.models, 'qwen2.5-7b-instruct')]) mkdirSync(d, { recursive: true })
  // node-exporter (uid 65534) reads the textfile directory the backups write into
  chmodSync(p.textfile, 0o755)
  return p
}

/**
 * The override files: the stand-ins, then OWP_E2E_EXTRA_OVERRIDES (colon-separated, like
 * COMPOSE_FILE): a debugging aid to try a fix of the compose file before it lands.
 */
export function overrideFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  return [E2E_OVERRIDE, ...(env.OWP_E2E_EXTRA_OVERRIDES ?? '').split(':').filter(Boolean)]
}

/** The real docker CLI: the first `docker` on PATH that is not the e2e shim. */
export function realDocker(path = process.env.PATH ?? ''): string {
  for (const d of path.split(':').filter(Boolean)) {
    const f = join(d, 'docker')
    if (!existsSync(f)) continue
    const real = realpathSync(f)
    if (!real.startsWith(E2E_BIN)) return real
  }
  throw new KitError('no docker CLI on PATH', 1, 'make setup installs Debian docker.io')
}

/**
 * The environment the kit's scripts run with in the suite: the engine's DOCKER_HOST and
 * DOCKER_CONFIG (Compose v2 plugin), and the docker shim that adds the stand-in override.
 */
export function kitEnv(engineEnv: Record<string, string>, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    ...engineEnv,
    PATH: `${E2E_BIN}:${base.PATH ?? ''}`,
    OWP_E2E_REAL_DOCKER: realDocker(base.PATH),
    OWP_E2E_OVERRIDE: overrideFiles(base).join(':'),
    OWP_E2E_PROD_COMPOSE: realpathSync(COMPOSE_FILE),
    NO_COLOR: '1',
  }
}

/** The profiles the lane's stack turns on: LightLLM always, PgBouncer where LANE_ENV enables it. */
const laneProfiles = () => ['lightllm', ...(LANE_ENV[E2E_LANE]?.PGBOUNCER_ENABLED === 'true' ? ['pgbouncer'] : [])]

/**
 * `docker compose` with the production file, the override and the e2e .env, for the suite itself.
 * The profiles too: `down` without them would leave LightLLM and PgBouncer (their profiles) behind.
 */
export function composeArgv(envFile: string, ...args: string[]): string[] {
  return ['docker', 'compose', '--project-name', E2E_PROJECT, '--file', COMPOSE_FILE, ...overrideFiles().flatMap((f) => ['--file', f]),
    '--env-file', envFile, ...laneProfiles().flatMap((p) => ['--profile', p]), ...args]
}

export interface Leftovers { containers: string[]; networks: string[]; volumes: string[] }

/** Everything on the engine that belongs to a compose project (by compose's labels). */
export async function projectLeftovers(ctx: Ctx, env: Record<string, string>, project = E2E_PROJECT): Promise<Leftovers> {
  const label = `label=com.docker.compose.project=${project}`
  const list = async (argv: string[]) => {
    const r = await ctx.exec(argv, { env, timeout: 60_000 })
    return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean)
  }
  const [containers, networks, volumes] = await Promise.all([
    list(['docker', 'ps', '--all', '--filter', label, '--format', '{{.Names}}']),
    list(['docker', 'network', 'ls', '--filter', label, '--format', '{{.Name}}']),
    list(['docker', 'volume', 'ls', '--filter', label, '--format', '{{.Name}}']),
  ])
  return { containers, networks, volumes }
}

/**
 * The endpoints of `network` whose container no longer exists, disconnected (`--force`): dockerd
 * 20.10 can keep one after a container removed while its network was being set up or torn down, and
 * the network then refuses removal ("has active endpoints") forever. An endpoint of a container that
 * exists is left alone and returned (a real leftover for the caller to name).
 */
export async function forgetStaleEndpoints(ctx: Ctx, env: Record<string, string>, network: string): Promise<{ stale: string[]; attached: string[] }> {
  const r = await ctx.exec(['docker', 'network', 'inspect', '--format', '{{json .Containers}}', network], { env, allowFailure: true, timeout: 60_000 })
  const endpoints = r.exitCode === 0 ? Object.entries((JSON.parse(r.stdout.trim() || 'null') ?? {}) as Record<string, { Name?: string }>) : []
  const stale: string[] = []
  const attached: string[] = []
  for (const [id, ep] of endpoints) {
    const exists = (await ctx.exec(['docker', 'inspect', '--type', 'container', id], { env, allowFailure: true, timeout: 60_000 })).exitCode === 0
    if (exists) { attached.push(ep.Name || id); continue }
    await ctx.exec(['docker', 'network', 'disconnect', '--force', network, ep.Name || id], { env, allowFailure: true, timeout: 60_000 })
    stale.push(ep.Name || id)
  }
  return { stale, attached }
}

/** Remove a project's containers, networks and volumes whatever state a run left them in. */
export async function removeProject(ctx: Ctx, env: Record<string, string>, project = E2E_PROJECT): Promise<Leftovers> {
  const left = await projectLeftovers(ctx, env, project)
  if (left.containers.length) await ctx.exec(['docker', 'rm', '--force', '--volumes', ...left.containers], { env, allowFailure: true, timeout: 300_000 })
  for (const n of left.networks) await forgetStaleEndpoints(ctx, env, n)
  if (left.networks.length) await ctx.exec(['docker', 'network', 'rm', ...left.networks], { env, allowFailure: true, timeout: 120_000 })
  if (left.volumes.length) await ctx.exec(['docker', 'volume', 'rm', '--force', ...left.volumes], { env, allowFailure: true, timeout: 300_000 })
  return projectLeftovers(ctx, env, project)
}
