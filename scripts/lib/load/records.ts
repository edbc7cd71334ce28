// Exact per-request recording in growable typed arrays (~27 bytes a request): percentiles are
// computed from every sample, not from buckets, and the same rows feed --csv and the timeline.

/** Why a request got no usable response. 0 is "none" (a response arrived; its status decides). */
export const ERROR_KINDS = [
  'none', 'timeout', 'connect_refused', 'connect_timeout', 'connect_error', 'dns', 'reset', 'closed',
  'tls', 'parse', 'stream_error', 'empty_response', 'aborted', 'other',
  // an LLM stream that ended before its [DONE] (a proxy or server cut it)
  'stream_cut',
] as const
export type ErrorKind = (typeof ERROR_KINDS)[number]
export const errorCode = (k: ErrorKind): number => ERROR_KINDS.indexOf(k)

/** Map a Node/undici error to a kind. */
export function classifyError(e: unknown): ErrorKind {
  const err = e as { code?: string; name?: string; message?: string; cause?: unknown }
  // a DOMException (an AbortError) carries a numeric code: only string codes name the cause
  const raw: unknown = err?.code ?? (err?.cause as { code?: unknown } | undefined)?.code
  const code = typeof raw === 'string' ? raw : ''
  const msg = String(err?.message ?? '')
  if (code === 'ECONNREFUSED') return 'connect_refused'
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'connect_timeout'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns'
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return 'reset'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || err?.name === 'TimeoutError') return 'timeout'
  if (code.startsWith('ERR_TLS') || /certificate|self[- ]signed|SSL|TLS/i.test(`${code} ${msg}`)) return 'tls'
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return 'connect_error'
  if (err?.name === 'AbortError' || code === 'ABORT_ERR') return 'aborted'
  if (code === 'HPE_INVALID_CONSTANT' || code.startsWith('HPE_')) return 'parse'
  return 'other'
}

const COLUMNS = {
  start: Float64Array, // intended send time, ms since the run's t0
  latency: Float64Array, // ms from the intended send time to the last response byte
  lag: Float32Array, // ms the send was late against the intended time (queueing, timers)
  status: Uint16Array, // 0: no response
  error: Uint8Array, // ERROR_KINDS index
  bytes: Uint32Array, // response bytes (head and body)
  req: Uint16Array, // index of the scenario request
} as const

type Columns = { -readonly [K in keyof typeof COLUMNS]: InstanceType<(typeof COLUMNS)[K]> }
export type RecordBuffers = { n: number } & { -readonly [K in keyof typeof COLUMNS]: ArrayBuffer }

export class HttpRecords {
  n = 0
  cols: Columns

  constructor(capacity = 4096) {
    this.cols = Object.fromEntries(Object.entries(COLUMNS).map(([k, T]) => [k, new T(capacity)])) as unknown as Columns
  }

  push(start: number, latency: number, lag: number, status: number, error: number, bytes: number, req: number): void {
    if (this.n === this.cols.start.length) this.grow()
    const i = this.n++
    const c = this.cols
    c.start[i] = start; c.latency[i] = latency; c.lag[i] = lag; c.status[i] = status
    c.error[i] = error; c.bytes[i] = Math.min(bytes, 0xffffffff); c.req[i] = req
  }

  private grow(): void {
    const size = this.cols.start.length * 2
    for (const k of Object.keys(COLUMNS) as (keyof Columns)[]) {
      const T = COLUMNS[k]
      const next = new T(size)
      next.set(this.cols[k] as never)
      ;(this.cols as Record<string, unknown>)[k] = next
    }
  }

  /** Trimmed copies of the columns as transferable buffers (worker threads). */
  toBuffers(): RecordBuffers {
    const out = { n: this.n } as RecordBuffers
    for (const k of Object.keys(COLUMNS) as (keyof Columns)[]) {
      out[k] = this.cols[k].slice(0, this.n).buffer as ArrayBuffer
    }
    return out
  }

  static fromBuffers(parts: RecordBuffers[]): HttpRecords {
    const total = parts.reduce((s, p) => s + p.n, 0)
    const rec = new HttpRecords(Math.max(total, 1))
    for (const k of Object.keys(COLUMNS) as (keyof Columns)[]) {
      const T = COLUMNS[k]
      let at = 0
      for (const p of parts) {
        const col: { set(a: ArrayLike<number>, at: number): void } = rec.cols[k]
        col.set(new T(p[k]), at)
        at += p.n
      }
    }
    rec.n = total
    return rec
  }
}
