// The Compose flow: preflight -> .env -> compose config -> monitoring config -> pull/build ->
// up --wait (a health loop on v1) -> validate -> on failure: logs, then the image tags that ran
// before (recorded before the upgrade), or `down` after a first deploy.
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import dotenv from 'dotenv'
import { dirname, join, resolve } from 'node:path'
import { stringify as stringifyYaml } from 'yaml'
import { probe } from '../core/exec.ts'
import { KitError, UsageError } from '../core/errors.ts'
import { loadConfig } from '../core/config.ts'
import { runPreflight, dockerDaemonCheck, diskCheck, portsFreeCheck, compareVersions, hostPathsCheck, type Check } from '../core/preflight.ts'
import { composeEnvironment, resolveHostPath } from '../stack/env.ts'
import { composeServiceImages, imagesOutsideMirror, mirrorName, mirrorOverridePath, normalizeRef, type ServiceImage } from '../stack/registry-mirror.ts'
import { checkExtraFiles } from '../tools/compose-files.ts'
import { detectCompose, composeArgv, composeExtraFiles, composeProfiles, composeServices, containers, waitHealthy, isHealthy, configHashes, recreateRepairs, repairInterruptedRecreate, MIN_COMPOSE_V2, COMPOSE_INSTALL_HINT, type ComposeProject, type ComposeCli, type ComposeService, type ContainerState } from '../tools/compose.ts'
import { checkDuration, durationMs } from '../tools/helm.ts'
import { writeMonitoringConfig } from '../monitoring/config.ts'
import { runPlan, newReport, undoApplied, PlanError, type Phase, type Step, type PlanReport, type StepRecord } from '../core/plan.ts'
import { acquireLock } from '../core/lock.ts'
import { composeStoreLockPaths } from '../backup/locks.ts'
import { stateDir, lockTarget, printReport, reportOnInterrupt, outcomeOf, type DeployOutcome } from './target.ts'
import { validateDeployment, ValidationFailed, type ValidateOptions } from '../validate/index.ts'
import { NGINX_BACKENDS } from '../stack/nginx.ts'
import { checkUpgradeOptions, splitServices, type Strategy, type BlueGreenService, type UpgradeReport } from './strategies.ts'
import { blueGreenPhases } from './bluegreen.ts'
import { migrationSteps, checkMigrationConsent, restoreIfMigrated, type MigrationGuard } from './migration.ts'
import type { Ctx } from '../core/context.ts'

export interface ComposeOptions {
  file: string
  envFile?: string
  timeout: string
  skipChecks: boolean
  validate: boolean
  validateArgs?: Partial<ValidateOptions>
  /** bluegreen (default): the stateless services start beside the old ones; recreate: compose's own. */
  strategy?: Strategy
  /** How long old NGINX workers may finish their requests after a switch (default 2m). */
  drainTimeout?: string
}

/** Free space the images and first volumes need (LightLLM's image alone is ~10 GiB). */
/** Free disk a deploy needs: for the images to pull (LightLLM's alone is ~20 GiB), or, when every image is here, for containers and logs. */
export const MIN_FREE_GIB = { withGpu: 40, withoutGpu: 15, imagesPresent: 5 }

interface Prepared {
  cli: ComposeCli
  project: ComposeProject
  env: Record<string, string>
  services: ComposeService[]
  before: ContainerState[] | null
  /** Images of the compose file not present locally: what `pull` fetches. */
  missing: string[]
  /** The image (tag, or ID when the tag moved) each service ran before: the rollback target. */
  previous: Record<string, string>
  profiles: string[]
  /** Services upgraded blue-green (empty: every service goes through the plain `up`). */
  blueGreen: BlueGreenService[]
  /** Services the plain `up` converges when some go blue-green. */
  plain: string[]
  upgrade: UpgradeReport
  /** Open WebUI's image changes in a blue-green upgrade: the database backup, revisions and restore. */
  migration: MigrationGuard | null
}

async function prepare(ctx: Ctx, o: ComposeOptions, lock: (project: string, env: Record<string, string | undefined>) => void): Promise<Prepared> {
  const file = resolve(ctx.cwd, o.file)
  if (!existsSync(file)) throw new UsageError(`compose file not found: ${file}`)
  let cli = await detectCompose(ctx)
  if (!cli) {
    if (!ctx.dryRun) throw new KitError('no Docker Compose CLI found (neither `docker compose` nor `docker-compose`)', 1, COMPOSE_INSTALL_HINT)
    ctx.log.warn('no Docker Compose CLI found: the dry run shows `docker compose` (v2) commands')
    cli = { kind: 'v2', version: 'unknown', base: ['docker', 'compose'] }
  } else if (cli.kind === 'v1') {
    ctx.log.warn(`docker-compose ${cli.version} is Compose v1 (end of life): no \`up --wait\`, the deploy polls the health itself. Install the v2 plugin (docker compose).`)
  }
  const cfg = loadConfig(ctx, { envFile: o.envFile })
  // what compose cannot derive itself (PUBLIC_URL, NO_PROXY, the OIDC switch, PgBouncer's endpoint):
  // in the environment of every command this deploy runs, over the .env file compose reads
  for (const [k, v] of Object.entries(composeEnvironment(cfg.env))) if (cfg.env[k] !== v) ctx.env[k] = v
  const env = composeEnvironment(cfg.env)
  const profiles = composeProfiles(env)
  const withProfiles: ComposeProject = { cli, file, name: env.COMPOSE_PROJECT_NAME || 'owp', envFile: cfg.file ? resolve(cfg.file) : null, profiles, extraFiles: composeExtraFiles(env, file) }
  const haveCli = cli.version !== 'unknown'
  // the site's override files: all there, and the merged project keeps the compose policy
  if (haveCli) await checkExtraFiles(ctx, withProfiles, env)
  else if (withProfiles.extraFiles?.length) ctx.log.warn(`no compose CLI: the override files ${withProfiles.extraFiles.join(', ')} are not checked`)
  // the lock before the "before" state: a racing deploy must not carry an undo read before ours ran
  // the env a backup of this project reads (.env, then the environment): its lock dir settings
  lock(withProfiles.name, { ...(cfg.file ? dotenv.parse(readFileSync(cfg.file)) : {}), ...ctx.env })
  // three reads that do not depend on each other, at once: the project's model, its containers, and
  // which images are here already (pull only the rest) with what each tag points at now
  const [services, listed, local] = await Promise.all([
    composeServices(ctx, haveCli ? withProfiles : null, file, env),
    haveCli ? containers(ctx, withProfiles, env) : null,
    localImages(ctx),
  ])
  showImageSources(ctx, env, file, haveCli ? services.filter((s) => s.image).map((s) => ({ service: s.name, image: s.image! })) : null, services.map((s) => s.name))
  let before = listed
  // a deploy killed inside compose's recreate left a successor under a temporary name: every `up` would fail on it
  if (before && recreateRepairs(before).length && (await repairInterruptedRecreate(ctx, withProfiles, env)).length && !ctx.dryRun) before = await containers(ctx, withProfiles, env)

  const images = [...new Set(services.filter((s) => s.image).map((s) => s.image!))]
  const missing = images.filter((img) => !local.has(normalizeRef(img)) && !services.some((s) => s.image === img && s.build))
  const previous: Record<string, string> = {}
  for (const c of before ?? []) {
    if (!c.service || previous[c.service]) continue
    // the tag still points at the image that ran: roll back by tag; it moved: by image ID
    previous[c.service] = local.get(normalizeRef(c.image)) === c.imageId ? c.image : c.imageId
  }
  const upgrade: UpgradeReport = { strategy: o.strategy ?? 'bluegreen', services: [] }
  if (upgrade.strategy === 'bluegreen' && cli.kind === 'v1' && before?.length) {
    ctx.log.warn('blue-green upgrades need Compose v2 (config hashes, scale beside the old): this upgrade recreates the containers')
    upgrade.strategy = 'recreate'
  }
  let blueGreen: BlueGreenService[] = []
  let plain = services.map((s) => s.name)
  if (upgrade.strategy === 'bluegreen' && before?.length) {
    const split = splitServices(services, before, await configHashes(ctx, withProfiles), local, (svc) => svc in NGINX_BACKENDS && services.some((s) => s.name === 'nginx'))
    blueGreen = split.blueGreen
    plain = split.plain
    upgrade.services = blueGreen.map((s) => s.name)
    if (blueGreen.length) ctx.log.info(`blue-green: ${upgrade.services.join(', ')}${split.unchanged.length ? `; unchanged: ${split.unchanged.join(', ')}` : ''}`)
  }
  // Open WebUI's image changes (blue-green or recreate alike): its new version may migrate the schema
  let migration: MigrationGuard | null = null
  const want = services.find((s) => s.name === 'openwebui')?.image
  const running = (before ?? []).filter((c) => c.service === 'openwebui' && c.state === 'running')
  if (want && running.some((c) => normalizeRef(c.image) !== normalizeRef(want) || (local.has(normalizeRef(want)) && c.imageId !== local.get(normalizeRef(want))))) {
    // recreate without validation has no automatic rollback to consent to (a failed `up` still asks)
    if (upgrade.strategy === 'bluegreen' || o.validate) checkMigrationConsent(ctx)
    const deployId = `deploy-${new Date().toISOString().replace(/[:.]/g, '-')}`
    const owui = blueGreen.find((s) => s.name === 'openwebui') ?? { name: 'openwebui', old: running, stale: [], fresh: [], routed: false }
    migration = { project: withProfiles, env, deployId, openwebui: owui, report: upgrade }
  }
  upgrade.startedAt = new Date().toISOString()
  return { cli, project: withProfiles, env, services, before, missing, previous, profiles, blueGreen, plain, upgrade, migration }
}

/**
 * Where the images come from: IMAGE_MIRROR (every one, or a warning naming those a site override
 * takes elsewhere) or each image's own registry; a dry run lists every service's image. Without a
 * compose CLI (resolved = null) the names come from the compose file and the mirror mapping.
 */
function showImageSources(ctx: Ctx, env: Record<string, string>, file: string, resolved: ServiceImage[] | null, active: string[]): void {
  const mirror = env.IMAGE_MIRROR
  const images = resolved ?? composeServiceImages(env, file).filter((s) => active.includes(s.service))
    .map((s) => ({ ...s, image: mirror ? mirrorName(mirror, s.image) : s.image }))
  if (mirror) {
    const outside = imagesOutsideMirror(mirror, images)
    ctx.log.info(`images: from the mirror ${mirror} (IMAGE_MIRROR, ${mirrorOverridePath(env, file)})`)
    if (outside.length) ctx.log.warn(`IMAGE_MIRROR=${mirror}, but ${outside.map((s) => `${s.service} (${s.image})`).join(', ')} ${outside.length > 1 ? 'pull' : 'pulls'} from elsewhere: name the mirror in the override file that sets ${outside.length > 1 ? 'them' : 'it'}`)
  } else {
    ctx.log.info('images: each from its own registry (IMAGE_MIRROR is empty)')
  }
  if (ctx.dryRun && !ctx.json) for (const s of images) ctx.out(`[dry-run] image ${s.service}: ${s.image}`)
}

/** Local images, `repo:tag` -> image ID (`docker image ls`, one call). Empty without an engine. */
export async function localImages(ctx: Ctx): Promise<Map<string, string>> {
  const out = await probe(ctx, ['docker', 'image', 'ls', '--all', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}}\t{{.ID}}'], 30_000)
  const map = new Map<string, string>()
  for (const line of (out ?? '').split('\n')) {
    const [ref, id] = line.trim().split('\t')
    if (ref && id && !ref.includes('<none>')) map.set(normalizeRef(ref), id)
  }
  return map
}

export function composeChecks(p: Prepared, minFreeGiB?: number): Check[] {
  const checks: Check[] = [dockerDaemonCheck()]
  checks.push({
    name: p.cli.kind === 'v2' ? `docker compose >= ${MIN_COMPOSE_V2}` : 'docker compose v2',
    hint: COMPOSE_INSTALL_HINT,
    optional: p.cli.kind === 'v1', // v1 still works, with the health loop
    async run() {
      if (p.cli.kind === 'v1') return { ok: false, detail: `docker-compose ${p.cli.version} (v1): works, but without up --wait` }
      return compareVersions(p.cli.version, MIN_COMPOSE_V2) >= 0 ? { ok: true, detail: p.cli.version } : { ok: false, detail: `found ${p.cli.version}` }
    },
  })
  const lightllm = p.services.some((s) => s.name === 'lightllm')
  // an upgrade whose images are all here pulls nothing: it needs room for containers and logs only
  const present = p.missing.length === 0 && !p.services.some((s) => s.build)
  const gib = minFreeGiB ?? (present ? MIN_FREE_GIB.imagesPresent : lightllm ? MIN_FREE_GIB.withGpu : MIN_FREE_GIB.withoutGpu)
  checks.push({
    ...diskCheck('/', gib),
    name: present ? `free disk >= ${gib} GiB (every image present)` : `free disk for images >= ${gib} GiB`,
    async run(ctx) {
      const root = (await probe(ctx, ['docker', 'info', '--format', '{{.DockerRootDir}}'])) || '/'
      return diskCheck(existsSync(root) ? root : '/', gib).run(ctx)
    },
  })
  const ports = [Number(p.env.HTTP_PORT || 80), Number(p.env.HTTPS_PORT || 443)]
  const ours = (p.before ?? []).some((c) => c.service === 'nginx' && c.state === 'running')
  checks.push(ours
    ? { name: `ports ${ports.join(', ')}`, hint: '', run: async () => ({ ok: true, detail: "held by this project's nginx (an upgrade)" }) }
    : portsFreeCheck(ports))
  const hostPath = (v: string | undefined, def: string) => resolveHostPath(v || def, p.project.file)
  if (p.services.some((s) => s.name === 'nginx')) {
    checks.push(hostPathsCheck('TLS certificate and key', 'make tls-selfsigned writes a first-run pair; or set TLS_CERT_PATH and TLS_KEY_PATH in .env to a real one',
      [[hostPath(p.env.TLS_CERT_PATH, './nginx/certs/tls.crt'), 'file'], [hostPath(p.env.TLS_KEY_PATH, './nginx/certs/tls.key'), 'file']]))
  }
  if (p.env.CA_BUNDLE_PATH) {
    checks.push(hostPathsCheck('CA bundle', 'CA_BUNDLE_PATH names the complete PEM trust bundle on the host (public CAs plus yours)',
      [[hostPath(p.env.CA_BUNDLE_PATH, ''), 'file']]))
  }
  if (lightllm) {
    const models = hostPath(p.env.LLM_MODEL_DIR, '../models')
    checks.push(hostPathsCheck('LightLLM model directory', 'put the weights in LLM_MODEL_DIR/LLM_MODEL_NAME, or set LIGHTLLM_ENABLED=false and OPENAI_API_BASE_URL',
      [[models, 'dir'], [join(models, p.env.LLM_MODEL_NAME || 'qwen2.5-7b-instruct'), 'dir']]))
    checks.push({
      name: 'NVIDIA container runtime',
      hint: 'install nvidia-container-toolkit and run nvidia-ctk runtime configure --runtime=docker, or set LIGHTLLM_ENABLED=false (and OPENAI_API_BASE_URL)',
      async run(ctx) {
        const runtimes = await probe(ctx, ['docker', 'info', '--format', '{{json .Runtimes}}'])
        if (runtimes === null) return { ok: false, detail: 'docker info failed' }
        return /nvidia/i.test(runtimes) ? { ok: true, detail: 'nvidia runtime registered' } : { ok: false, detail: 'no nvidia runtime in docker info' }
      },
    })
  }
  return checks
}

/** compose/.generated/ next to the compose file: what the stack mounts from the deploy. */
export function generatedDir(file: string): string {
  return join(dirname(file), '.generated')
}

export function composePlan(ctx: Ctx, o: ComposeOptions, p: Prepared): Phase[] {
  const P = p.project
  const waitSecs = Math.max(1, Math.round(durationMs(o.timeout) / 1000))
  const up = (project: ComposeProject, ...extra: string[]) => composeArgv(project, 'up', '--detach', ...(p.cli.kind === 'v2' ? ['--wait', '--wait-timeout', String(waitSecs)] : []), '--remove-orphans', ...extra)
  const first = (p.before ?? []).length === 0
  const gen = generatedDir(P.file)
  // with services upgraded blue-green, the plain `up` touches only the others (--no-deps: not their dependencies either)
  const only = p.blueGreen.length ? ['--no-deps', ...p.plain] : []

  let undo: Step
  if (first) {
    undo = { title: 'down (first deploy failed)', argv: composeArgv(P, 'down', '--remove-orphans'), mutates: true, timeoutMs: 300_000 }
  } else {
    const override = join(stateDir(ctx), 'compose', `${P.name}-rollback.yml`)
    mkdirSync(dirname(override), { recursive: true })
    writeFileSync(override, `# the images that ran before the last deploy (written by the deploy kit)\n${stringifyYaml({ services: Object.fromEntries(Object.entries(p.previous).map(([s, image]) => [s, { image }])) })}`)
    // the rollback file comes after the site's override files: its images win
    const argv = up({ ...P, extraFiles: [...(P.extraFiles ?? []), override] }, '--no-build', ...only)
    const timeoutMs = waitSecs * 1000 + 120_000
    const g = p.migration
    undo = g && !p.blueGreen.length
      // recreate replaced Open WebUI in place: the previous version must not start on a schema it does not know
      ? {
        title: 'back to the images that ran before', argv, mutates: true, timeoutMs,
        explain: "if Open WebUI's schema moved: ask (a terminal) or need --yes, keep what was written since in a set, stop the writers, restore the pre-upgrade PostgreSQL set, then the images that ran before",
        action: async (c) => {
          await restoreIfMigrated(c, g)
          await c.exec(argv, { mutates: true, timeout: timeoutMs, stream: true, title: 'back to the images that ran before' })
        },
      }
      : { title: 'back to the images that ran before', argv, mutates: true, timeoutMs }
  }

  const plan: Phase[] = [{
    title: 'monitoring config',
    steps: [{
      id: 'config',
      title: 'render alertmanager.yml and prometheus.yml from .env',
      argv: ['write', join(gen, 'alertmanager.yml'), join(gen, 'prometheus.yml')],
      mutates: true,
      dryRunAction: true, // writeMonitoringConfig prints its own [dry-run] lines
      action: async (c) => {
        writeMonitoringConfig(c, p.env, gen)
        // NGINX mounts the switch directory of blue-green upgrades (empty: service names)
        if (!c.dryRun) mkdirSync(join(gen, 'nginx', P.name), { recursive: true, mode: 0o755 })
      },
    }],
  }]
  const imageSteps: Step[] = []
  const pullServices = p.services.filter((s) => s.image && p.missing.includes(s.image)).map((s) => s.name)
  if (pullServices.length) imageSteps.push({ id: 'pull', title: `pull ${pullServices.length} image(s)`, argv: composeArgv(P, 'pull', ...pullServices), mutates: true, timeoutMs: 3_600_000 })
  const buildServices = p.services.filter((s) => s.build).map((s) => s.name)
  if (buildServices.length) imageSteps.push({ id: 'build', title: `build ${buildServices.join(', ')}`, argv: composeArgv(P, 'build', ...buildServices), mutates: true, timeoutMs: 3_600_000 })
  if (imageSteps.length) plan.push({ title: 'images', parallel: true, steps: imageSteps })

  // beside a blue-green upgrade, the plain `up` names only what changed: a service it named would be
  // recreated even unchanged (--no-deps drops its depends_on on the blue-green services from the config
  // hash), and NGINX recreated is every user cut off. Nothing changed but the blue-green services: no `up`.
  const startSteps: Step[] = p.blueGreen.length && !p.plain.length ? [] : [{ id: 'up', title: `up ${P.name}${only.length ? ` (${p.plain.join(', ')}; not ${p.blueGreen.map((s) => s.name).join(', ')})` : ''}`, argv: up(P, ...only), mutates: true, stream: true, timeoutMs: waitSecs * 1000 + 300_000, undo }]
  if (p.cli.kind === 'v1') {
    const names = p.services.map((s) => s.name)
    startSteps.push({
      id: 'wait', title: 'wait until every service is healthy (compose v1)',
      argv: ['wait-healthy', '--timeout', `${waitSecs}s`, ...names],
      mutates: true,
      action: async (c) => {
        const bad = await waitHealthy(c, P, names, waitSecs * 1000, p.env)
        if (bad.length) throw new KitError(`not healthy after ${waitSecs}s: ${bad.join(', ')}`)
      },
    })
  }
  const recreateGuard = p.migration && !p.blueGreen.length ? migrationSteps(p.migration) : null
  if (recreateGuard) plan.push({ title: 'before the upgrade (the Open WebUI image changes)', steps: recreateGuard.before })
  if (startSteps.length) plan.push({ title: 'start', steps: startSteps })
  if (recreateGuard) plan.push({ title: "Open WebUI's schema after the upgrade", steps: recreateGuard.after })
  let finish: Phase[] = []
  if (p.blueGreen.length) {
    const m = p.migration ? migrationSteps(p.migration) : null
    const g = p.migration
    const bg = blueGreenPhases({
      project: P, services: p.blueGreen, switchFile: join(gen, 'nginx', P.name, 'switch.conf'), report: p.upgrade,
      drainMs: durationMs(o.drainTimeout ?? '2m'), healthTimeoutMs: waitSecs * 1000,
      ...(m && g ? {
        beforeStart: { openwebui: m.before }, afterHealthy: { openwebui: m.after },
        beforeStartOld: { openwebui: { note: 'after restoring the pre-upgrade database if the schema moved', run: (c: Ctx) => restoreIfMigrated(c, g) } },
      } : {}),
    })
    plan.push(...bg.upgrade)
    finish = bg.finish
  }

  if (o.validate) {
    plan.push({
      title: 'validation',
      steps: [{
        id: 'validate', title: 'validate-prod',
        argv: ['tsx', 'scripts/validate-prod.ts', '--target', 'compose', '--file', P.file, ...(P.envFile ? ['--env-file', P.envFile] : []), ...(o.validateArgs?.url ? ['--url', o.validateArgs.url] : [])],
        mutates: true,
        action: async (c) => {
          // the model this deploy read (the same files and .env): validation does not read it again
          const composeKnown = p.cli.version !== 'unknown' ? { cli: p.cli, services: p.services } : undefined
          const report = await validateDeployment(c, { ...o.validateArgs, target: 'compose', env: p.env, composeFile: P.file, envFile: P.envFile, composeKnown })
          if (!report.ok) throw new ValidationFailed(report)
        },
      }],
    })
  }
  plan.push(...finish)
  return plan
}

/** The last lines of the services that are not healthy, masked, on stderr. */
async function logsOfUnhealthy(ctx: Ctx, p: Prepared): Promise<string[]> {
  const cs = (await containers(ctx, p.project, p.env)) ?? []
  const bad = [...new Set(cs.filter((c) => !isHealthy(c)).map((c) => c.service))].filter(Boolean)
  if (!bad.length) return []
  const r = await ctx.exec(composeArgv(p.project, 'logs', '--no-color', '--tail', '60', ...bad), { allowFailure: true, timeout: 60_000, env: p.env }).catch(() => null)
  if (r) ctx.log.raw(`\nlogs of ${bad.join(', ')} (last 60 lines each):\n${r.stdout}${r.stderr}`)
  return bad
}

export async function deployCompose(ctx: Ctx, o: ComposeOptions): Promise<DeployOutcome> {
  checkDuration(o.timeout)
  checkUpgradeOptions({ strategy: o.strategy, drainTimeout: o.drainTimeout })
  const p = await prepare(ctx, o, (name, env) => {
    const taken = [lockTarget(ctx, `compose-${name}`, `deploy of compose project ${name}`)]
    try {
      // the deploy restarts the stores: a backup or restore of one of them must not run meanwhile
      if (!ctx.dryRun) for (const path of composeStoreLockPaths(env, name)) taken.push(acquireLock(ctx, path, `deploy of compose project ${name}`))
    } catch (e) {
      for (const release of taken.reverse()) release() // all or none: a refused deploy holds nothing
      throw e
    }
  })
  await runPreflight(ctx, composeChecks(p, ctx.env.OWP_MIN_FREE_GIB ? Number(ctx.env.OWP_MIN_FREE_GIB) : undefined), { skip: o.skipChecks })
  const plan = composePlan(ctx, o, p)
  const report = newReport(ctx, plan)
  const unregister = reportOnInterrupt(ctx, () => report)
  const outcome = outcomeOf(ctx, 'compose', report)
  try {
    await runPlan(ctx, plan, report)
  } catch (e) {
    if (ctx.signal.aborted || !(e instanceof PlanError)) throw e
    return failCompose(ctx, p, plan, report, e, outcome)
  } finally {
    if (!ctx.signal.aborted) unregister()
  }
  const upgrade = p.blueGreen.length || p.migration ? { upgrade: p.upgrade } : {}
  if (ctx.dryRun) return outcome('dry run: nothing was changed', true, [], upgrade)
  printReport(ctx, 'deploy report', report)
  const how = p.blueGreen.length ? ` (blue-green: ${p.upgrade.services.join(', ')}${p.upgrade.switchMs !== undefined ? `, switch ${p.upgrade.switchMs} ms` : ''})` : ''
  return outcome(`compose project ${p.project.name} is up${o.validate ? ' and validated' : ''}${how}`, true, [], upgrade)
}

async function failCompose(
  ctx: Ctx, p: Prepared, plan: Phase[], report: PlanReport, e: PlanError,
  outcome: (summary: string, ok: boolean, undone?: StepRecord[], extra?: Partial<DeployOutcome>) => DeployOutcome,
): Promise<DeployOutcome> {
  report.ok = false
  if (['config', 'pull', 'build'].includes(e.step.id)) {
    printReport(ctx, 'deploy report', report)
    const hint = e.step.id === 'pull' ? ' (custom images: run make build-images first, and --push them if this host pulls from the registry)' : ''
    return outcome(`${e.step.title} failed before anything started${e.step.error ? `: ${e.step.error.split('\n')[0]}` : ''}${hint}`, false)
  }
  const unhealthy = await logsOfUnhealthy(ctx, p)
  // a failed `up` may have replaced some containers already: undo it as if it had been applied
  const up = report.steps.find((s) => s.id === 'up')
  if (up && up.status === 'failed') up.status = 'applied'
  const undone = await undoApplied(ctx, plan, report)
  if (up && e.step.id === 'up') up.status = 'failed'
  printReport(ctx, 'deploy report', report, undone)
  // the step's own reason (the report table has none), on one line
  const why = e.step.id !== 'validate' && e.step.error ? `: ${e.step.error.split('\n')[0]}` : ''
  const what = e.step.id === 'validate' ? 'validation failed' : `${e.step.title} failed${why}${unhealthy.length ? ` (unhealthy: ${unhealthy.join(', ')})` : ''}`
  const back = undone.every((u) => u.status === 'applied')
  const after = !undone.length ? 'nothing to undo' : back ? undone.map((u) => u.title).join(', ') : 'the rollback failed too: see the report'
  return outcome(`${what}; ${after}`, false, undone,
    { validation: (e.cause as ValidationFailed | undefined)?.report, ...(p.blueGreen.length || p.migration ? { upgrade: p.upgrade } : {}) })
}
