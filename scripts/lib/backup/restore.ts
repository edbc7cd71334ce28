// One restore run: pick a complete set, confirm, check every checksum before production sees a
// change (a driver that restores beside the live store, PostgreSQL, starts while they are read and
// awaits them before its swap), decrypt, hand the plain files to the store's driver, and say what
// was restored where. A whole-platform restore takes every part of one platform set (--from
// latest: the newest complete one), never a mix; destinations with only per-store sets (earlier
// layout) restore as before.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { tmpdir } from 'node:os'
import { KitError, UsageError } from '../core/errors.ts'
import { lockStore } from './locks.ts'
import { confirm, type Ctx } from '../core/context.ts'
import { table } from '../core/log.ts'
import { checkSizes, checkSums, readManifest, sha256File } from './manifest.ts'
import { privateTmp, type Destination, type SetRef } from './destination.ts'
import { decryptFile } from './encryption.ts'
import { DRIVERS } from './stores/index.ts'
import type { Target } from './targets.ts'
import { MANIFEST_NAME, type Manifest, type StoreName, type StoreSettings } from './types.ts'
import { formatBytes } from './backup.ts'
import { releaseClaims } from './claims.ts'
import { choosePlatformSet, listPlatformSets, type PlatformRef } from './platform.ts'
import { STORES } from './types.ts'
import { lockWriters, resumeWriters, stopWriters, writersStatePath } from './writers.ts'

export interface RestoreOptions {
  stores: StoreName[]
  explicit: boolean
  /** "latest", a set id, "<store>/<id>", or the path of a local set directory. */
  from: string
  target: Target
  dest: Destination
  settings: StoreSettings
  identity?: string
  /** Restore the parts a partial or incomplete platform set has. */
  allowPartial?: boolean
}

export interface RestoreRun { ok: boolean; stores: RestoreOutcome[]; platform?: { id: string; state: string; why?: string } }

export interface RestoreOutcome {
  store: StoreName
  ok: boolean
  skipped?: string
  set?: string
  from?: string
  into?: string
  restored?: string[]
  warnings?: string[]
  error?: string
  durationMs: number
}

/** The set `from` names among `sets`; throws with the reason when it is not usable. */
export function chooseSet(store: StoreName, sets: SetRef[], from: string, where: string): SetRef {
  const complete = sets.filter((s) => s.manifest)
  if (from === 'latest') {
    const newest = [...complete].sort((a, b) => b.time.getTime() - a.time.getTime())
    const pick = newest.find((s) => s.manifest!.verified?.ok) ?? newest[0]
    if (!pick) {
      const ignored = sets.length - complete.length
      throw new KitError(`no complete backup set of ${store} in ${where}${ignored ? ` (${ignored} incomplete set(s) ignored)` : ''}`)
    }
    return pick
  }
  const id = from.includes('/') ? from.split('/').pop()! : from
  const found = sets.find((s) => s.id === id)
  if (!found) {
    throw new KitError(`no backup set ${id} of ${store} in ${where}`, 1,
      complete.length ? `complete sets: ${complete.slice(-5).map((s) => s.id).join(', ')}` : 'there is no complete set')
  }
  if (!found.manifest) throw new KitError(`refusing to restore ${found.location}: it is incomplete (${found.incomplete}); a set without its manifest is never restored`)
  return found
}

/** A local set directory given by path: its manifest names the store. */
export function localSet(path: string): SetRef | null {
  const dir = resolve(path)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null
  const manifest = readManifest(dir)
  if (!manifest) throw new KitError(`refusing to restore ${dir}: it has no ${MANIFEST_NAME} (an incomplete set is never restored)`)
  return { store: manifest.store, id: manifest.id, location: dir, manifest, time: new Date(manifest.startedAt) }
}

export async function runRestore(ctx: Ctx, o: RestoreOptions): Promise<RestoreRun> {
  try {
    return await restoreRun(ctx, o)
  } finally {
    await releaseClaims()
  }
}

async function restoreRun(ctx: Ctx, o: RestoreOptions): Promise<RestoreRun> {
  // "<store>/<id>" names its store.
  const named = new RegExp(`^(${STORES.join('|')})/\\d{4}-[^/]*Z$`).exec(o.from)?.[1] as StoreName | undefined
  const byPath = !named && o.from !== 'latest' && (o.from.includes('/') || o.from.startsWith('.')) ? localSet(o.from) : null
  if (!byPath && !named && (!o.explicit || o.stores.length > 1)) {
    const sets = await listPlatformSets(ctx, o.dest)
    if (sets.length && (o.from === 'latest' || sets.some((s) => s.id === o.from))) {
      const set = choosePlatformSet(sets, o.from, o.dest.url, Boolean(o.allowPartial))
      return withWritersStopped(ctx, o, (quiesce) => restorePlatform(ctx, o, set, quiesce))
    }
    if (!sets.length && o.from === 'latest') ctx.log.warn(`no platform set in ${o.dest.url}: restoring each store's newest set (the per-store layout of earlier versions)`)
  }
  const stores = byPath ? [byPath.store] : named ? [named] : o.stores
  if (!byPath && o.from !== 'latest' && stores.length > 1) throw new UsageError('--from <set id> names one set: pass --store too')
  // A restore only reads the destination: a mistyped --dest must not become a new, empty directory (the lock lives there).
  const root = o.dest.kind === 'local' ? (o.dest as unknown as { root: string }).root : null
  if (!byPath && root && !existsSync(root)) throw new UsageError(`--dest ${root} does not exist: no backup sets there (a typo?)`)
  const outcomes: RestoreOutcome[] = []
  await withWritersStopped(ctx, o, async (quiesce) => {
  for (const store of stores) {
    const t0 = performance.now()
    const release = lockStore(ctx, o.dest, o.target, store, `restore of ${store} (${o.target.where(store)})`)
    try {
      let set = byPath
      if (!set) {
        const sets = await o.dest.list(ctx, store)
        if (!sets.length && !o.explicit) {
          ctx.log.warn(`${store}: no backup sets in ${o.dest.url}: skipped`)
          outcomes.push({ store, ok: true, skipped: 'no backup sets', durationMs: 0 })
          continue
        }
        set = chooseSet(store, sets, o.from, o.dest.url)
      }
      outcomes.push(await restoreSet(ctx, o, set, t0, quiesce))
    } catch (e) {
      const message = ctx.secrets.mask(e instanceof Error ? e.message : String(e))
      if (e instanceof UsageError) throw e
      ctx.log.error(`${store}: restore failed: ${message}`)
      if (e instanceof KitError && e.hint) ctx.log.info(`hint: ${e.hint}`)
      outcomes.push({ store, ok: false, error: message, durationMs: Math.round(performance.now() - t0) })
    } finally {
      release()
    }
  }
  })
  // Nothing at all to restore is a wrong --dest, not a success.
  if (outcomes.length && outcomes.every((x) => x.skipped)) {
    ctx.log.error(`no backup set of any store in ${o.dest.url}: nothing was restored`)
    return { ok: false, stores: outcomes }
  }
  return { ok: outcomes.every((x) => x.ok), stores: outcomes }
}

/**
 * Writers stay stopped for the whole restore and start again in every path (writers.ts): `run`
 * calls quiesce once the set is confirmed and checked, right before the first store changes.
 */
async function withWritersStopped<T>(ctx: Ctx, o: RestoreOptions, run: (quiesce: () => Promise<void>) => Promise<T>): Promise<T> {
  // beside the target's leases, named after the target: another project's restore never resumes these writers
  const stateFile = writersStatePath(o.dest, o.target)
  const release = lockWriters(ctx, o.dest, o.target)
  let startWriters = async () => {}
  let stopped = false
  const quiesce = async () => {
    if (ctx.dryRun || stopped) return
    stopped = true
    startWriters = await stopWriters(ctx, o.target, stateFile)
  }
  try {
    if (!ctx.dryRun) await resumeWriters(ctx, o.dest, o.target)
    return await run(quiesce)
  } finally {
    try { await startWriters() } finally { release() }
  }
}

/** Every part of one platform set, in store order, each under its store's lock. */
async function restorePlatform(ctx: Ctx, o: RestoreOptions, set: PlatformRef, quiesce: () => Promise<void>): Promise<RestoreRun> {
  const wanted = o.explicit ? o.stores : STORES
  const parts = STORES.filter((s) => wanted.includes(s)).map((s) => set.parts.find((p) => p.store === s)).filter((p): p is SetRef => Boolean(p))
  const absent = wanted.filter((s) => set.expected.includes(s) && !parts.some((p) => p.store === s))
  ctx.log.info(`platform set ${set.id} (${set.state}): ${parts.map((p) => p.store).join(', ')}`)
  if (set.state !== 'complete') ctx.log.warn(`platform set ${set.id} is ${set.state}: ${set.why}`)
  if (o.explicit && absent.length) throw new KitError(`platform set ${set.id} has no part of ${absent.join(', ')}`)
  const outcomes: RestoreOutcome[] = []
  for (const part of parts) {
    const t0 = performance.now()
    // The escrowed .env needs the operator's key: without one it stays in the set, the rest restores.
    if (part.store === 'config' && !o.explicit && !(o.identity ?? o.settings.identity)) {
      outcomes.push({ store: 'config', ok: true, skipped: 'no --identity: the configuration stays in the set (restore it with --store config --identity <key>)', durationMs: 0 })
      continue
    }
    const release = lockStore(ctx, o.dest, o.target, part.store, `restore of ${part.store} (${o.target.where(part.store)})`)
    try {
      outcomes.push(await restoreSet(ctx, o, part, t0, quiesce))
    } catch (e) {
      if (e instanceof UsageError) throw e
      const message = ctx.secrets.mask(e instanceof Error ? e.message : String(e))
      ctx.log.error(`${part.store}: restore failed: ${message}`)
      outcomes.push({ store: part.store, ok: false, error: message, durationMs: Math.round(performance.now() - t0) })
    } finally {
      release()
    }
  }
  for (const store of absent) {
    const why = set.why?.split('; ').find((w) => w.startsWith(`${store} `))
    outcomes.push({ store, ok: true, skipped: why ? `platform set ${set.id}: ${why}` : `not in platform set ${set.id}`, durationMs: 0 })
  }
  return { ok: outcomes.every((x) => x.ok), stores: outcomes, platform: { id: set.id, state: set.state, ...(set.why ? { why: set.why } : {}) } }
}

async function restoreSet(ctx: Ctx, o: RestoreOptions, set: SetRef, t0: number, quiesce: () => Promise<void> = async () => {}): Promise<RestoreOutcome> {
  const manifest = set.manifest as Manifest
  const store = set.store
  const driver = DRIVERS[store]
  const into = o.target.where(store)
  const verifiedNote = manifest.verified?.ok ? 'verified' : 'NOT verified when taken'
  ctx.log.info(`${store}: set ${set.id} (${manifest.startedAt}, ${formatBytes(manifest.bytes)}, ${verifiedNote}) from ${set.location}`)
  if (!manifest.verified?.ok) ctx.log.warn(`${store}: set ${set.id} was not verified when it was taken`)
  await confirm(ctx, `Restore ${store} set ${set.id} into ${into}? This replaces ${driver.describeRestore(manifest)}`)
  if (manifest.encryption && !o.identity) throw new UsageError(`set ${set.id} is encrypted with age: pass --identity <key file> (or BACKUP_AGE_IDENTITY)`)

  const fetched = await o.dest.fetch(ctx, set)
  const scratch = privateTmp(o.settings.env.BACKUP_STAGING_DIR ?? tmpdir(), `owp-restore-${store}-`)
  let proving: Promise<void> | null = null // the checksums, once started
  try {
    const step = ctx.log.step(`${store}: check ${manifest.files.length} file(s) against the manifest`)
    const mismatch = (problems: string[]) => {
      step.fail()
      return new KitError(`set ${set.id} does not match its manifest, nothing was restored:\n  ${problems.join('\n  ')}`)
    }
    const sizes = checkSizes(fetched.dir, manifest)
    if (sizes.length) throw mismatch(sizes)
    const proof = () => {
      if (!proving) {
        proving = checkSums(fetched.dir, manifest).then((problems) => {
          if (problems.length) throw mismatch(problems)
          step.ok('sha256 equal')
        })
        proving.catch(() => {}) // awaited in every path; never an unhandled rejection meanwhile
      }
      return proving
    }
    // A driver that restores beside the live store starts before the checksums are read (it
    // starts them beside its own work, and awaits them, and stops the writers, before production
    // sees a change); any other, an encrypted set (decrypted first) and a plan (nothing to win,
    // and no plan for a set that differs) wait for them.
    const beside = Boolean(driver.restoresBeside && !manifest.encryption && !ctx.dryRun)
    if (!beside) await proof()
    let dir = fetched.dir
    if (manifest.encryption) {
      dir = join(scratch, 'plain')
      mkdirSync(dir, { mode: 0o700 })
      for (const f of manifest.files) {
        const plainName = f.plain ? f.name.replace(/\.age$/, '') : f.name
        const out = join(dir, plainName)
        if (f.plain) {
          await decryptFile(ctx, join(fetched.dir, f.name), out, o.identity)
          if (!ctx.dryRun && (await sha256File(out)) !== f.plain.sha256) throw new KitError(`${f.name} decrypts to data that differs from what was backed up`)
        } else {
          await ctx.exec(['cp', join(fetched.dir, f.name), out])
        }
      }
    }
    if (!beside && !driver.leavesWritersRunning) await quiesce()
    const rstep = ctx.log.step(`${store}: restore ${set.id} into ${into}`)
    const result = await driver.restore(ctx, { target: o.target, dir, scratch, id: set.id, settings: { ...o.settings, identity: o.identity ?? o.settings.identity }, verify: true, ...(beside ? { proof, quiesce } : {}) }, manifest)
      // a set that differs from its manifest is the reason, whatever failed with it
      .catch(async (e: unknown) => { throw (await proof().then(() => null, (bad: unknown) => bad)) ?? e })
    rstep.ok()
    for (const w of result.warnings) ctx.log.warn(`${store}: ${w}`)
    return { store, ok: true, set: set.id, from: set.location, into, restored: result.restored, warnings: result.warnings, durationMs: Math.round(performance.now() - t0) }
  } finally {
    await (proving as Promise<void> | null)?.catch(() => {}) // nothing of this run still reads the set when it is removed
    rmSync(scratch, { recursive: true, force: true })
    fetched.done()
  }
}

export function renderRestore(r: { stores: RestoreOutcome[] }, dryRun: boolean): string {
  const lines: string[] = []
  for (const s of r.stores) {
    if (s.skipped) lines.push(`${s.store}: skipped (${s.skipped})`)
    else if (!s.ok) lines.push(`${s.store}: FAILED: ${s.error}`)
    else {
      lines.push(`${s.store}: ${dryRun ? 'would restore' : 'restored'} set ${s.set} from ${s.from} into ${s.into}:`)
      for (const x of s.restored ?? []) lines.push(`  - ${x}`)
    }
  }
  return lines.join('\n')
}

export function renderSets(store: StoreName, sets: SetRef[]): string {
  const rows = sets.map((s) => [store, s.id, s.manifest ? 'complete' : 'INCOMPLETE', s.manifest ? formatBytes(s.manifest.bytes) : '',
    s.manifest ? (s.manifest.verified?.ok ? 'yes' : 'no') : '', s.manifest?.encryption ? 'age' : '', s.manifest ? s.location : s.incomplete ?? ''])
  return table(['store', 'set', 'state', 'size', 'verified', 'encrypted', 'location / why'], rows)
}
