// The services that write into the stores (Open WebUI, GraphRAG API, Celery worker and beat, MCP)
// are stopped for a restore (compose `stop`, Kubernetes scale to 0 with the replicas remembered) and
// started again in every path: on return, on error, on Ctrl-C/SIGTERM (ctx.cleanups), and, after a
// SIGKILL, by the next run, which reads the state file this module writes before it stops anything.
// That next run starts only what the record names and still exists (a drill's scratch project is
// gone after its teardown), and only once it holds the target's writers lease: the run that wrote
// the record held it until it started them again, so a live one is never overtaken.
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { hostname } from 'node:os'
import { KitError } from '../core/errors.ts'
import { acquireLock } from '../core/lock.ts'
import type { Ctx } from '../core/context.ts'
import { atomicWrite } from './manifest.ts'
import { storeLockPath } from './locks.ts'
import type { Destination, Target, WriterControl } from './types.ts'

/** Components (compose services, chart component labels) that write into the stores. */
export const WRITERS = ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server'] as const

export interface StoppedWriters {
  kind: 'compose' | 'k8s'
  at: string
  pid: number
  /** The host of the run that stopped them (absent in records of earlier versions). */
  host?: string
  control: WriterControl
  /** compose: service names; k8s: "deployment/<name>" with the replicas it had. */
  stopped: { name: string; replicas?: number }[]
}

function readState(file: string): StoppedWriters | null {
  try { return JSON.parse(readFileSync(file, 'utf8')) as StoppedWriters } catch { return null }
}

type Where = Pick<Target, 'kind' | 'where'>
type Dest = Pick<Destination, 'lockDir'>

/** The record of the writers a restore of this target stopped: beside the target's leases, named after the target. */
export function writersStatePath(dest: Dest, target: Where): string {
  return storeLockPath(dest, target, 'postgres').replace(/\.lock$/, '.writers-stopped.json')
}

/**
 * The lease a restore holds while it may stop the target's writers (exit 75 while another run
 * holds it); the record of a run that died with it is then the dead run's, safe to act on.
 */
export function lockWriters(ctx: Ctx, dest: Dest, target: Where): () => void {
  return ctx.dryRun ? () => {} : acquireLock(ctx, storeLockPath(dest, target, 'postgres').replace(/\.lock$/, '.writers.lock'), `restore of ${target.kind} ${target.where('postgres').replace(/^.*\((.*)\)$/, '$1')} (its writers stopped)`)
}

async function start(ctx: Ctx, s: StoppedWriters, names = s.stopped.map((w) => w.name)): Promise<void> {
  const todo = s.stopped.filter((w) => names.includes(w.name))
  if (!todo.length) return
  if (s.kind === 'compose') {
    await ctx.exec([...s.control.compose!, 'start', ...todo.map((w) => w.name)], { mutates: true, timeout: 600_000 })
  } else {
    for (const w of todo) {
      await ctx.exec([...s.control.kubectl!, 'scale', w.name, '-n', s.control.namespace!, `--replicas=${w.replicas ?? 1}`], { mutates: true, timeout: 120_000 })
    }
  }
  ctx.log.info(`writers started again: ${todo.map((w) => w.name).join(', ')}`)
}

/** The recorded writers that still exist (a container of the service, the Deployment): only those can be started. */
async function existing(ctx: Ctx, s: StoppedWriters): Promise<string[]> {
  const names = s.stopped.map((w) => w.name)
  if (s.kind === 'compose') {
    const c = s.control.compose!
    if (s.control.composeV1) {
      // Compose v1's `ps --services` lists the file's services: ask for each service's containers instead
      const have: string[] = []
      for (const n of names) if ((await ctx.exec([...c, 'ps', '-q', n], { timeout: 60_000, allowFailure: true })).stdout.trim()) have.push(n)
      return have
    }
    const out = (await ctx.exec([...c, 'ps', '--all', '--services'], { timeout: 60_000 })).stdout.split('\n').map((l) => l.trim())
    return names.filter((n) => out.includes(n))
  }
  const out = (await ctx.exec([...s.control.kubectl!, 'get', ...names, '-n', s.control.namespace!, '--ignore-not-found', '-o', 'name'], { timeout: 60_000 })).stdout
  const have = out.split('\n').map((l) => l.trim().replace(/^deployment\.apps\//, 'deployment/'))
  return names.filter((n) => have.includes(n))
}

/**
 * A previous run was killed with the writers stopped: start them (the platform must not stay down),
 * those that still exist. Call it holding lockWriters: the run that wrote the record is then gone.
 */
export async function resumeWriters(ctx: Ctx, dest: Dest, target: Where): Promise<string[]> {
  const stateFile = writersStatePath(dest, target)
  const s = existsSync(stateFile) ? readState(stateFile) : null
  if (!s) return []
  const by = `pid ${s.pid}${s.host ? ` on ${s.host}` : ''}, ${s.at}`
  const have = await existing(ctx, s)
  const gone = s.stopped.map((w) => w.name).filter((n) => !have.includes(n))
  if (have.length) ctx.log.warn(`an interrupted restore (${by}) left writers stopped: starting ${have.join(', ')}`)
  if (gone.length) ctx.log.warn(`an interrupted restore (${by}) had stopped ${gone.join(', ')}, which no longer exist${s.kind === 'compose' ? ' in the project' : ''}: nothing to start there`)
  await start(ctx, s, have)
  if (!ctx.dryRun) unlinkSync(stateFile)
  return have
}

/** Forget the record of a target that is gone (the drill's scratch project after its teardown). */
export function forgetStoppedWriters(dest: Dest, target: Where): void {
  try { unlinkSync(writersStatePath(dest, target)) } catch { /* none */ }
}

/**
 * Stop the writers of the target; returns the function that starts them again (idempotent, also
 * registered as a cleanup). The state file is written before the first stop and removed after the start.
 */
export async function stopWriters(ctx: Ctx, target: Target, stateFile: string): Promise<() => Promise<void>> {
  const control = target.writerControl?.()
  if (!control) {
    ctx.log.warn(`target ${target.kind}: the services that write into the stores are not managed by the kit: stop them yourself for the restore`)
    return async () => {}
  }
  const state: StoppedWriters = { kind: control.kind, at: new Date().toISOString(), pid: process.pid, host: hostname(), control, stopped: [] }
  if (control.kind === 'compose') {
    const filter = control.composeV1 ? ['--filter', 'status=running'] : ['--status', 'running']
    const running = (await ctx.exec([...control.compose!, 'ps', ...filter, '--services'], { timeout: 60_000 })).stdout.split('\n').map((l) => l.trim())
    state.stopped = WRITERS.filter((w) => running.includes(w)).map((name) => ({ name }))
  } else {
    const sel = `app.kubernetes.io/instance=${control.release},app.kubernetes.io/component in (${WRITERS.join(',')})`
    const out = (await ctx.exec([...control.kubectl!, 'get', 'deployments', '-n', control.namespace!, '-l', sel, '-o', 'json'], { timeout: 60_000 })).stdout
    const items = (JSON.parse(out || '{"items":[]}') as { items: { metadata: { name: string }; spec?: { replicas?: number } }[] }).items
    state.stopped = items.filter((d) => (d.spec?.replicas ?? 1) > 0).map((d) => ({ name: `deployment/${d.metadata.name}`, replicas: d.spec?.replicas ?? 1 }))
  }
  if (!state.stopped.length) return async () => {}
  if (!ctx.dryRun) { mkdirSync(dirname(stateFile), { recursive: true }); atomicWrite(stateFile, JSON.stringify(state, null, 2), 0o600) }
  let started = false
  const startAgain = async () => {
    if (started) return
    started = true
    unregister()
    await start(ctx, state)
    if (!ctx.dryRun && existsSync(stateFile)) unlinkSync(stateFile)
  }
  const unregister = ctx.cleanups.add(startAgain)
  try {
    if (control.kind === 'compose') {
      await ctx.exec([...control.compose!, 'stop', ...state.stopped.map((w) => w.name)], { mutates: true, timeout: 600_000 })
    } else {
      for (const w of state.stopped) await ctx.exec([...control.kubectl!, 'scale', w.name, '-n', control.namespace!, '--replicas=0'], { mutates: true, timeout: 120_000 })
    }
  } catch (e) {
    await startAgain().catch(() => {})
    throw new KitError(`could not stop the writers for the restore: ${(e as Error).message}`)
  }
  ctx.log.info(`writers stopped for the restore: ${state.stopped.map((w) => w.name).join(', ')}`)
  return startAgain
}
