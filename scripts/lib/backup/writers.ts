// The services that write into the stores (Open WebUI, GraphRAG API, Celery worker and beat, MCP)
// are stopped for a restore (compose `stop`, Kubernetes scale to 0 with the replicas remembered) and
// started again in every path: on return, on error, on Ctrl-C/SIGTERM (ctx.cleanups), and, after a
// SIGKILL, by the next run, which reads the state file this module writes before it stops anything.
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { atomicWrite } from './manifest.ts'
import type { Target, WriterControl } from './types.ts'

/** Components (compose services, chart component labels) that write into the stores. */
export const WRITERS = ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server'] as const

export interface StoppedWriters {
  kind: 'compose' | 'k8s'
  at: string
  pid: number
  control: WriterControl
  /** compose: service names; k8s: "deployment/<name>" with the replicas it had. */
  stopped: { name: string; replicas?: number }[]
}

function readState(file: string): StoppedWriters | null {
  try { return JSON.parse(readFileSync(file, 'utf8')) as StoppedWriters } catch { return null }
}

async function start(ctx: Ctx, s: StoppedWriters): Promise<void> {
  if (!s.stopped.length) return
  if (s.kind === 'compose') {
    await ctx.exec([...s.control.compose!, 'start', ...s.stopped.map((w) => w.name)], { mutates: true, timeout: 600_000 })
  } else {
    for (const w of s.stopped) {
      await ctx.exec([...s.control.kubectl!, 'scale', w.name, '-n', s.control.namespace!, `--replicas=${w.replicas ?? 1}`], { mutates: true, timeout: 120_000 })
    }
  }
  ctx.log.info(`writers started again: ${s.stopped.map((w) => w.name).join(', ')}`)
}

/** A previous run was killed with the writers stopped: start them (the platform must not stay down). */
export async function resumeWriters(ctx: Ctx, stateFile: string): Promise<string[]> {
  const s = existsSync(stateFile) ? readState(stateFile) : null
  if (!s) return []
  ctx.log.warn(`an interrupted restore (pid ${s.pid}, ${s.at}) left writers stopped: starting ${s.stopped.map((w) => w.name).join(', ')}`)
  await start(ctx, s)
  if (!ctx.dryRun) unlinkSync(stateFile)
  return s.stopped.map((w) => w.name)
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
  const state: StoppedWriters = { kind: control.kind, at: new Date().toISOString(), pid: process.pid, control, stopped: [] }
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
