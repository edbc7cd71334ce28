// restore --store postgres --to TIME: recover PostgreSQL to that moment from pgBackRest's
// repository. Order of the work, and what a kill at each step leaves:
//   1. pick the backup that finished before the target (refuse a target before the first one)
//   2. restore it BESIDE the current data (a new directory or volume)   killed: current untouched
//   3. start a scratch server on it, replay WAL to the target, paused   killed: current untouched
//      there; check it stopped at the target and every database answers
//   4. switch: stop production, put the copy in place (the old data is kept aside), start it
//   5. resume replay: recovery ends, a new timeline starts, archiving continues on it
import { randomBytes } from 'node:crypto'
import { KitError } from '../../core/errors.ts'
import { acquireLock } from '../../core/lock.ts'
import { storeLockPath } from '../locks.ts'
import { confirm, type Ctx } from '../../core/context.ts'
import type { Destination, Target } from '../types.ts'
import { chooseBackup, parseInfo, type PitrBackup } from './info.ts'
import { pgTime } from './time.ts'
import { restoreCommand } from './config.ts'
import { SQL, type Beside, type PitrSite, type ScratchServer } from './site.ts'
import { ensureConfig } from './setup.ts'
import { newestTimeline, readTimelines, recordTimeline, timelineAt } from './timelines.ts'

export interface PitrRestoreOptions {
  site: PitrSite
  dest: Destination
  /** The target whose postgres store lease this run takes (the same one as every backup and restore of it). */
  store: Pick<Target, 'kind' | 'where'>
  env: Record<string, string>
  target: Date
  /** Per-command limit (restore, replay). */
  timeoutMs: number
}

export interface PitrRestoreResult {
  ok: true
  target: string
  backup: string
  backupFinished: string
  /** The restored data, now in production. */
  into: string
  /** Where the data that ran before is kept, untouched. */
  previous: string
  /** The last transaction replayed (at or before the target). */
  lastTransaction: string | null
  databases: { name: string; tables: number }[]
  durationMs: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function runPitrRestore(ctx: Ctx, o: PitrRestoreOptions): Promise<PitrRestoreResult> {
  const t0 = performance.now()
  const release = ctx.dryRun ? () => {} : acquireLock(ctx, storeLockPath(o.dest, o.store, 'postgres'), 'point-in-time restore of postgres')
  try {
    await ensureConfig(ctx, o.site, o.dest, o.env)
    const info = parseInfo((await o.site.pgbackrest(ctx, ['--output=json', 'info'], { timeout: 300_000 })).stdout || '[]')
    const backup = chooseBackup(info, o.target, o.dest.url)
    const timelines = await readTimelines(ctx, o.dest)
    const { timeline, unrecorded } = timelineAt(timelines, o.target, newestTimeline(info.archive?.max))
    if (unrecorded) ctx.log.warn(`postgres: the archive holds a timeline no recovery of the kit recorded (one killed before it could): a target after ${timelines.map((r) => r.from).sort().at(-1)} follows the newest timeline`)
    ctx.log.info(`postgres: recovering to ${o.target.toISOString()} from backup ${backup.label} (${backup.type}, finished ${backup.stop.toISOString()}) in ${o.dest.url}` +
      (timeline ? `, along timeline ${timeline} (the one production ran on then: an earlier recovery branched the history)` : ''))
    await confirm(ctx, `Recover ${o.site.where} to ${o.target.toISOString()}? The current data is kept aside, and production restarts on the recovered copy`)

    // unique per run: a rerun in the same second as a killed run must not meet its leftovers' names
    const id = `${new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}-${randomBytes(2).toString('hex')}`
    const beside = await o.site.beside(ctx, id)
    let switched = false
    // Ctrl-C before the switch: the copy goes, production was never touched.
    const unregister = ctx.cleanups.add(async () => { if (!switched) await o.site.discard(ctx, beside) })
    try {
      const step = ctx.log.step(`postgres: restore ${backup.label} into ${beside.label} (beside the current data)`)
      await o.site.restoreInto(ctx, beside, [`--set=${backup.label}`, '--type=time', `--target=${pgTime(o.target)}`, ...(timeline ? [`--target-timeline=${timeline}`] : []), '--target-action=pause',
        `--recovery-option=restore_command=${restoreCommand()}`], o.timeoutMs)
      step.ok()
      const checked = await verifyCopy(ctx, o, beside, backup)
      const sw = ctx.log.step(`postgres: switch production to ${beside.label}`)
      const switchedAt = new Date()
      const prod = await o.site.switchTo(ctx, beside, id, o.timeoutMs)
      switched = true
      sw.ok(`previous data kept in ${prod.previous}`)
      try {
        await endRecovery(ctx, (q) => prod.sql(q), o.timeoutMs)
      } catch (e) {
        ctx.log.error(`postgres: the recovered server did not leave recovery: putting the previous data back`)
        await prod.undo()
        throw e
      }
      if (!ctx.dryRun) {
        await recordTimeline(ctx, o.dest, (q) => prod.sql(q), timelines, switchedAt).catch((e: Error) =>
          ctx.log.warn(`postgres: could not record the new timeline (${e.message}): a later recovery to a moment before this one follows the newest timeline`))
      }
      return {
        ok: true, target: o.target.toISOString(), backup: backup.label, backupFinished: backup.stop.toISOString(),
        into: o.site.where, previous: prod.previous, lastTransaction: checked.lastTransaction, databases: checked.databases,
        durationMs: Math.round(performance.now() - t0),
      }
    } catch (e) {
      if (!switched) await o.site.discard(ctx, beside).catch(() => {})
      throw e
    } finally {
      unregister()
    }
  } finally {
    release()
  }
}

/** Replay the copy to the target on a scratch server and prove it stopped there. */
async function verifyCopy(ctx: Ctx, o: PitrRestoreOptions, beside: Beside, backup: PitrBackup): Promise<{ lastTransaction: string | null; databases: { name: string; tables: number }[] }> {
  if (ctx.dryRun) return { lastTransaction: null, databases: [] }
  const step = ctx.log.step(`postgres: replay WAL to ${o.target.toISOString()} on a scratch server`)
  const scratch = await o.site.startScratch(ctx, beside, o.timeoutMs)
  const unregister = ctx.cleanups.add(() => scratch.stop())
  try {
    const state = await waitPaused(ctx, scratch, o.timeoutMs)
    const last = state.lastTransaction
    if (last && new Date(last).getTime() > o.target.getTime()) throw new KitError(`the copy replayed a transaction of ${last}, after the target ${o.target.toISOString()}: not switching`)
    const databases: { name: string; tables: number }[] = []
    for (const name of (await scratch.sql(SQL.databases)).split('\n').filter(Boolean)) {
      databases.push({ name, tables: Number(await scratch.sql(SQL.tables, name)) })
    }
    step.ok(`paused at the target (last transaction ${last ?? 'none after the backup'}), ${databases.length} database(s) answer`)
    return { lastTransaction: last, databases }
  } catch (e) {
    step.fail()
    throw e
  } finally {
    await scratch.stop()
    unregister()
    void backup
  }
}

/**
 * Why the scratch server's log says it failed, or null while it may still be starting. A FATAL that
 * only refuses our own connection while the server starts or replays (`the database system is
 * starting up`) is not a failure: the next poll asks again.
 */
export function scratchFailure(logTail: string): string | null {
  const fatal = logTail.split('\n').filter((l) => /\b(FATAL|PANIC)\b/.test(l) && !/the database system is (starting up|not yet accepting connections)/.test(l))
  if (!fatal.length) return null
  return /recovery ended before configured recovery target was reached/.test(logTail)
    ? 'the archive holds no transaction after the target yet (the WAL of that moment is not archived: wait for archive_timeout, or pick an earlier time)'
    : 'the scratch server stopped'
}

async function waitPaused(ctx: Ctx, scratch: ScratchServer, timeoutMs: number): Promise<{ lastTransaction: string | null }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let state: string | null = null
    try { state = await scratch.sql(SQL.recoveryState) } catch { state = null }
    if (state) {
      const [inRecovery, pause, last] = state.split('|')
      if (inRecovery === 'false') throw new KitError('the copy left recovery on its own (it was started without its recovery target): not switching')
      if (pause === 'paused') return { lastTransaction: last || null }
    } else {
      const tail = await scratch.logTail()
      const reason = scratchFailure(tail)
      if (reason) throw new KitError(`recovery to the target failed: ${reason}:\n${tail}`)
    }
    if (Date.now() > deadline) throw new KitError(`the copy did not reach the target within ${Math.round(timeoutMs / 1000)} s`)
    if (ctx.signal.aborted) throw new KitError('interrupted')
    await sleep(250)
  }
}

/** Resume replay at the target: PostgreSQL ends recovery and promotes onto a new timeline. */
async function endRecovery(ctx: Ctx, sql: (q: string) => Promise<string>, timeoutMs: number): Promise<void> {
  if (ctx.dryRun) return
  const deadline = Date.now() + timeoutMs
  let resumed = false
  for (;;) {
    let state: string | null = null
    try { state = await sql(SQL.recoveryState) } catch { state = null }
    ctx.log.debug(`recovery state: ${state ?? 'no answer'}`)
    if (state?.startsWith('false')) return
    if (state && !resumed && state.split('|')[1] === 'paused') {
      await sql('SELECT pg_wal_replay_resume()')
      resumed = true
    }
    if (Date.now() > deadline) throw new KitError('the recovered server did not end recovery in time')
    await sleep(250)
  }
}

export function renderPitrRestore(r: PitrRestoreResult, dryRun: boolean): string {
  if (dryRun) return `postgres: would recover to ${r.target} from backup ${r.backup}`
  return [
    `postgres: recovered to ${r.target} from backup ${r.backup} (finished ${r.backupFinished}), last transaction ${r.lastTransaction ?? 'none after the backup'}`,
    `  running on the recovered data: ${r.into}`,
    `  previous data kept, untouched: ${r.previous} (remove it once you are sure)`,
    ...r.databases.map((d) => `  - database ${d.name} (${d.tables} tables)`),
  ].join('\n')
}
