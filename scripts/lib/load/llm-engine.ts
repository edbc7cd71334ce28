// llm mode's engine: streaming chat completions through undici (a few hundred requests a second
// at most, so correctness of HTTP matters more than the last microsecond), each chunk timestamped
// as it arrives.
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { classifyError, type ErrorKind } from './records.ts'
import { cutAtDeadline, deadlineOf, drive, rng, type DriveResult, type LoadShape } from './schedule.ts'
import { monitorThread, type Counters, type ThreadSample } from './monitor.ts'
import { SseParser } from './sse.ts'
import type { Prompt } from './prompts.ts'

export type TtftMode = 'content' | 'first-chunk'

export interface LlmEngineOptions {
  url: URL
  headers: Record<string, string>
  model: string
  prompts: Prompt[]
  maxTokens: number
  /** Merged into every request body (e.g. {"temperature": 0, "ignore_eos": true}). */
  extraBody: Record<string, unknown>
  shape: LoadShape
  timeoutMs: number
  insecure: boolean
}

/** One request's story; times are ms since t0, durations ms. */
export interface LlmRecord {
  /** Intended send time. */
  start: number
  /** How long it waited for a free slot (open loop) or for the timer. */
  queue: number
  status: number
  error: ErrorKind | null
  detail?: string
  /** From the intended send time to the first chunk carrying content. */
  ttftContent: number | null
  /** From the intended send time to the first chunk of any kind (vLLM's variant). */
  ttftFirstChunk: number | null
  /** From the intended send time to the end of the stream. */
  e2e: number | null
  /** Arrival times (ms since t0) of the chunks carrying content. */
  contentTimes: number[]
  promptTokens: number | null
  completionTokens: number | null
  /** Input tokens as estimated before sending (used when the server sends no usage). */
  promptEstimate: number
  prompt: number
}

export interface LlmEngineResult {
  records: LlmRecord[]
  run: DriveResult
  thread: ThreadSample
  /** The unrecorded first request (as vLLM's "initial test run"): it warms the client and shows a broken endpoint early. */
  probe: LlmRecord | null
}

interface ChunkJson {
  error?: unknown
  choices?: { delta?: { content?: string | null; reasoning_content?: string | null }; text?: string }[]
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null
}

export async function runLlmEngine(o: LlmEngineOptions, hooks: { signal?: AbortSignal; counters?: Counters; probe?: boolean } = {}): Promise<LlmEngineResult> {
  const counters = hooks.counters ?? { done: 0, errors: 0, inflight: 0 }
  const agent = new Agent({
    connections: o.shape.concurrency,
    connect: { rejectUnauthorized: !o.insecure },
    headersTimeout: 0, // our own timeout covers the whole request
    bodyTimeout: 0,
  })
  const records: LlmRecord[] = []
  const random = rng(o.shape.seed + 1)
  const order = o.prompts.map((_, i) => i)
  for (let i = order.length - 1; i > 0; i--) { // Fisher-Yates, seeded
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  let nextPrompt = 0
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...o.headers }
  let t0 = 0

  // -z: what is in flight at the end of the window is cut there and counted as cancelled
  const deadline = deadlineOf(o.shape)
  const inflight = new Set<AbortController>()
  let cut = false
  let cancelled = 0

  let probe: LlmRecord | null = null
  const task = async (intended: number, measured: boolean, isProbe = false): Promise<void> => {
    const p = isProbe ? order[0]! : order[nextPrompt++ % order.length]!
    const prompt = o.prompts[p]!
    const body = JSON.stringify({
      model: o.model, messages: prompt.messages, max_tokens: o.maxTokens, stream: true,
      stream_options: { include_usage: true }, ...o.extraBody,
    })
    const sent = performance.now() - t0
    const rec: LlmRecord = {
      start: intended, queue: sent - intended, status: 0, error: null, ttftContent: null, ttftFirstChunk: null,
      e2e: null, contentTimes: [], promptTokens: null, completionTokens: null, promptEstimate: prompt.tokens, prompt: p,
    }
    counters.inflight++
    const abort = new AbortController()
    if (!isProbe) inflight.add(abort)
    let timedOut = false
    const timer = o.timeoutMs > 0 ? setTimeout(() => { timedOut = true; abort.abort() }, o.timeoutMs) : undefined
    try {
      let res: Awaited<ReturnType<typeof request>>
      for (let attempt = 0; ; attempt++) {
        try {
          res = await request(o.url, { method: 'POST', headers, body, dispatcher: agent, signal: abort.signal })
          break
        } catch (e) {
          // reset before any response byte: a keep-alive connection the server closed as it was reused
          // (NGINX's old workers close their idle ones on a graceful reload). Browsers send such a
          // request again once on a new connection; so do we. A second reset counts; one after the
          // headers (a stream cut in the middle) is never retried.
          if (attempt === 0 && !timedOut && classifyError(e) === 'reset') continue
          throw e
        }
      }
      rec.status = res.statusCode
      if (res.statusCode < 200 || res.statusCode >= 300) {
        rec.detail = (await res.body.text()).slice(0, 200)
      } else {
        const complete = await readStream(res.body, rec, t0)
        // an OpenAI stream ends with [DONE]: one that stops before it was cut (a proxy or server went away)
        if (rec.error === null && !complete && rec.contentTimes.length > 0) { rec.error = 'stream_cut'; rec.detail ??= `the stream ended after ${rec.contentTimes.length} token(s) without [DONE]` }
        if (rec.error === null && rec.contentTimes.length === 0) {
          rec.error = 'empty_response'
          const type = String(res.headers['content-type'] ?? '')
          if (!type.includes('text/event-stream')) rec.detail = `the response is ${type || 'untyped'}, not an event stream: does the endpoint honour "stream": true?`
        }
      }
    } catch (e) {
      rec.error = timedOut ? 'timeout' : classifyError(e)
      if (rec.error === 'other') rec.detail = (e as Error).message
    } finally {
      if (timer) clearTimeout(timer)
      inflight.delete(abort)
    }
    const end = performance.now() - t0
    if (rec.error === null && rec.status >= 200 && rec.status < 300) rec.e2e = end - intended
    counters.inflight--
    if (isProbe) { probe = rec; return }
    if (cut || end > deadline) { if (measured) cancelled++; return } // in flight at the deadline
    counters.done++
    if (rec.error !== null || rec.status < 200 || rec.status >= 300) counters.errors++
    if (measured) records.push(rec)
  }

  if (hooks.probe) {
    t0 = performance.now()
    await task(0, false, true)
  }
  const mon = monitorThread()
  let disarm = () => {}
  try {
    t0 = performance.now()
    disarm = cutAtDeadline(t0, deadline, () => { cut = true; for (const a of [...inflight]) a.abort() })
    const run = await drive(o.shape, task, { signal: hooks.signal, t0 })
    run.cancelled = cancelled
    return { records, run, thread: mon.stop(), probe }
  } finally {
    disarm()
    await agent.close().catch(() => {})
  }
}

/** Read an SSE answer into rec; true when it ended with [DONE]. */
async function readStream(body: AsyncIterable<Buffer>, rec: LlmRecord, t0: number): Promise<boolean> {
  const parser = new SseParser()
  let done = false
  const onEvent = (at: number) => (data: string) => {
    if (done) return
    rec.ttftFirstChunk ??= at - rec.start
    if (data.trim() === '[DONE]') { done = true; return }
    let chunk: ChunkJson
    try { chunk = JSON.parse(data) as ChunkJson } catch { rec.error ??= 'stream_error'; rec.detail ??= `not JSON: ${data.slice(0, 80)}`; return }
    if (chunk.error) { rec.error = 'stream_error'; rec.detail = JSON.stringify(chunk.error).slice(0, 200); return }
    const choice = chunk.choices?.[0]
    const text = choice?.delta?.content || choice?.delta?.reasoning_content || choice?.text
    if (text) {
      rec.ttftContent ??= at - rec.start
      rec.contentTimes.push(at)
    }
    if (chunk.usage) {
      if (typeof chunk.usage.prompt_tokens === 'number') rec.promptTokens = chunk.usage.prompt_tokens
      if (typeof chunk.usage.completion_tokens === 'number') rec.completionTokens = chunk.usage.completion_tokens
    }
  }
  for await (const bytes of body) {
    const at = performance.now() - t0
    parser.push(bytes, onEvent(at))
  }
  parser.end(onEvent(performance.now() - t0))
  return done
}
