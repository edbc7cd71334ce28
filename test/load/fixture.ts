// Start the scripted load-test server (test/fixtures/load/server.ts) as its own process.
import { join } from 'node:path'
import { getPriority, setPriority } from 'node:os'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { startService, type Service } from '../helpers/service.ts'
import { freePort } from '../helpers/net.ts'

export interface Truth {
  http: { path: string; heldMs: number }[]
  sse: { ttftMs: number; gaps: number[]; tokens: number; chunks: number; promptTokens: number; prompt: number | null; arrivalEpoch: number; firstWriteEpoch: number }[]
}

export interface ScriptedServer {
  url: string
  svc: Service
  truth(): Promise<Truth>
  reset(): Promise<void>
  stop(): Promise<void>
}

export async function startScriptedServer(): Promise<ScriptedServer> {
  const port = await freePort()
  const svc = await startService({
    cmd: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'test/fixtures/load/server.ts'), String(port)],
    port,
    cwd: ROOT,
  })
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    svc,
    truth: async () => (await (await fetch(`${url}/_truth`)).json()) as Truth,
    reset: async () => { await (await fetch(`${url}/_reset`)).json() },
    stop: () => svc.stop(),
  }
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

/**
 * Raise the scheduling priority (nice -10) of the processes whose timing a test compares, for the
 * test's duration: work elsewhere on the machine then delays neither the client nor the server.
 * This is about the tool's accuracy, not the OS scheduler. Without the right to do so
 * (CAP_SYS_NICE), nothing changes and the tests rely on their retries. Returns the undo.
 */
export function preferTiming(pids: number[]): () => void {
  const before: [number, number][] = []
  for (const pid of pids) {
    try {
      const prio = getPriority(pid)
      setPriority(pid, Math.min(prio, -10))
      before.push([pid, prio])
    } catch { /* not permitted: run at normal priority */ }
  }
  return () => { for (const [pid, prio] of before) { try { setPriority(pid, prio) } catch { /* gone */ } } }
}
