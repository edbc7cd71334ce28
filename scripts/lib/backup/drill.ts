// The restore drill (make dr-drill): the newest complete platform set (or --from ID) restored into
// a scratch compose project beside production (drill-compose.ts), the application started on it
// once every part is back,
// validate-prod run against it from inside, the content checked against the platform manifest,
// RTO and RPO reported and written as metrics, and the scratch project torn down in every path.
// Production is only looked at from outside (container ids, start times, restart counts, volume
// names) to prove the drill left it as it was; its data is never read.
import { mkdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { KitError, UsageError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { composeExtraFiles, composeFileArgs, detectCompose } from '../tools/compose.ts'
import { validateDeployment } from '../validate/index.ts'
import type { ValidateOptions } from '../validate/types.ts'
import { atomicWrite } from './manifest.ts'
import { privateTmp } from './staging.ts'
import { createTarget } from './targets.ts'
import { runRestore, type RestoreOutcome } from './restore.ts'
import { forgetStoppedWriters } from './writers.ts'
import { choosePlatformSet, listPlatformSets, type PlatformRef } from './platform.ts'
import { drillCompose } from './drill-compose.ts'
import { checkContent, type ContentCheck } from './drill-checks.ts'
import { DATABASE_STORES, FILE_STORES, type Destination, type DriverRun, type StoreName, type StoreSettings } from './types.ts'
import { failureReason, oneLine } from '../core/exec.ts'

export interface DrillOptions {
  dest: Destination
  from: string
  allowPartial?: boolean
  /** The operator's .env merged with the environment (secrets the scratch stores start with). */
  env: Record<string, string>
  envFile: string | null
  /** The production compose project and file. */
  project: string
  composeFile: string
  settings: StoreSettings
  identity?: string
  /** Run LightLLM in the scratch project too (a second copy on the production GPUs: off by default). */
  withLlm?: boolean
  metricsDir?: string
  /** Seconds to wait for the scratch services to be healthy. */
  waitSeconds?: number
  now?: () => Date
}

export interface DrillReport {
  ok: boolean
  set: string | null
  project: string
  stores: number
  validate: 'ok' | 'failed' | 'not run'
  rtoSeconds: number | null
  rpoSeconds: number | null
  productionUntouched: boolean | null
  restore: RestoreOutcome[]
  checks: ContentCheck[]
  failedChecks: string[]
  line: string
  error?: string
  metricsFile?: string
}

/** Variables that would point the scratch drivers at production services: never passed to the drill. */
const PRODUCTION_POINTERS = /^(QDRANT_URL|PGHOST|PGPORT|POSTGRES_HOST|POSTGRES_PORT|REDIS_HOST|REDIS_PORT|NEO4J_URI|NEO4J_HOME|OPENWEBUI_DATA_DIR|GRAPHRAG_DATA_DIR|DOCKER_CONTEXT)$/

export function drillEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !PRODUCTION_POINTERS.test(k)))
}

export const drillProjectName = (project: string) => `${project}-drill`

/**
 * validate-prod's limits for the scratch deployment: every check runs at once (a `compose exec` or
 * `kubectl exec` each), beside production on the same host; `up --wait` already saw each container
 * healthy. A busy host makes a 10 s healthcheck exec fail that proves nothing about the restore.
 */
export const DRILL_VALIDATE = { timeoutMs: 60_000, retries: 2, retryDelayMs: 3000 }

/** The one line the drill prints. */
export function drillLine(r: Pick<DrillReport, 'set' | 'stores' | 'validate' | 'rtoSeconds' | 'rpoSeconds' | 'productionUntouched'>): string {
  return `dr drill: set ${r.set ?? 'none'}, ${r.stores} stores, validate ${r.validate}, rto ${r.rtoSeconds ?? '-'} s, rpo ${r.rpoSeconds ?? '-'} s, production ${r.productionUntouched === null ? 'not checked' : r.productionUntouched ? 'untouched' : 'CHANGED'}`
}

/** What production looks like from outside: containers (id, start, restarts, state) and volume names. */
export async function productionFingerprint(ctx: Ctx, project: string): Promise<string> {
  const label = `label=com.docker.compose.project=${project}`
  const ids = (await ctx.exec(['docker', 'ps', '-a', '-q', '--no-trunc', '--filter', label], { timeout: 60_000 })).stdout.split('\n').filter(Boolean).sort()
  const containers = ids.length ? (await ctx.exec(['docker', 'inspect', '-f', '{{.Name}} {{.Id}} {{.State.StartedAt}} {{.RestartCount}} {{.State.Status}}', ...ids], { timeout: 60_000 })).stdout.trim() : ''
  const volumes = (await ctx.exec(['docker', 'volume', 'ls', '-q', '--filter', label], { timeout: 60_000 })).stdout.trim()
  return `${containers}\n--\n${volumes}`
}

export async function runDrill(ctx: Ctx, o: DrillOptions): Promise<DrillReport> {
  const now = o.now ?? (() => new Date())
  const started = now()
  const t0 = performance.now()
  const project = drillProjectName(o.project)
  if (project === o.project) throw new UsageError('the drill project must differ from production')
  const report: DrillReport = { ok: false, set: null, project, stores: 0, validate: 'not run', rtoSeconds: null, rpoSeconds: null, productionUntouched: null, restore: [], checks: [], failedChecks: [], line: '' }
  const sets = await listPlatformSets(ctx, o.dest)
  const set = choosePlatformSet(sets, o.from, o.dest.url, Boolean(o.allowPartial))
  report.set = set.id
  report.rpoSeconds = Math.round((started.getTime() - set.time.getTime()) / 1000)
  const cli = await detectCompose(ctx)
  if (!cli || cli.kind !== 'v2') throw new KitError('the drill needs Docker Compose v2 (docker compose)', 1, 'install the Docker Compose v2 plugin')

  const before = await productionFingerprint(ctx, o.project)
  const dir = privateTmp(o.settings.env.BACKUP_STAGING_DIR ?? tmpdir(), 'owp-drill-')
  const file = join(dir, 'compose.drill.json')
  const compose = (...args: string[]) => [...cli.base, '-p', project, '-f', file, ...args]
  let tornDown = false
  const teardown = async () => {
    if (tornDown) return
    tornDown = true
    if (existsSync(file)) {
      const step = ctx.log.step(`tearing down the scratch project ${project}`)
      const r = await ctx.exec(compose('down', '--volumes', '--remove-orphans', '--timeout', '10'), { mutates: true, allowFailure: true, timeout: 300_000 })
      if (r.exitCode === 0) step.ok()
      else step.fail(failureReason(ctx, r))
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const unregister = ctx.cleanups.add(teardown)
  const rctx: Ctx = { ...ctx, yes: true } // the scratch project is the drill's own: no question to ask
  try {
    // The resolved production project (interpolated with the operator's .env), then cut down.
    const config = await ctx.exec([...cli.base, '-p', project, ...composeFileArgs(o.composeFile, composeExtraFiles(o.env, o.composeFile), '-f'), ...(o.envFile ? ['--env-file', o.envFile] : []), ...(o.withLlm ? ['--profile', 'lightllm'] : []), 'config', '--format', 'json'],
      { timeout: 120_000, env: o.env })
    const built = drillCompose(JSON.parse(config.stdout), project, { withLlm: o.withLlm })
    mkdirSync(dir, { recursive: true })
    writeFileSync(file, JSON.stringify(built.doc, null, 2), { mode: 0o600 }) // resolved secrets: private, removed at teardown
    ctx.log.info(`scratch project ${project}: ${built.services.join(', ')} (left out: ${built.dropped.join(', ') || 'nothing'}; no published ports)`)
    const env = drillEnv(o.env)
    const target = createTarget({ kind: 'compose', env, project, composeFile: file, envFile: null })
    // Debris of a drill that was killed hard (SIGKILL leaves no cleanup): the scratch project's own,
    // with the record of the writers it had stopped (they went with the project).
    await ctx.exec(compose('down', '--volumes', '--remove-orphans', '--timeout', '5'), { mutates: true, allowFailure: true, timeout: 300_000 })
    forgetStoppedWriters(o.dest, target)
    const wait = String(o.waitSeconds ?? 600)
    const stores = built.services.filter((s) => (DATABASE_STORES as readonly string[]).includes(s))
    await ctx.exec(compose('up', '-d', '--wait', '--wait-timeout', wait, ...stores), { mutates: true, timeout: (Number(wait) + 120) * 1000, title: `start ${stores.join(' ')} of ${project}` })

    const settings: StoreSettings = { ...o.settings, env, maintenanceWindow: true, envFile: null, identity: o.identity }
    const parts: StoreName[] = set.parts.map((p) => p.store).filter((s) => s !== 'config')
    const restoreParts = async (list: StoreName[]) => {
      if (!list.length) return
      const r = await runRestore(rctx, { stores: list, explicit: true, from: set.id, target, dest: o.dest, settings, identity: o.identity, allowPartial: o.allowPartial })
      report.restore.push(...r.stores)
      if (!r.ok) throw new KitError(`the restore into ${project} failed: ${r.stores.filter((x) => !x.ok).map((x) => `${x.store}: ${x.error}`).join('; ')}`)
    }
    // every part before the application starts: the file parts in one-off containers of their
    // services (targets.ts), so the writers start once, on restored data, and are never restarted
    await restoreParts(parts.filter((s) => (DATABASE_STORES as readonly string[]).includes(s) || (FILE_STORES as readonly string[]).includes(s)))
    await ctx.exec(compose('up', '-d', '--wait', '--wait-timeout', wait), { mutates: true, timeout: (Number(wait) + 120) * 1000, title: `start the application of ${project}` })
    report.stores = set.parts.length

    // no LLM in the drill unless --with-llm (it needs GPUs of its own): its chat check is left out, and says so
    await validateAndCheck(ctx, report, {
      validate: { target: 'compose', composeFile: file, envFile: null, env: { COMPOSE_PROJECT_NAME: project, LIGHTLLM_ENABLED: o.withLlm ? 'true' : 'false' }, skipComponents: o.withLlm ? [] : ['llm'] },
      t0, set, parts, rctx, run: { target, dir, scratch: dir, id: set.id, settings, verify: true },
    })
  } catch (e) {
    report.error = ctx.secrets.mask(e instanceof Error ? e.message : String(e))
  } finally {
    await teardown()
    unregister()
  }
  await concludeDrill(ctx, report, before, () => productionFingerprint(ctx, o.project))
  if (o.metricsDir && !ctx.dryRun) {
    try { report.metricsFile = writeDrillMetrics(o.metricsDir, { success: report.ok, at: now(), rtoSeconds: report.rtoSeconds, rpoSeconds: report.rpoSeconds, setTime: set.time }) } catch (e) { ctx.log.warn(`could not write drill metrics: ${(e as Error).message}`) }
  }
  return report
}

/**
 * After the restore, in both drills: validate-prod's verdict on the scratch deployment and the RTO
 * (restore and start up to a validated deployment), then the content of each restored part against
 * what the set's manifest says it holds.
 */
export async function validateAndCheck(ctx: Ctx, report: DrillReport, o: { validate: ValidateOptions; t0: number; set: PlatformRef; parts: StoreName[]; run: DriverRun; rctx: Ctx }): Promise<void> {
  const v = await validateDeployment(ctx, { ...DRILL_VALIDATE, ...o.validate })
  report.validate = v.ok ? 'ok' : 'failed'
  report.rtoSeconds = Math.round((performance.now() - o.t0) / 1000)
  for (const part of o.set.manifest?.parts ?? []) if ((o.parts as string[]).includes(part.store)) report.checks.push(...await checkContent(o.rctx, o.run, part))
  report.failedChecks = report.checks.filter((c) => !c.ok).map((c) => `${c.store} ${c.what}: ${c.detail}`)
}

/** The drill's verdict: production looked at again (a look that fails says why: not checked), then ok and the one line. */
export async function concludeDrill(ctx: Ctx, report: DrillReport, before: string, look: () => Promise<string>): Promise<void> {
  const after = await look().catch((e: Error) => { ctx.log.warn(`production could not be looked at after the drill: ${oneLine(ctx.secrets.mask(e.message))}`); return null })
  report.productionUntouched = after === null ? null : after === before
  report.ok = !report.error && report.validate === 'ok' && report.failedChecks.length === 0 && report.productionUntouched === true
  report.line = drillLine(report)
}

export interface DrillMetrics { success: boolean; at: Date; rtoSeconds: number | null; rpoSeconds: number | null; setTime: Date }

const HELP: Record<string, string> = {
  dr_drill_last_success_timestamp_seconds: 'Unix time of the last restore drill that succeeded (restored, validated, content equal, production untouched).',
  dr_drill_last_run_success: '1 if the last restore drill succeeded, 0 if it failed.',
  dr_drill_rto_seconds: 'Recovery time of the last successful drill: scratch start, restore, application start, validation.',
  dr_drill_rpo_seconds: 'Age of the data the last successful drill restored (drill start minus set time).',
  dr_drill_set_timestamp_seconds: 'Unix time of the platform set the last drill restored.',
}

const sample = (text: string, name: string) => { const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text); return m ? Number(m[1]) : null }

/** node-exporter textfile metrics; a failed drill keeps the last success and its RTO/RPO. */
export function renderDrillMetrics(m: DrillMetrics, previous = ''): string {
  const v: Record<string, number> = {
    dr_drill_last_success_timestamp_seconds: m.success ? Math.round(m.at.getTime() / 1000) : sample(previous, 'dr_drill_last_success_timestamp_seconds') ?? 0,
    dr_drill_last_run_success: m.success ? 1 : 0,
    dr_drill_rto_seconds: m.success && m.rtoSeconds !== null ? m.rtoSeconds : sample(previous, 'dr_drill_rto_seconds') ?? 0,
    dr_drill_rpo_seconds: m.success && m.rpoSeconds !== null ? m.rpoSeconds : sample(previous, 'dr_drill_rpo_seconds') ?? 0,
    dr_drill_set_timestamp_seconds: Math.round(m.setTime.getTime() / 1000),
  }
  return Object.entries(v).map(([name, x]) => `# HELP ${name} ${HELP[name]}\n# TYPE ${name} gauge\n${name} ${x}\n`).join('')
}

export function writeDrillMetrics(dir: string, m: DrillMetrics): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'dr_drill.prom')
  atomicWrite(file, renderDrillMetrics(m, existsSync(file) ? readFileSync(file, 'utf8') : ''))
  return file
}
