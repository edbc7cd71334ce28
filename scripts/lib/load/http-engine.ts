// http mode's engine: c raw keep-alive connections driven by the scheduler, timeouts swept
// every few ms (one timer per request costs more than the request at 50k rps), every request recorded.
import { performance } from 'node:perf_hooks'
import { RawConnection, type Target } from './rawhttp.ts'
import { HttpRecords, errorCode, type RecordBuffers } from './records.ts'
import { cutAtDeadline, deadlineOf, drive, type DriveResult, type LoadShape } from './schedule.ts'
import { monitorThread, type Counters, type ThreadSample } from './monitor.ts'

export interface WireRequest {
  name: string
  /** The whole request, built once. */
  buf: Uint8Array
  /** HEAD: the response has no body whatever its headers say. */
  noBody: boolean
  weight: number
  /** Statuses that count as success; null: any 2xx. */
  expect: number[] | null
}

export interface EngineOptions {
  target: Target
  requests: WireRequest[]
  shape: LoadShape
  /** Per request, from its actual send; 0: none. */
  timeoutMs: number
  keepAlive: boolean
  /** Shared start (epoch ms, sub-ms precision) so worker threads record on one time base. */
  startEpoch?: number
}

export interface EngineResult {
  records: RecordBuffers
  run: DriveResult
  thread: ThreadSample
}

export const isSuccess = (expect: number[] | null, status: number): boolean =>
  expect ? expect.includes(status) : status >= 200 && status < 300

/** Smooth weighted round-robin (nginx's): exact proportions, spread out, no randomness. */
export function weightedPicker(weights: number[]): () => number {
  if (weights.length === 1) return () => 0
  const current = weights.map(() => 0)
  const total = weights.reduce((a, b) => a + b, 0)
  return () => {
    let best = 0
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!
      if (current[i]! > current[best]!) best = i
    }
    current[best]! -= total
    return best
  }
}

export async function runHttpEngine(o: EngineOptions, hooks: { signal?: AbortSignal; counters?: Counters } = {}): Promise<EngineResult> {
  const counters = hooks.counters ?? { done: 0, errors: 0, inflight: 0 }
  const records = new HttpRecords(o.shape.requests ? o.shape.requests + 64 : 65_536)
  const conns = Array.from({ length: o.shape.concurrency }, () => new RawConnection(o.target))
  const idle = [...conns]
  const sentAt = new Map<RawConnection, number>()
  const bufs = o.requests.map((r) => Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength))
  const pick = weightedPicker(o.requests.map((r) => r.weight))
  const t0 = o.startEpoch !== undefined ? o.startEpoch - performance.timeOrigin : performance.now()

  let sweeper: NodeJS.Timeout | undefined
  if (o.timeoutMs > 0) {
    sweeper = setInterval(() => {
      const limit = performance.now() - o.timeoutMs
      for (const [conn, at] of sentAt) if (at <= limit) conn.abort('timeout')
    }, Math.max(5, Math.min(100, o.timeoutMs / 10)))
  }

  // -z: what is in flight at the end of the window is cut there and counted as cancelled
  const deadline = deadlineOf(o.shape)
  let cut = false
  let cancelled = 0

  const task = async (intended: number, measured: boolean): Promise<void> => {
    const conn = idle.pop()!
    const i = pick()
    const req = o.requests[i]!
    const sent = performance.now()
    sentAt.set(conn, sent)
    counters.inflight++
    const res = await conn.request(bufs[i]!, req.noBody)
    const end = performance.now()
    sentAt.delete(conn)
    idle.push(conn)
    counters.inflight--
    if (cut || end - t0 > deadline) { if (measured) cancelled++; return } // in flight at the deadline
    counters.done++
    const ok = res.error === null && isSuccess(req.expect, res.status)
    if (!ok) counters.errors++
    if (measured) records.push(intended, end - t0 - intended, sent - t0 - intended, res.status, errorCode(res.error ?? 'none'), res.bytes, i)
  }

  const mon = monitorThread()
  const disarm = cutAtDeadline(t0, deadline, () => { cut = true; for (const conn of [...sentAt.keys()]) conn.abort('aborted') })
  try {
    const run = await drive(o.shape, task, { signal: hooks.signal, t0, startedAt: o.startEpoch !== undefined ? o.startEpoch : undefined })
    run.cancelled = cancelled
    return { records: records.toBuffers(), run, thread: mon.stop() }
  } finally {
    disarm()
    if (sweeper) clearInterval(sweeper)
    for (const c of conns) c.close()
  }
}
