// Entry of an http-mode worker thread: runs the engine on its share of the connections, streams
// progress counters, hands back its records as transferable buffers.
import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { runHttpEngine, type EngineOptions } from './http-engine.ts'

export type ToWorker = { type: 'go'; startEpoch: number } | { type: 'stop' }

const port = parentPort!
const counters = { done: 0, errors: 0, inflight: 0 }
const abort = new AbortController()

port.on('message', (m: ToWorker) => {
  if (m.type === 'stop') abort.abort()
  else void go(m.startEpoch)
})

async function go(startEpoch: number): Promise<void> {
  const wait = startEpoch - (performance.timeOrigin + performance.now())
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  const progress = setInterval(() => port.postMessage({ type: 'progress', counters }), 200)
  try {
    const res = await runHttpEngine({ ...(workerData as EngineOptions), startEpoch }, { signal: abort.signal, counters })
    const buffers = Object.values(res.records).filter((v): v is ArrayBuffer => v instanceof ArrayBuffer)
    port.postMessage({ type: 'done', result: res }, buffers)
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) })
  } finally {
    clearInterval(progress)
  }
}

port.postMessage({ type: 'ready' })
