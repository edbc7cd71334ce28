// Is the generator the bottleneck? Its CPU use, event-loop utilisation and event-loop lag,
// sampled over the run; and a progress line on a terminal.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fmtNum } from './units.ts'

export interface ThreadSample {
  /** Share of the time the event loop was busy (0..1). */
  elu: number
  lagP99Ms: number
  lagMaxMs: number
}

/** Measure the calling thread's event loop until stop(). */
export function monitorThread(): { stop(): ThreadSample } {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  const elu0 = performance.eventLoopUtilization()
  return {
    stop() {
      h.disable()
      const elu = performance.eventLoopUtilization(elu0)
      const ns = (v: number) => (Number.isFinite(v) ? Math.max(0, v / 1e6 - 10) : 0) // minus the sampling interval
      return { elu: Math.round(elu.utilization * 1000) / 1000, lagP99Ms: Math.round(ns(h.percentile(99)) * 10) / 10, lagMaxMs: Math.round(ns(h.max) * 10) / 10 }
    },
  }
}

export interface GeneratorStats {
  /** Process CPU (all threads) as a share of one core: 1.0 = one core fully used. */
  cpu: number
  threads: number
  /** Busiest thread's event-loop utilisation. */
  elu: number
  loop_lag_p99_ms: number
  loop_lag_max_ms: number
  /** p99 of how late sends were against their intended time, when a connection was free (open loop). */
  send_lag_p99_ms: number | null
  bottleneck: boolean
  warnings: string[]
}

/** Process CPU over a span; call the returned function at the end. */
export function cpuMeter(): () => number {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  return () => {
    const c = process.cpuUsage(c0)
    const wallUs = (performance.now() - t0) * 1000
    return wallUs > 0 ? Math.round(((c.user + c.system) / wallUs) * 100) / 100 : 0
  }
}

/** Shorter runs are all start-up (connecting, compiling): their utilisation says nothing. */
export const JUDGE_AFTER_MS = 1000

export function judgeGenerator(cpu: number, threads: ThreadSample[], sendLagP99: number | null, cores: number, runMs = Infinity): GeneratorStats {
  const elu = Math.max(0, ...threads.map((t) => t.elu))
  const lagP99 = Math.max(0, ...threads.map((t) => t.lagP99Ms))
  const lagMax = Math.max(0, ...threads.map((t) => t.lagMaxMs))
  const warnings: string[] = []
  const judge = runMs >= JUDGE_AFTER_MS
  if (judge && elu >= 0.9) {
    warnings.push(`the load generator's event loop was busy ${Math.round(elu * 100)}% of the time: the numbers may measure the generator, not the target`
      + (threads.length < cores ? ` (try --workers ${Math.min(cores, threads.length * 2)}; this machine has ${cores} cores)` : ''))
  }
  if (judge && lagP99 >= 20) warnings.push(`event-loop lag p99 ${lagP99}ms: timings carry up to that much generator delay`)
  if (sendLagP99 !== null && sendLagP99 >= 5) warnings.push(`sends were late by ${sendLagP99}ms (p99) with a connection free: the generator could not keep the rate`)
  return {
    cpu, threads: threads.length, elu, loop_lag_p99_ms: lagP99, loop_lag_max_ms: lagMax,
    send_lag_p99_ms: sendLagP99, bottleneck: warnings.length > 0, warnings,
  }
}

export interface Counters { done: number; errors: number; inflight: number }

/** Every everyMs: "4.0s  done 12,345  rps 3,086  errors 0  in flight 50" to show(). Returns stop. */
export function progressTicker(read: () => Counters, show: (line: string) => void, everyMs = 1000): () => void {
  const t0 = performance.now()
  let last = { t: t0, done: 0 }
  const timer = setInterval(() => {
    const now = performance.now()
    const c = read()
    const rps = ((c.done - last.done) * 1000) / (now - last.t)
    last = { t: now, done: c.done }
    show(`${((now - t0) / 1000).toFixed(1)}s  done ${fmtNum(c.done)}  rps ${fmtNum(rps)}  errors ${fmtNum(c.errors)}  in flight ${c.inflight}`)
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}

/** The progress on its own terminal line, redrawn in place and cleared at the end. */
export function progressLine(stream: NodeJS.WriteStream | NodeJS.WritableStream, label: string, read: () => Counters, everyMs = 1000): () => void {
  const stop = progressTicker(read, (line) => stream.write(`\r\x1b[2K${label}  ${line}`), everyMs)
  return () => { stop(); stream.write('\r\x1b[2K') }
}
