// --workers N: the http engine on N threads, each with its share of the connections and the rate,
// all recording on one time base (a shared start epoch), merged into one set of records.
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'
import { KitError } from '../core/errors.ts'
import { HttpRecords } from './records.ts'
import type { EngineOptions, EngineResult } from './http-engine.ts'
import type { DriveResult } from './schedule.ts'
import type { Counters, ThreadSample } from './monitor.ts'
import type { ToWorker } from './http-worker.ts'

const require = createRequire(import.meta.url)

/** Split n into k near-equal integer parts. */
export function split(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0))
}

/** A worker that can load TypeScript: tsx's loader hooks are per thread on Node 20. */
function tsWorker(entry: URL, data: unknown): Worker {
  // tsx's ESM API entry (its package exports map "import" to this file, beside the CJS one).
  const api = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(boot, { eval: true, workerData: data })
}

export async function runHttpWorkers(o: EngineOptions, workers: number, hooks: { signal?: AbortSignal; counters: Counters }):
  Promise<{ records: HttpRecords; run: DriveResult; threads: ThreadSample[] }> {
  const conns = split(o.shape.concurrency, workers)
  const counts = o.shape.requests !== undefined ? split(o.shape.requests, workers) : null
  const parts: Counters[] = conns.map(() => ({ done: 0, errors: 0, inflight: 0 }))
  const sync = () => {
    hooks.counters.done = parts.reduce((s, p) => s + p.done, 0)
    hooks.counters.errors = parts.reduce((s, p) => s + p.errors, 0)
    hooks.counters.inflight = parts.reduce((s, p) => s + p.inflight, 0)
  }
  const entry = new URL('./http-worker.ts', import.meta.url)
  const pool = conns.map((c, i) => tsWorker(entry, {
    ...o,
    shape: { ...o.shape, concurrency: c, requests: counts?.[i], rate: o.shape.rate ? (o.shape.rate * c) / o.shape.concurrency : undefined, seed: o.shape.seed + i },
  } satisfies EngineOptions))
  const stop = () => { for (const w of pool) w.postMessage({ type: 'stop' } satisfies ToWorker) }
  hooks.signal?.addEventListener('abort', stop, { once: true })
  try {
    const ready = pool.map((w) => new Promise<void>((resolve, reject) => {
      w.once('error', reject)
      w.on('message', (m: { type: string }) => { if (m.type === 'ready') resolve() })
    }))
    await Promise.all(ready)
    const startEpoch = performance.timeOrigin + performance.now() + 20
    const done = pool.map((w, i) => new Promise<EngineResult>((resolve, reject) => {
      w.on('error', reject)
      w.on('exit', (code) => reject(new KitError(`load worker ${i + 1} exited (code ${code}) before reporting`)))
      w.on('message', (m: { type: string; counters?: Counters; result?: EngineResult; message?: string }) => {
        if (m.type === 'progress') { parts[i] = m.counters!; sync() }
        else if (m.type === 'done') resolve(m.result!)
        else if (m.type === 'error') reject(new KitError(`load worker ${i + 1} failed: ${m.message}`))
      })
      w.postMessage({ type: 'go', startEpoch } satisfies ToWorker)
    }))
    const results = await Promise.all(done)
    const first = results[0]!.run
    return {
      records: HttpRecords.fromBuffers(results.map((r) => r.records)),
      run: {
        ...first,
        dropped: results.reduce((s, r) => s + r.run.dropped, 0),
        cancelled: results.reduce((s, r) => s + r.run.cancelled, 0),
        interrupted: results.some((r) => r.run.interrupted),
        timerLag: results.flatMap((r) => r.run.timerLag),
      },
      threads: results.map((r) => r.thread),
    }
  } finally {
    hooks.signal?.removeEventListener('abort', stop)
    await Promise.all(pool.map((w) => w.terminate()))
  }
}
