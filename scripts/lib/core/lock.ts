// A lock file holding PID and host, with stale-lock detection: overlapping runs exit 75.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import { LockedError } from './errors.ts'
import type { Ctx } from './context.ts'

// One exit handler for every lock this process holds (one listener per lock would pile up).
const held = new Set<() => void>()
let exitHookInstalled = false
function releaseOnExit(release: () => void): void {
  held.add(release)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => { for (const r of held) r() })
}

interface LockInfo { pid: number; host: string; startedAt: string; what: string }

/** Take the lock or throw LockedError; returns the release function (also registered as a cleanup). */
export function acquireLock(ctx: Ctx, path: string, what: string): () => void {
  mkdirSync(dirname(path), { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644)
      const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), what }
      writeSync(fd, JSON.stringify(info))
      closeSync(fd)
      let released = false
      const release = () => {
        if (released) return
        released = true
        held.delete(release)
        try { unlinkSync(path) } catch { /* already gone */ }
      }
      ctx.cleanups.add(release)
      releaseOnExit(release)
      return release
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const holder = readLock(path)
      if (holder && isAlive(holder)) {
        throw new LockedError(`another ${holder.what} is running (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`,
          `wait for it to finish; if it is gone, remove ${path}`)
      }
      ctx.log.warn(`removing stale lock ${path}${holder ? ` (pid ${holder.pid} on ${holder.host} is gone)` : ''}`)
      try { unlinkSync(path) } catch { /* raced */ }
    }
  }
  throw new LockedError(`could not take the lock ${path}`)
}

function readLock(path: string): LockInfo | null {
  try { return JSON.parse(readFileSync(path, 'utf8')) as LockInfo } catch { return null }
}

/** A lock from another host cannot be checked: treat it as alive. */
function isAlive(info: LockInfo): boolean {
  if (info.host !== hostname()) return true
  try { process.kill(info.pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}
