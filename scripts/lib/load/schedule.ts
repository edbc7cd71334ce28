// When requests are sent. Closed loop: each of c workers sends its next request when the last
// one ended (as hey and wrk). Open loop (--rate): arrivals follow a clock, constant or Poisson,
// whatever the target does; an arrival that finds every connection busy waits in a queue, and its
// latency still counts from its intended send time, so a stall is not hidden (no coordinated omission).

export interface LoadShape {
  /** Connections (closed loop: workers; open loop: the cap of requests in flight). */
  concurrency: number
  /** Measured requests to send (-n); with durationMs absent the run ends after them. */
  requests?: number
  /** Measured duration (-z), after the warm-up. */
  durationMs?: number
  /** Open loop: arrivals per second over all connections (--rate). */
  rate?: number
  arrival: 'constant' | 'poisson'
  /** Closed loop: at most this many requests per second per worker (hey's -q). */
  qps?: number
  /** Load before the measured window; its requests are not recorded. */
  warmupMs: number
  seed: number
}

/** One request to send: its intended time (ms since t0) and whether it is measured. */
export type Task = (intended: number, measured: boolean) => Promise<void>

export interface DriveResult {
  /** performance.now() of the run's start; every time in the records is relative to it. */
  t0: number
  /** Wall clock (epoch ms, sub-ms precision: performance.timeOrigin based) at t0. */
  startedAt: number
  /** Start of the measured window (= the warm-up), ms since t0. */
  measureStart: number
  /** Measured arrivals still queued when the duration ended (open loop): never sent. */
  dropped: number
  /** Measured requests still in flight when the duration ended: cut there (filled by the engine), not in the records. */
  cancelled: number
  /** Whether the run was cut short (Ctrl-C). */
  interrupted: boolean
  /** Open loop: how late the arrival timer fired (ms), one sample a tick: the generator's own delay. */
  timerLag: number[]
}

/** Seeded PRNG (mulberry32): the same --seed gives the same Poisson arrivals and prompts. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/**
 * End of the measured window (ms since t0) for -z, else Infinity. The engines cut what is still in
 * flight there (cutAtDeadline), so a slow or hung answer never stretches the run past it.
 */
export const deadlineOf = (shape: LoadShape): number => shape.durationMs !== undefined ? shape.warmupMs + shape.durationMs : Infinity

/**
 * Call cut() once performance.now() - t0 has reached the deadline (timers may fire a little early:
 * re-armed until it has, so nothing the loop sends after the call can be measured). Returns the disarm.
 */
export function cutAtDeadline(t0: number, deadline: number, cut: () => void): () => void {
  if (deadline === Infinity) return () => {}
  let timer: NodeJS.Timeout | undefined
  const check = () => {
    const left = t0 + deadline - performance.now()
    if (left > 0) timer = setTimeout(check, Math.max(1, left))
    else { timer = undefined; cut() }
  }
  check()
  return () => { if (timer) clearTimeout(timer) }
}

/** The last stretch before an arrival is waited out with setImmediate, not a timer. */
const SPIN_MS = 1.5

export async function drive(shape: LoadShape, task: Task, o: { signal?: AbortSignal; t0?: number; startedAt?: number } = {}): Promise<DriveResult> {
  const t0 = o.t0 ?? performance.now()
  const result: DriveResult = {
    t0, startedAt: o.startedAt ?? performance.timeOrigin + t0, measureStart: shape.warmupMs, dropped: 0, cancelled: 0, interrupted: false, timerLag: [],
  }
  const stop = () => { result.interrupted = true }
  o.signal?.addEventListener('abort', stop, { once: true })
  try {
    if (shape.rate) await openLoop(shape, task, result, o.signal)
    else await closedLoop(shape, task, result, o.signal)
  } finally {
    o.signal?.removeEventListener('abort', stop)
  }
  return result
}

async function closedLoop(shape: LoadShape, task: Task, r: DriveResult, signal?: AbortSignal): Promise<void> {
  const endAt = shape.durationMs !== undefined ? r.measureStart + shape.durationMs : Infinity
  let issued = 0
  const next = (): { t: number; measured: boolean } | null => {
    if (signal?.aborted) return null
    const t = performance.now() - r.t0
    if (t >= endAt) return null
    const measured = t >= r.measureStart
    if (measured && shape.requests !== undefined) {
      if (issued >= shape.requests) return null
      issued++
    }
    return { t, measured }
  }
  const worker = async () => {
    let last = -Infinity
    for (;;) {
      if (shape.qps) {
        const wait = last + 1000 / shape.qps - (performance.now() - r.t0)
        if (wait > 0) await sleep(wait)
      }
      const n = next()
      if (!n) return
      last = n.t
      await task(n.t, n.measured)
    }
  }
  const workers = shape.requests !== undefined && shape.durationMs === undefined && !shape.warmupMs
    ? Math.min(shape.concurrency, shape.requests) : shape.concurrency
  await Promise.all(Array.from({ length: workers }, worker))
}

function openLoop(shape: LoadShape, task: Task, r: DriveResult, signal?: AbortSignal): Promise<void> {
  const interval = 1000 / shape.rate!
  const random = rng(shape.seed)
  const gap = () => shape.arrival === 'poisson' ? -Math.log(1 - random()) * interval : interval
  const endAt = shape.durationMs !== undefined ? r.measureStart + shape.durationMs : Infinity
  // A ring of queued arrivals: intended time, and the measured flag as the sign of the slot.
  let queue = new Float64Array(1024)
  let head = 0
  let size = 0
  let nextAt = 0
  let issued = 0
  let inflight = 0
  let generating = true
  return new Promise((resolve) => {
    const finishIfDone = () => { if (!generating && inflight === 0 && size === 0) resolve() }
    const onDone = () => { inflight--; pump(); finishIfDone() }
    const pump = () => {
      // a connection freed after the duration ended: what still waits is never sent
      if (size > 0 && performance.now() - r.t0 >= endAt) { r.dropped += size; size = 0; generating = false }
      while (inflight < shape.concurrency && size > 0) {
        const slot = queue[head]!
        head = (head + 1) % queue.length
        size--
        inflight++
        void task(Math.abs(slot) - 1, slot > 0).then(onDone, onDone)
      }
    }
    const enqueue = (t: number, measured: boolean) => {
      if (size === queue.length) {
        const bigger = new Float64Array(queue.length * 2)
        for (let i = 0; i < size; i++) bigger[i] = queue[(head + i) % queue.length]!
        queue = bigger
        head = 0
      }
      queue[(head + size) % queue.length] = measured ? t + 1 : -(t + 1)
      size++
    }
    const tick = () => {
      const now = performance.now() - r.t0
      if (generating && nextAt <= now && r.timerLag.length < 1_000_000) r.timerLag.push(now - nextAt)
      while (generating && nextAt <= now) {
        const measured = nextAt >= r.measureStart
        if (signal?.aborted || nextAt >= endAt || (measured && shape.requests !== undefined && issued >= shape.requests)) {
          generating = false
          if (nextAt >= endAt || signal?.aborted) { r.dropped += size; size = 0 } // the duration is over: never sent
          break
        }
        if (measured) issued++
        enqueue(nextAt, measured)
        nextAt += gap()
      }
      pump()
      if (!generating) return finishIfDone()
      // Node's timers have 1 ms granularity and every ms late counts against the latency:
      // sleep until just before the next arrival, then turn through the event loop (I/O still runs).
      const wait = nextAt - (performance.now() - r.t0)
      if (wait > SPIN_MS) setTimeout(tick, wait - SPIN_MS)
      else setImmediate(tick)
    }
    tick()
  })
}
