// One backup run: for each store, under its lock: dump -> verify -> checksum (-> encrypt) ->
// manifest last -> prune (only after a verified set) -> metrics. A store that fails leaves no
// complete set and does not stop the others. A run of every store (`make backup`) is one platform
// set: every part under one id, the platform manifest written after the last part (platform.ts).
import { hostname, tmpdir } from 'node:os'
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { KitError, LockedError, UsageError } from '../core/errors.ts'
import { lockStore } from './locks.ts'
import type { Ctx } from '../core/context.ts'
import { formatDuration, table } from '../core/log.ts'
import { sha256File, setId } from './manifest.ts'
import { privateTmp, type Destination } from './destination.ts'
import { encryptFile } from './encryption.ts'
import { writeMetrics, type RunMetrics } from './metrics.ts'
import { pushGroupUrl, pushMetrics } from './metrics-push.ts'
import { planRetention, type RetentionPolicy } from './retention.ts'
import { DRIVERS } from './stores/index.ts'
import { formatSize, localFreeBytes } from './space.ts'
import { configProblem } from './stores/config.ts'
import { releaseClaims } from './claims.ts'
import { writePlatformManifest, prunePlatform, platformIds, type PlatformOutcome } from './platform-run.ts'
import type { Target } from './targets.ts'
import { pitrOfReport, pitrWithSet, type PitrWithSet } from './platform-pitr.ts'
import { renderPitrBackup, type PitrBackupReport } from './pitr/backup.ts'
import { MANIFEST_FORMAT, type DriverRun, type KeptCopies, type Manifest, type SetFile, type StoreName, type StoreSettings } from './types.ts'
import { oneLine } from '../core/exec.ts'

export interface BackupOptions {
  stores: StoreName[]
  /** The user named the stores (not `all`): a store that cannot run is an error, not a skip. */
  explicit: boolean
  target: Target
  dest: Destination
  settings: StoreSettings
  verify: boolean
  recipients: string[]
  retention: RetentionPolicy
  metricsDir?: string
  /** Prometheus Pushgateway base URL (CronJobs): the same metrics, pushed. */
  pushgateway?: string
  /** One platform set: every store under one id and a platform manifest (the default of `make backup`). */
  platform?: boolean
  /** Kept in the manifest: why this set was taken (e.g. `pre-upgrade:<deploy id>`). */
  label?: string
  /** Platform sets on compose and this host: a pgBackRest base backup too when the server archives through it. */
  pitr?: PitrWithSet
  now?: () => Date
}

export interface StoreOutcome {
  store: StoreName
  ok: boolean
  skipped?: string
  id?: string
  location?: string
  bytes?: number
  durationMs: number
  verified?: boolean
  files?: { name: string; bytes: number; sha256: string }[]
  pruned?: string[]
  kept?: { id: string; reasons: string[] }[]
  error?: string
  metricsFile?: string
  metricsPushed?: string
  /** The part's manifest (platform.ts builds the platform manifest from it); not in --json output. */
  manifest?: Manifest
  label?: string
}

export interface BackupReport { ok: boolean; dest: string; target: string; stores: StoreOutcome[]; platform?: PlatformOutcome; pitr?: PitrBackupReport }

/** Why a store cannot be backed up with these settings (null: it can). */
export function skipReason(store: StoreName, s: StoreSettings): string | null {
  if (store === 'neo4j' && s.neo4jMode === 'offline' && !s.maintenanceWindow) {
    return 'Neo4j community can only be dumped offline: pass --maintenance-window (it stops Neo4j) or --neo4j-mode apoc'
  }
  if (store === 'config') return configProblem(s)
  return null
}

export async function runBackup(ctx: Ctx, o: BackupOptions): Promise<BackupReport> {
  const runnable: StoreName[] = []
  const outcomes: StoreOutcome[] = []
  for (const store of o.stores) {
    const why = skipReason(store, o.settings)
    if (why && o.explicit) throw new UsageError(why)
    if (why) { ctx.log.warn(`${store}: skipped: ${why}`); outcomes.push({ store, ok: true, skipped: why, durationMs: 0 }) }
    else runnable.push(store)
  }
  // Take every lock first: an overlapping run exits 75 before anything is written.
  let platform: PlatformOutcome | undefined
  let pitr: PitrBackupReport | undefined
  const releases: Array<() => void> = []
  try {
    for (const store of runnable) releases.push(lockStore(ctx, o.dest, o.target, store, `backup of ${store} (${o.target.where(store)})`))
  } catch (e) {
    for (const release of releases) release() // all or none: a refused run holds nothing
    // A run that could not take the lock still counts: without a metric, a lock that never frees goes unseen.
    if (e instanceof LockedError) for (const store of runnable) await recordMetrics(ctx, o, { store, ok: false, durationMs: 0 }, { store, success: false, locked: true, durationSeconds: 0, sizeBytes: 0, at: new Date() })
    throw e
  }
  try {
    const t0 = performance.now()
    const started = await freeId(ctx, o, runnable)
    const skipped = outcomes.filter((x) => x.skipped).map((x) => ({ store: x.store, reason: x.skipped! }))
    if (o.platform && !ctx.dryRun && runnable.length) await o.dest.putMeta(ctx, `${setId(started)}.pending.json`, `${JSON.stringify({ format: 'owp-platform/1', id: setId(started), startedAt: started.toISOString(), expected: runnable }, null, 2)}\n`)
    const protectedIds = ctx.dryRun ? new Set<string>() : await platformIds(ctx, o.dest)
    for (const store of runnable) outcomes.push(await backupStore(ctx, o, store, started, protectedIds))
    // the WAL archive's base backup joins the set after the dump (the manifest, written last, records it)
    if (o.platform && o.pitr && outcomes.some((x) => x.store === 'postgres' && x.ok && !x.skipped)) pitr = await pitrWithSet(ctx, { pitr: o.pitr, target: o.target, dest: o.dest, settings: o.settings })
    if (o.platform && runnable.length) {
      platform = await writePlatformManifest(ctx, o.dest, { started, t0, target: o.target.kind, expected: runnable, skipped, outcomes, ...(pitr ? { pitr: pitrOfReport(pitr) } : {}) })
      if (platform.state !== 'incomplete' && !ctx.dryRun && o.verify) await prunePlatform(ctx, o.dest, o.retention, platform, (o.now ?? (() => new Date()))())
    }
  } finally {
    await releaseClaims()
    for (const release of releases) release()
  }
  const ordered = o.stores.map((s) => outcomes.find((x) => x.store === s)!)
  return { ok: ordered.every((x) => x.ok) && pitr?.ok !== false, dest: o.dest.url, target: o.target.kind, stores: ordered, ...(platform ? { platform } : {}), ...(pitr ? { pitr } : {}) }
}

/** One id for every store of the run: set ids have one-second resolution, a run right after another takes the next free second. */
async function freeId(ctx: Ctx, o: BackupOptions, stores: StoreName[]): Promise<Date> {
  let started = new Date((o.now ?? (() => new Date()))())
  if (ctx.dryRun) return started
  const metas = new Set(await o.dest.listMeta(ctx))
  const taken = async (id: string) => metas.has(`${id}.json`) || metas.has(`${id}.pending.json`) || (await Promise.all(stores.map((s) => o.dest.taken(ctx, s, id)))).some(Boolean)
  while (await taken(setId(started))) started = new Date(started.getTime() + 1000)
  return started
}

async function backupStore(ctx: Ctx, o: BackupOptions, store: StoreName, started: Date, protectedIds: Set<string>): Promise<StoreOutcome> {
  const driver = DRIVERS[store]
  const t0 = performance.now()
  const id = setId(started)
  const step = ctx.log.step(`${store}: backup ${id} from ${o.target.where(store)}`)
  const scratch = privateTmp(o.settings.env.BACKUP_STAGING_DIR ?? tmpdir(), `owp-${store}-scratch-`)
  let workDir: string | null = null
  let unregisterDiscard = () => {}
  const run = (dir: string): DriverRun => ({ target: o.target, dir, scratch, id, settings: o.settings, verify: o.verify })
  let kept: KeptCopies | undefined // what restores kept, once the driver looked (a run that fails later still says it)
  try {
    if (ctx.dryRun) return await dryRun(ctx, o, store, id, run(join(scratch, 'set')), t0, step)
    workDir = o.dest.workDir(store, id)
    const dir = workDir
    // Interrupted (Ctrl-C, SIGTERM from a CronJob deadline): remove the incomplete set on the way out.
    unregisterDiscard = ctx.cleanups.add(() => o.dest.discard(ctx, store, id, dir))
    // Encrypted sets: the plaintext stays in the private scratch directory (outside the destination,
    // removed on any exit); only .age files are written into the set.
    const plainDir = o.recipients.length ? plaintextDir(ctx, scratch) : workDir
    const dump = await driver.backup(ctx, run(plainDir))
    kept = dump.kept
    let verified: Manifest['verified'] = null
    if (o.verify) {
      const v0 = performance.now()
      const vstep = ctx.log.step(`${store}: verify`)
      try {
        const v = await driver.verify(ctx, run(plainDir), dump)
        verified = { ok: true, method: v.method, durationMs: Math.round(performance.now() - v0), detail: v.detail }
        vstep.ok(v.detail)
      } catch (e) {
        vstep.fail()
        throw e
      }
    }
    const files: SetFile[] = []
    for (const f of dump.files) {
      const path = join(plainDir, f.name)
      const plain = { bytes: statSync(path).size, sha256: await sha256File(path) }
      // A file the driver encrypted itself (the configuration) is not encrypted twice.
      if (o.recipients.length && f.kind !== 'age') {
        const name = await encryptFile(ctx, plainDir, f.name, o.recipients, workDir)
        const enc = join(workDir, name)
        files.push({ name, bytes: statSync(enc).size, sha256: await sha256File(enc), kind: f.kind, of: f.of, durationMs: f.durationMs, plain })
      } else {
        // already ciphertext when it sits in the private plaintext directory: it joins the set as it is
        if (plainDir !== workDir) copyFileSync(path, join(workDir, f.name))
        files.push({ name: f.name, bytes: plain.bytes, sha256: plain.sha256, kind: f.kind, of: f.of, durationMs: f.durationMs })
      }
    }
    const finished = new Date(started.getTime() + (performance.now() - t0))
    const manifest: Manifest = {
      format: MANIFEST_FORMAT, store, id,
      startedAt: started.toISOString(), finishedAt: finished.toISOString(), durationMs: Math.round(performance.now() - t0),
      host: hostname(), target: { kind: o.target.kind, where: o.target.where(store) },
      tools: dump.tools, server: dump.server, files, bytes: files.reduce((n, f) => n + f.bytes, 0),
      verified, encryption: o.recipients.length ? { tool: 'age', recipients: o.recipients } : null, details: dump.details,
      ...(o.label ? { label: o.label } : {}),
    }
    const location = await o.dest.publish(ctx, store, id, workDir, manifest)
    unregisterDiscard()
    workDir = null
    const durationMs = Math.round(performance.now() - t0)
    step.ok(`${formatBytes(manifest.bytes)} in ${location}${verified ? ', verified' : ', NOT verified'}`)
    const outcome: StoreOutcome = {
      store, ok: true, id, location, bytes: manifest.bytes, durationMs, verified: Boolean(verified), label: o.label,
      files: files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })),
      manifest,
    }
    await prune(ctx, o, store, id, Boolean(verified), outcome, protectedIds)
    await recordMetrics(ctx, o, outcome, { store, success: true, durationSeconds: durationMs / 1000, sizeBytes: manifest.bytes, at: new Date(), kept })
    return outcome
  } catch (caught) {
    const durationMs = Math.round(performance.now() - t0)
    // A full disk under the set reads as "short write" (redis-cli) or anything else: say what happened.
    const e = workDir ? diskFull(o, store, workDir, caught) ?? caught : caught
    const message = ctx.secrets.mask(e instanceof Error ? e.message : String(e))
    step.fail(oneLine(message)) // a failed command: its output's last lines too, not only that it failed
    if (e instanceof KitError && e.hint) ctx.log.info(`hint: ${e.hint}`)
    if (!(e instanceof KitError)) ctx.log.debug(String((e as Error).stack))
    unregisterDiscard()
    if (workDir) await o.dest.discard(ctx, store, id, workDir).catch((d) => ctx.log.warn(`could not remove ${workDir}: ${(d as Error).message}`))
    const outcome: StoreOutcome = { store, ok: false, id, durationMs, error: message }
    if (!ctx.dryRun) await recordMetrics(ctx, o, outcome, { store, success: false, durationSeconds: durationMs / 1000, sizeBytes: 0, at: new Date(), kept })
    return outcome
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** Below this, a failed write into the set's filesystem is taken for a full disk. */
const FULL_BELOW = 128 * 1024

/** The error of a run whose set's filesystem filled up, or null. */
function diskFull(o: BackupOptions, store: StoreName, workDir: string, e: unknown): KitError | null {
  const text = e instanceof Error ? e.message : String(e)
  let free: number | null = null
  try { free = localFreeBytes(existsSync(workDir) ? workDir : dirname(workDir)) } catch { /* gone */ }
  if (!/ENOSPC|No space left on device/i.test(text) && (free === null || free >= FULL_BELOW)) return null
  return new KitError(`${store}: the destination ${o.dest.url} filled up while the set was written (No space left on device): the incomplete set was removed; earlier sets are untouched`, 1,
    `free space in ${workDir.replace(/\/[^/]+\/[^/]+$/, '')}${free !== null ? ` (${formatSize(free)} free now)` : ''}, or keep fewer sets (--keep-*); the failing step: ${oneLine(text)}`)
}

/** A 0700 directory for plaintext inside the run's scratch; removed also on Ctrl-C/SIGTERM. */
function plaintextDir(ctx: Ctx, scratch: string): string {
  const dir = join(scratch, 'plain')
  mkdirSync(dir, { mode: 0o700 })
  ctx.cleanups.add(() => rmSync(scratch, { recursive: true, force: true }))
  return dir
}

/** Textfile and/or Pushgateway; a metrics problem is logged loudly but does not fail the backup. */
async function recordMetrics(ctx: Ctx, o: BackupOptions, outcome: StoreOutcome, m: RunMetrics): Promise<void> {
  try {
    if (o.metricsDir) outcome.metricsFile = writeMetrics(o.metricsDir, m)
    if (o.pushgateway) outcome.metricsPushed = await pushMetrics(o.pushgateway, m)
  } catch (e) {
    ctx.log.warn(`${m.store}: could not record backup metrics: ${(e as Error).message}`)
  }
}

async function dryRun(ctx: Ctx, o: BackupOptions, store: StoreName, id: string, run: DriverRun, t0: number, step: { ok(d?: string): number }): Promise<StoreOutcome> {
  await DRIVERS[store].backup(ctx, run)
  const plan = (line: string) => { ctx.plan.push(line); if (!ctx.json) ctx.out(`[dry-run] ${line}`) }
  if (o.verify) plan(`verify the ${store} set (${store === 'postgres' ? 'restore into a scratch database, compare row counts' : store === 'redis' ? 'redis-check-rdb' : 'checksums and archive check'})`)
  if (o.recipients.length) plan(`encrypt each file with age to ${o.recipients.join(', ')}`)
  plan(`write ${o.dest.url}/${store}/${id}/manifest.json last`)
  const sets = await o.dest.list(ctx, store).catch(() => [])
  const r = planRetention(sets, o.retention, (o.now ?? (() => new Date()))())
  if (o.verify) for (const s of [...r.prune, ...r.abandoned]) plan(`prune ${s.location}`)
  if (o.metricsDir) plan(`write metrics to ${o.metricsDir}/backup_${store}.prom`)
  if (o.pushgateway) plan(`push metrics to ${pushGroupUrl(o.pushgateway, store)}`)
  step.ok('dry run: nothing written')
  return { store, ok: true, id, durationMs: Math.round(performance.now() - t0) }
}

/** Per-store retention; parts of platform sets are left to the platform retention (prunePlatform). */
async function prune(ctx: Ctx, o: BackupOptions, store: StoreName, id: string, verified: boolean, outcome: StoreOutcome, protectedIds: Set<string>): Promise<void> {
  if (!verified) {
    ctx.log.info(`${store}: retention skipped: the new set is not verified (pruning waits for a verified set)`)
    return
  }
  const sets = (await o.dest.list(ctx, store)).filter((s) => !protectedIds.has(s.id))
  const plan = planRetention(sets, o.retention, (o.now ?? (() => new Date()))())
  outcome.kept = plan.keep.map((k) => ({ id: k.set.id, reasons: k.reasons }))
  outcome.pruned = []
  for (const s of [...plan.prune, ...plan.abandoned]) {
    if (s.id === id) continue
    try {
      await o.dest.remove(ctx, s)
      outcome.pruned.push(s.id)
      ctx.log.info(`${store}: pruned ${s.id}${s.manifest ? '' : ` (incomplete: ${s.incomplete})`}`)
    } catch (e) {
      ctx.log.warn(`${store}: could not prune ${s.location}: ${(e as Error).message}`)
    }
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

export function renderReport(r: BackupReport): string {
  const rows = r.stores.map((s) => [s.store, s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAILED', s.id ?? '', s.bytes !== undefined ? formatBytes(s.bytes) : '',
    formatDuration(s.durationMs), s.verified === undefined ? '' : s.verified ? 'yes' : 'no', s.pruned?.length ? String(s.pruned.length) : '',
    s.location ?? s.skipped ?? (s.error ? oneLine(s.error) : '')])
  const t = table(['store', 'result', 'set', 'size', 'took', 'verified', 'pruned', 'where / why'], rows)
  const p = r.platform
  const withPitr = r.pitr ? `${t}\n${renderPitrBackup(r.pitr)}` : t
  return p ? `${withPitr}\nplatform set ${p.id}: ${p.state}, ${p.stores}/${p.expected} stores, ${formatBytes(p.bytes)}, ${p.location}${p.missing.length ? ` (missing: ${p.missing.map((m) => m.store).join(', ')})` : ''}` : withPitr
}
