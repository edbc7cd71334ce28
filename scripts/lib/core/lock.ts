// A lease, not a pid lock: the holder renews it (mtime) every <= 10 s; a lease not renewed for 60 s
// is stale on any host (a Kubernetes Job pod killed by OOM or its deadline never comes back).
// Creation is atomic (complete temp file, then link: O_EXCL semantics, never a half-written lock);
// a takeover is guarded per stale lease so it can never replace a fresh one; release deletes only ours.
import { existsSync, writeFileSync, readFileSync, unlinkSync, mkdirSync, linkSync, renameSync, statSync, utimesSync, openSync, fsyncSync, closeSync } from 'node:fs'
import { hostname, homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { LockedError } from './errors.ts'
import type { Ctx } from './context.ts'

/** A lease not renewed for this long is stale (OWP_LOCK_LEASE_S shortens it, for tests only). */
export const LEASE_MS = 60_000

/** Where the kit keeps its locks: OWP_LOCK_DIR, else <OWP_STATE_DIR>/locks, else $XDG_STATE_HOME/owp/locks (one per host, not per checkout). */
export function lockDir(env: Record<string, string | undefined>): string {
  if (env.OWP_LOCK_DIR) return env.OWP_LOCK_DIR
  if (env.OWP_STATE_DIR) return join(env.OWP_STATE_DIR, 'locks')
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state'), 'owp', 'locks')
}

/** A lock file name from what it protects (`compose-owp`, `helm-openwebui-prod-owp`, `backup-<target>-postgres`). */
export function lockFile(dir: string, key: string): string {
  return join(dir, `${key.replace(/[^\w.-]+/g, '_')}.lock`)
}

export interface LeaseInfo { id: string; pid: number; host: string; startedAt: string; what: string; leaseMs: number }

// One exit handler for every lock this process holds (one listener per lock would pile up).
const held = new Set<() => void>()
let exitHookInstalled = false
function releaseOnExit(release: () => void): void {
  held.add(release)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => { for (const r of held) r() })
}

function leaseMs(ctx: Ctx): number {
  const s = Number(ctx.env.OWP_LOCK_LEASE_S)
  return Number.isFinite(s) && s > 0 ? s * 1000 : LEASE_MS
}

/** Read a lease; null when absent or unreadable (a lock of an older kit: judged by its age alone). */
export function readLease(path: string): { info: LeaseInfo | null; mtimeMs: number; ino: number } | null {
  let st
  try { st = statSync(path) } catch { return null }
  let info: LeaseInfo | null = null
  try { info = JSON.parse(readFileSync(path, 'utf8')) as LeaseInfo } catch { /* legacy or foreign content */ }
  return { info, mtimeMs: st.mtimeMs, ino: st.ino }
}

/** Stale: not renewed within the lease (any host), or its process is gone (this host only). */
export function staleness(l: LeaseSnapshot, lease: number): string | null {
  const age = Date.now() - l.mtimeMs
  const limit = l.info?.leaseMs ?? lease
  if (age > limit) return `not renewed for ${Math.round(age / 1000)}s`
  if (l.info && l.info.host === hostname() && !pidAlive(l.info.pid)) return `pid ${l.info.pid} on ${l.info.host} is gone`
  return null
}

/**
 * A process of this host runs under pid. A zombie does not: a run killed a moment ago stays one
 * until its parent reaps it, and the next run must not wait for that.
 */
export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0) } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return !existsSync('/proc/self/stat') // gone meanwhile; without /proc, signal 0 is all there is
  }
}

/** Write the whole lease to a private temp file first: only complete files are ever linked or renamed into place. */
function writeTemp(path: string, info: LeaseInfo, tag = ''): string {
  const tmp = `${path}.${info.id}${tag}.tmp`
  const fd = openSync(tmp, 'wx', 0o644)
  try { writeFileSync(fd, JSON.stringify(info)); fsyncSync(fd) } finally { closeSync(fd) }
  return tmp
}

const rm = (p: string) => { try { unlinkSync(p) } catch { /* gone */ } }

/** The ids of the leases this process holds, for a child run it starts under them (INHERIT_ENV). */
const heldIds = new Map<string, string>()
export const INHERIT_ENV = 'OWP_HELD_LEASES'
export function heldLeaseEnv(): Record<string, string> {
  return { [INHERIT_ENV]: [...heldIds.values()].join(',') }
}

/** Take the lease or throw LockedError (exit 75); returns the release function (also a cleanup). */
export function acquireLock(ctx: Ctx, path: string, what: string): () => void {
  mkdirSync(dirname(path), { recursive: true })
  const lease = leaseMs(ctx)
  // a child the holder started under its lease (a deploy's pre-upgrade backup): the holder renews it
  const inherited = (ctx.env[INHERIT_ENV] ?? '').split(',').filter(Boolean)
  const current = inherited.length ? readLease(path) : null
  if (current?.info && inherited.includes(current.info.id) && !staleness(current, lease)) {
    ctx.log.debug(`lock ${path}: held by the run that started this one (${current.info.what})`)
    return () => {}
  }
  const info: LeaseInfo = { id: randomBytes(8).toString('hex'), pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), what, leaseMs: lease }
  const tmp = writeTemp(path, info)
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path) // atomic create: fails with EEXIST when any lease is there
        return hold(ctx, path, info)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const current = readLease(path)
      if (!current) continue // released between our link and our read: try again
      const why = staleness(current, lease)
      const h = current.info
      if (!why) {
        throw new LockedError(`another ${h?.what ?? 'run'} is running (${h ? `pid ${h.pid} on ${h.host}, since ${h.startedAt}` : `lock ${path}`})`,
          `wait for it to finish; if it died, its lock ${path} is taken over once not renewed for ${Math.round((h?.leaseMs ?? lease) / 1000)}s`)
      }
      if (takeOver(path, tmp, current, lease)) {
        ctx.log.warn(`took over the stale lock ${path} (${h ? `${h.what}, pid ${h.pid} on ${h.host}` : 'unreadable'}: ${why})`)
        return hold(ctx, path, info)
      }
    }
    throw new LockedError(`could not take the lock ${path}: other runs are racing for it`, 'try again')
  } finally {
    rm(tmp)
  }
}

export type LeaseSnapshot = NonNullable<ReturnType<typeof readLease>>

/** Replace a lease judged stale by `judged` with `info`, unless it was renewed or replaced since (tests race it). */
export function replaceStaleLease(path: string, judged: LeaseSnapshot, info: LeaseInfo): boolean {
  const tmp = writeTemp(path, info, '.takeover')
  try { return takeOver(path, tmp, judged, info.leaseMs) } finally { rm(tmp) }
}

/**
 * Replace the stale lease we judged, and nothing else: one guard file per stale lease (named by its
 * id or inode, created with O_EXCL) lets a single racer through; it re-checks under the guard that
 * the same lease is still there and still stale, then renames its complete lease over it.
 */
function takeOver(path: string, tmp: string, judged: LeaseSnapshot, lease: number): boolean {
  const guard = `${path}.takeover-${judged.info?.id ?? `ino${judged.ino}`}`
  try {
    linkSync(tmp, guard)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    // another racer is taking this lease over; its guard is abandoned only if it died mid-takeover
    const g = readLease(guard)
    if (g && Date.now() - g.mtimeMs > Math.min(lease, 10_000)) rm(guard)
    return false
  }
  try {
    const now = readLease(path)
    if (!now || now.ino !== judged.ino || !staleness(now, lease)) return false // renewed or already replaced: not ours to take
    renameSync(tmp, path) // atomic replace: readers see the old lease or ours, never none
    return true
  } finally {
    rm(guard)
  }
}

/** Renew the lease on a timer (unref'd); release deletes it only while it is still ours. */
function hold(ctx: Ctx, path: string, info: LeaseInfo): () => void {
  heldIds.set(path, info.id)
  const ours = () => readLease(path)?.info?.id === info.id
  const every = Math.min(10_000, Math.max(200, Math.floor(info.leaseMs / 6)))
  const timer = setInterval(() => {
    try {
      if (!ours()) {
        clearInterval(timer)
        ctx.log.error(`lost the lock ${path}: another run took it over (this run stalled past its ${Math.round(info.leaseMs / 1000)}s lease)`)
        return
      }
      const now = new Date()
      utimesSync(path, now, now)
    } catch { /* a renewal that fails is retried by the next tick */ }
  }, every)
  timer.unref()
  let released = false
  const release = () => {
    if (released) return
    released = true
    clearInterval(timer)
    held.delete(release)
    heldIds.delete(path)
    if (!ours()) return
    // move it aside first so a lease that changed hands in between is put back, not deleted
    const aside = `${path}.release-${info.id}`
    try { renameSync(path, aside) } catch { return }
    if (readLease(aside)?.info?.id === info.id) { rm(aside); return }
    try { linkSync(aside, path) } catch { /* someone else's lease is back or a newer one replaced it */ }
    rm(aside)
  }
  ctx.cleanups.add(release)
  releaseOnExit(release)
  return release
}
