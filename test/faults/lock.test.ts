// The kit's lease lock under real faults: a holder SIGKILLed under another hostname (a Kubernetes
// Job pod), racers at a stale lease, readers during creation.
import { describe, it, expect, afterEach } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync, utimesSync, existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { acquireLock, readLease, replaceStaleLease, LEASE_MS, type LeaseInfo } from '../../scripts/lib/core/lock.ts'
import { LockedError } from '../../scripts/lib/core/errors.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'

const FIXTURES = join(ROOT, 'test/faults/fixtures')
const started: ChildProcess[] = []
const dirs: Array<{ remove(): void }> = []
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) try { process.kill(-c.pid!, 'SIGKILL') } catch { /* gone */ }
  for (const d of dirs.splice(0)) d.remove()
})

function scratch(): string { const d = tmpDir('owp-lock-'); dirs.push(d); return d.path }

/** Run a tsx fixture in its own process group (so the whole tree can be killed), optionally under `unshare --uts` with another hostname. */
function spawnFixture(args: string[], o: { host?: string; env?: Record<string, string> } = {}) {
  const node = [process.execPath, '--import', 'tsx', ...args]
  const argv = o.host ? ['unshare', '--uts', '--fork', 'sh', '-c', `hostname "$0" && exec "$@"`, o.host, ...node] : node
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...o.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  started.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => { stdout += d })
  child.stderr!.on('data', (d) => { stderr += d })
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  const until = async (re: RegExp, ms = 150_000) => {
    const end = Date.now() + ms
    while (!re.test(stdout)) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`fixture did not print ${re} (exit ${child.exitCode}): ${stdout}${stderr}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return { child, exited, until, out: () => stdout, err: () => stderr }
}

const tryLock = (path: string) => {
  const ctx = testCtx()
  try { return { release: acquireLock(ctx, path, 'backup of postgres'), ctx } } catch (e) { if (e instanceof LockedError) return { error: e, ctx }; throw e }
}

describe('lease lock', () => {
  it('F-LOCK-1: a backup SIGKILLed under another hostname (a Job pod) is taken over on this host once its 60 s lease expires, and the run succeeds', async () => {
    const path = join(scratch(), 'store-postgres.lock')
    const pod = spawnFixture([join(FIXTURES, 'lock-holder.ts'), path, 'backup of postgres'], { host: 'owp-backup-postgres-29412360-x7k2q' })
    await pod.until(/^held owp-backup-postgres-29412360-x7k2q \d+/)
    process.kill(-pod.child.pid!, 'SIGKILL') // the whole tree: unshare, sh, node
    await pod.exited
    // at once: the lease is fresh and its host is not this one, so its pid cannot be judged: 75
    const first = tryLock(path)
    expect(first.error?.exitCode).toBe(75)
    expect(first.error?.message).toMatch(/^another backup of postgres is running \(pid \d+ on owp-backup-postgres-29412360-x7k2q, since /)
    expect(readLease(path)?.info?.leaseMs).toBe(LEASE_MS)
    // a later run (cron, the next Job pod) takes over once nobody renewed it for the lease
    let taken = tryLock(path)
    while (taken.error) {
      await new Promise((r) => setTimeout(r, 2000))
      taken = tryLock(path)
    }
    expect(taken.ctx.stderr()).toMatch(/took over the stale lock .*store-postgres\.lock \(backup of postgres, pid \d+ on owp-backup-postgres-29412360-x7k2q: not renewed for \d+s\)/)
    expect(readLease(path)?.info?.host).toBe(hostname())
    taken.release!()
    expect(existsSync(path)).toBe(false)
  }, 300_000)

  it('F-LOCK-5: a holder on this host that was killed a moment ago and is not reaped yet (a zombie) is gone: its fresh lease is taken over at once, not exit 75', async () => {
    const path = join(scratch(), 'store-postgres.lock')
    // the child ends 0.3 s later, once its parent has exec'd into sleep, which never reaps it: a
    // zombie under that pid (a child that ended at once could be reaped by sh before its exec)
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
    started.push(parent)
    const zombie = await new Promise<number>((r) => parent.stdout!.once('data', (d) => r(Number(String(d).trim()))))
    const state = () => { const st = readFileSync(`/proc/${zombie}/stat`, 'utf8'); return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) }
    for (let i = 0; i < 100 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20))
    expect(state()).toBe('Z')
    writeFileSync(path, JSON.stringify({ id: 'zomb0000', pid: zombie, host: hostname(), startedAt: new Date().toISOString(), what: 'backup of postgres', leaseMs: LEASE_MS }))
    const taken = tryLock(path)
    expect(taken.error).toBeUndefined()
    expect(taken.ctx.stderr()).toContain(`took over the stale lock ${path} (backup of postgres, pid ${zombie} on ${hostname()}: pid ${zombie} on ${hostname()} is gone)`)
    taken.release!()
  })

  it('F-LOCK-2: a live holder on another host keeps its lease past 60 s by renewing it; nobody takes it over', async () => {
    const path = join(scratch(), 'store-postgres.lock')
    const pod = spawnFixture([join(FIXTURES, 'lock-holder.ts'), path, 'backup of postgres'], { host: 'owp-backup-postgres-29412361-abcde', env: { OWP_LOCK_LEASE_S: '6' } })
    await pod.until(/^held /)
    // three lease lengths later it is still held: the holder renewed it (a timer, every lease/6 here)
    await new Promise((r) => setTimeout(r, 18_000))
    const other = tryLock(path)
    expect(other.error?.exitCode).toBe(75)
    expect(other.error?.message).toMatch(/on owp-backup-postgres-29412361-abcde/)
    process.kill(-pod.child.pid!, 'SIGKILL')
    await pod.exited
  }, 240_000)

  it('F-LOCK-3: a takeover never replaces a fresh lease: a racer that judged the old lease stale loses to the one that took it first', () => {
    const path = join(scratch(), 'deploy.lock')
    writeFileSync(path, JSON.stringify({ id: 'dead0000', pid: 4242, host: 'gone-pod', startedAt: '2026-12-01T00:00:00Z', what: 'deploy', leaseMs: LEASE_MS }))
    const past = new Date(Date.now() - 5 * 60_000)
    utimesSync(path, past, past)
    const judgedByA = readLease(path)! // racer A reads the stale lease, then stalls
    const b = tryLock(path) // racer B takes it over meanwhile
    expect(b.release).toBeDefined()
    const bId = readLease(path)!.info!.id
    const aInfo: LeaseInfo = { id: 'aaaa1111', pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), what: 'deploy', leaseMs: LEASE_MS }
    expect(replaceStaleLease(path, judgedByA, aInfo)).toBe(false)
    expect(readLease(path)!.info!.id).toBe(bId) // B's fresh lease is still there
    const c = tryLock(path)
    expect(c.error?.exitCode).toBe(75)
    b.release!()
  })

  it('F-LOCK-4: a reader never sees an empty or half-written lock while leases are created and released in a loop', async () => {
    const dir = scratch()
    const path = join(dir, 'compose-owp.lock')
    const stop = join(dir, 'stop')
    const reader = spawnFixture([join(FIXTURES, 'lock-churn.ts'), 'read', path, stop])
    const writer = spawnFixture([join(FIXTURES, 'lock-churn.ts'), 'write', path, '1000'])
    expect(await writer.exited).toBe(0)
    writeFileSync(stop, '')
    expect(await reader.exited).toBe(0)
    const r = JSON.parse(reader.out()) as { reads: number; badCount: number; bad: string[] }
    expect(JSON.parse(writer.out())).toEqual({ held: 1000 })
    expect(r.reads).toBeGreaterThan(0)
    expect(r.bad).toEqual([])
  }, 300_000)
})
