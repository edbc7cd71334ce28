// Docker Compose: v2 (`docker compose`) or v1 (`docker-compose`, with a warning), the project's
// argv, its services as the compose file declares them, and the state of its containers.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { probe, probeWhy, failureReason } from '../core/exec.ts'
import { KitError } from '../core/errors.ts'
import { parseVersion, compareVersions } from '../core/preflight.ts'
import { resolveHostPath } from '../stack/env.ts'
import { writeMirrorOverride } from '../stack/registry-mirror.ts'
import { COMPOSE_FILE } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'

export interface ComposeCli {
  kind: 'v2' | 'v1'
  version: string
  /** argv prefix: ['docker', 'compose'] or ['docker-compose']. */
  base: string[]
}

export const MIN_COMPOSE_V2 = '2.20.0'
export const COMPOSE_INSTALL_HINT = 'install the Docker Compose v2 plugin (apt-get install docker-compose-plugin, or Docker Desktop)'

/** o.anyAnswer: a `docker compose version` that succeeds means the plugin is there, even when its version does not parse. */
export async function detectCompose(ctx: Ctx, o: { anyAnswer?: boolean; timeoutMs?: number } = {}): Promise<ComposeCli | null> {
  const timeoutMs = o.timeoutMs ?? 30_000
  const asked = await probeWhy(ctx, ['docker', 'compose', 'version', '--short'], timeoutMs)
  // a machine too busy to answer in time is not a machine without Compose: say which it is
  if (asked.why?.includes('timed out')) {
    throw new KitError(`\`docker compose version\` did not answer within ${Math.round(timeoutMs / 1000)}s (${asked.why})`, 1,
      'the machine or the Docker engine is overloaded; run again when it answers')
  }
  const v2 = asked.out
  const v2version = v2 ? parseVersion(v2) : null
  if (v2version) return { kind: 'v2', version: v2version, base: ['docker', 'compose'] }
  if (v2 !== null && o.anyAnswer) return { kind: 'v2', version: v2 || 'unreported', base: ['docker', 'compose'] }
  const v1 = await probe(ctx, ['docker-compose', 'version', '--short'])
  const v1version = v1 ? parseVersion(v1) : null
  if (v1version) {
    // Debian's docker-compose 2.x package installs v2 as `docker-compose`: it speaks v2 flags.
    if (compareVersions(v1version, '2.0.0') >= 0) return { kind: 'v2', version: v1version, base: ['docker-compose'] }
    return { kind: 'v1', version: v1version, base: ['docker-compose'] }
  }
  return null
}

export interface ComposeProject {
  cli: ComposeCli
  file: string
  /** COMPOSE_PROJECT_NAME (default owp). */
  name: string
  envFile?: string | null
  /** --profile flags (LightLLM sits behind the `lightllm` profile). */
  profiles?: string[]
  /** The site's override files after the main file (.env COMPOSE_EXTRA_FILES, see composeExtraFiles). */
  extraFiles?: string[]
}

/** The compose argv of this project, then the subcommand. */
export function composeArgv(p: ComposeProject, ...args: string[]): string[] {
  return [
    ...p.cli.base, '--project-name', p.name, ...composeFileArgs(p.file, p.extraFiles), ...(p.envFile ? ['--env-file', p.envFile] : []),
    ...(p.profiles ?? []).flatMap((x) => ['--profile', x]), ...args,
  ]
}

/** The file flags of a project: the main compose file, then the override files in order (later ones win). */
export function composeFileArgs(file: string, extraFiles: string[] = [], flag: '--file' | '-f' = '--file'): string[] {
  return [file, ...extraFiles].flatMap((f) => [flag, f])
}

/** The kit's own override files, each turned on by .env: a corporate CA bundle, air-gapped mode. */
export const FEATURE_FILES = {
  caBundle: join(dirname(COMPOSE_FILE), 'features', 'ca-bundle.yml'),
  airGapped: join(dirname(COMPOSE_FILE), 'features', 'air-gapped.yml'),
}

/**
 * The override files after the main one: the kit's feature files the .env turns on (CA_BUNDLE_PATH,
 * AIR_GAPPED=true), the image mirror (IMAGE_MIRROR: a file generated from the compose file, see
 * stack/registry-mirror.ts), then the site's own from COMPOSE_EXTRA_FILES (comma-separated): absolute,
 * or relative to the main compose file's directory like every host path of .env (compose resolves the
 * paths inside them from there too: the first file sets the project directory). The site's files
 * come last: an image a site names itself wins over the mirror's name.
 */
export function composeExtraFiles(env: Record<string, string | undefined>, file: string): string[] {
  const features = [
    ...(env.CA_BUNDLE_PATH ? [FEATURE_FILES.caBundle] : []),
    ...(/^(true|1|yes)$/i.test(env.AIR_GAPPED ?? 'false') ? [FEATURE_FILES.airGapped] : []),
    ...(env.IMAGE_MIRROR ? [writeMirrorOverride(env, file)] : []),
  ]
  return [...features, ...(env.COMPOSE_EXTRA_FILES ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((f) => resolveHostPath(f, file))]
}

/** The profiles to run: COMPOSE_PROFILES, plus `lightllm` when LIGHTLLM_ENABLED is on (its default), `pgbouncer` when PGBOUNCER_ENABLED is. */
export function composeProfiles(env: Record<string, string | undefined>): string[] {
  const fromEnv = (env.COMPOSE_PROFILES ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const lightllm = (env.LIGHTLLM_ENABLED ?? 'true') !== 'false'
  const pgbouncer = /^(true|1|yes)$/i.test(env.PGBOUNCER_ENABLED ?? 'false')
  return [...new Set([...fromEnv, ...(lightllm ? ['lightllm'] : []), ...(pgbouncer ? ['pgbouncer'] : [])])]
}

export interface ComposeService {
  name: string
  image?: string
  build?: unknown
  healthcheck?: { test?: string | string[]; disable?: boolean }
  ports?: unknown[]
  profiles?: string[]
  labels?: Record<string, string> | string[]
  deploy?: { replicas?: number | string; [k: string]: unknown }
}

/**
 * The services of the project, as compose resolves them (`config --format json` on v2, the YAML of
 * `config` on v1). Without any compose CLI (a --dry-run on a bare machine) the file is read as is.
 */
export async function composeServices(ctx: Ctx, p: ComposeProject | null, file: string, env: Record<string, string> = {}): Promise<ComposeService[]> {
  type Doc = { services?: Record<string, Omit<ComposeService, 'name'>> } | null
  let doc: Doc
  if (p) {
    doc = await composeConfig(ctx, p, env) as Doc
  } else {
    ctx.log.warn(`no compose CLI: reading ${file} without interpolation`)
    doc = parseYaml(readFileSync(file, 'utf8')) as Doc
  }
  // v1 `config` lists services of inactive profiles too: keep what `up` would start
  const active = new Set(p?.profiles ?? [])
  return Object.entries(doc?.services ?? {}).map(([name, s]) => ({ name, ...s }))
    .filter((s) => !s.profiles?.length || s.profiles.some((x) => active.has(x)))
}

/** The project as compose resolves it: every --file merged, variables interpolated (`config`). */
export async function composeConfig(ctx: Ctx, p: ComposeProject, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const args = p.cli.kind === 'v2' ? ['config', '--format', 'json'] : ['config']
  const r = await ctx.exec(composeArgv(p, ...args), { allowFailure: true, timeout: 60_000, env })
  if (r.exitCode !== 0) {
    throw new KitError(`the compose file${p.extraFiles?.length ? 's do' : ' does'} not resolve (${p.cli.base.join(' ')} config):\n${failureReason(ctx, { ...r, stdout: '' }, 20, '\n')}`, 2,
      'fix the variables it names in .env (config/env.schema.json lists them)')
  }
  return ((p.cli.kind === 'v2' ? JSON.parse(r.stdout) : parseYaml(r.stdout)) ?? {}) as Record<string, unknown>
}

export interface ContainerState {
  id: string
  service: string
  /** The image reference the container was created from (repo:tag as written in the compose file). */
  image: string
  /** The image ID (sha256:...) it runs. */
  imageId: string
  state: string
  /** healthy | unhealthy | starting | '' (no healthcheck). */
  health: string
  /** The container's name (a DNS name on its networks), without docker's leading slash. */
  name?: string
  /** Compose's hash of the service config it was created from (com.docker.compose.config-hash). */
  configHash?: string
  /** The last healthcheck output (why it is unhealthy). */
  healthLog?: string
  /** Its healthcheck as Docker runs it (from `docker inspect` only). */
  healthcheck?: Healthcheck
}

export interface Healthcheck { argv: string[]; timeoutMs: number }

interface Inspect {
  Id: string
  Image: string
  Name?: string
  Config?: { Image?: string; Labels?: Record<string, string>; Shell?: string[]; Healthcheck?: { Test?: string[]; Timeout?: number } }
  State?: { Status?: string; Health?: { Status?: string; Log?: Array<{ ExitCode?: number; Output?: string }> } }
}

/**
 * The project's containers (`ps --all --quiet`, then `docker inspect`): works the same on v1 and
 * v2 and gives the image each one runs. Null when the engine cannot be asked.
 */
export async function containers(ctx: Ctx, p: ComposeProject, env: Record<string, string> = {}): Promise<ContainerState[] | null> {
  const ids = await ctx.exec(composeArgv(p, 'ps', '--all', '--quiet'), { allowFailure: true, timeout: 30_000, env }).catch(() => null)
  if (!ids || ids.exitCode !== 0) return null
  const list = ids.stdout.split('\n').map((s) => s.trim()).filter(Boolean)
  if (!list.length) return []
  return inspectContainers(ctx, list)
}

/** `docker inspect` of containers by ID: their service, image, state and health. Null when the engine cannot be asked. */
export async function inspectContainers(ctx: Ctx, ids: string[]): Promise<ContainerState[] | null> {
  if (!ids.length) return []
  const r = await ctx.exec(['docker', 'inspect', ...ids], { allowFailure: true, timeout: 30_000 }).catch(() => null)
  if (!r || r.exitCode !== 0) return null
  return (JSON.parse(r.stdout) as Inspect[]).map((c) => ({
    id: c.Id,
    service: c.Config?.Labels?.['com.docker.compose.service'] ?? '',
    image: c.Config?.Image ?? '',
    imageId: c.Image,
    state: c.State?.Status ?? '',
    health: c.State?.Health?.Status ?? '',
    name: (c.Name ?? '').replace(/^\//, '') || undefined,
    configHash: c.Config?.Labels?.['com.docker.compose.config-hash'],
    healthLog: c.State?.Health?.Log?.at(-1)?.Output?.trim().slice(0, 300),
    healthcheck: healthcheckOf(c),
  }))
}

/**
 * The container's healthcheck as Docker runs it (`docker exec` of its test, as the container's
 * user, in its environment): CMD as is, CMD-SHELL through the container's shell (SHELL, else
 * /bin/sh -c); none for NONE or no healthcheck.
 */
function healthcheckOf(c: Inspect): Healthcheck | undefined {
  const hc = c.Config?.Healthcheck
  const test = hc?.Test ?? []
  const timeoutMs = hc?.Timeout ? Math.round(hc.Timeout / 1e6) : 30_000 // Docker's default timeout
  if (test[0] === 'CMD' && test.length > 1) return { argv: test.slice(1), timeoutMs }
  if (test[0] === 'CMD-SHELL' && test.length > 1) return { argv: [...(c.Config?.Shell?.length ? c.Config.Shell : ['/bin/sh', '-c']), test.slice(1).join(' ')], timeoutMs }
  return undefined
}

/** Runs a container's healthcheck now, as Docker would on its next turn: true when it passes. */
export async function runHealthcheck(ctx: Ctx, c: ContainerState): Promise<boolean> {
  if (!c.healthcheck) return false
  const r = await ctx.exec(['docker', 'exec', c.id, ...c.healthcheck.argv], { allowFailure: true, timeout: c.healthcheck.timeoutMs + 1000 }).catch(() => null)
  return r?.exitCode === 0
}

/** A container is fine when it runs and, if it has a healthcheck, reports healthy. */
export function isHealthy(c: ContainerState): boolean {
  return c.state === 'running' && (c.health === '' || c.health === 'healthy')
}

/**
 * Compose v1 has no `up --wait`: poll until every container of the listed services runs and is
 * healthy, or the deadline passes. Returns the services still not healthy ([] = all fine).
 */
export async function waitHealthy(ctx: Ctx, p: ComposeProject, services: string[], timeoutMs: number, env: Record<string, string> = {}, intervalMs = 2000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const cs = (await containers(ctx, p, env)) ?? []
    const bad = services.filter((s) => {
      const mine = cs.filter((c) => c.service === s)
      return mine.length === 0 || mine.some((c) => !isHealthy(c))
    })
    if (!bad.length) return []
    // a container that exited (no restart pending) will not get healthy by waiting longer
    const gone = bad.some((s) => cs.some((c) => c.service === s && (c.state === 'exited' || c.state === 'dead')))
    if (gone || Date.now() >= deadline || ctx.signal.aborted) return bad
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/**
 * The healthcheck test of a service as an argv for `compose exec` (CMD or CMD-SHELL form).
 * `config` output keeps compose's `$$` escape; the container's shell wants a plain `$`.
 */
export function healthcheckArgv(s: ComposeService): string[] | null {
  const t = s.healthcheck?.test
  if (!t || s.healthcheck?.disable) return null
  const un = (x: string) => x.replaceAll('$$', '$')
  if (typeof t === 'string') return ['sh', '-c', un(t)]
  const [kind, ...rest] = t
  if (kind === 'NONE') return null
  if (kind === 'CMD') return rest.map(un)
  if (kind === 'CMD-SHELL') return ['sh', '-c', un(rest.join(' '))]
  return t.map(un)
}

/** Compose's config hash of every service (`config --hash '*'`, v2): what `up` compares to decide a recreate. */
export async function configHashes(ctx: Ctx, p: ComposeProject): Promise<Record<string, string>> {
  if (p.cli.kind !== 'v2') return {}
  const r = await ctx.exec(composeArgv(p, 'config', '--hash', '*'), { allowFailure: true, timeout: 60_000 }).catch(() => null)
  if (!r || r.exitCode !== 0) return {}
  return Object.fromEntries(r.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((x) => x.length === 2 && x[0] && x[1]).map(([s, h]) => [s!, h!]))
}

/** What to do with a successor compose left under its temporary name. */
export interface RecreateRepair { id: string; name: string; action: 'remove' | 'rename'; to: string; why: string }

/**
 * Compose recreates a container by creating its successor under a temporary name
 * (`<old id[:12]>_<name>`), then stopping and removing the old one, then renaming the successor. A
 * run killed in between leaves the successor under that name, and every later `up` of the service
 * fails ("The container name ... is already in use"). The repair finishes or undoes that work: with
 * the old container still there the successor never served and goes; with it gone the successor
 * takes the name (compose then judges it by its config hash like any other container).
 */
export function recreateRepairs(cs: ContainerState[]): RecreateRepair[] {
  const out: RecreateRepair[] = []
  for (const c of cs) {
    const m = /^([0-9a-f]{12})_(.+)$/.exec(c.name ?? '')
    if (!m) continue
    const [, oldId, name] = m as unknown as [string, string, string]
    const old = cs.find((x) => x.id.startsWith(oldId))
    const holder = cs.find((x) => x.name === name)
    if (old || holder) out.push({ id: c.id, name: c.name!, action: 'remove', to: name, why: old ? `the container it was to replace (${oldId}) is still there` : `${name} exists` })
    else out.push({ id: c.id, name: c.name!, action: 'rename', to: name, why: `the container it replaced (${oldId}) is gone` })
  }
  return out
}

/** Apply recreateRepairs to a project (after its lock is taken, before its state is read). */
export async function repairInterruptedRecreate(ctx: Ctx, p: ComposeProject, env: Record<string, string> = {}): Promise<RecreateRepair[]> {
  const repairs = recreateRepairs((await containers(ctx, p, env)) ?? [])
  for (const r of repairs) {
    ctx.log.warn(`an interrupted recreate left ${r.name}: ${r.action === 'remove' ? 'removing it' : `renaming it ${r.to}`} (${r.why})`)
    await ctx.exec(r.action === 'remove' ? ['docker', 'rm', '-f', r.id] : ['docker', 'rename', r.id, r.to], { mutates: true, timeout: 120_000 })
  }
  return repairs
}
