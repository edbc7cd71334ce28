// FAKE LightLLM: the OpenAI-compatible surface of `python -m lightllm.server.api_server`
// (/health, /v1/models, /v1/chat/completions with SSE streaming and usage, /metrics with the
// lightllm_* series of lightllm/server/metrics/metrics.py). Tokens are generated on a timer.
import { randomUUID } from 'node:crypto'
import { basename } from 'node:path'
import { parseFlags, serve, json, readJson, Registry, processMetrics, text, log, sleep } from './common.mjs'

const WORDS = 'the platform answers from a fake language model so the whole stack can be tested end to end'.split(' ')

/** ~4 characters a token, like the usual BPE rule of thumb. */
export function countTokens(messages) {
  const chars = (messages ?? []).reduce((n, m) => n + String(typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '')).length, 0)
  return Math.max(1, Math.ceil(chars / 4))
}

export function start(argv = process.argv.slice(2), env = process.env) {
  const flags = parseFlags(argv)
  const port = Number(flags.port ?? 8000)
  const host = String(process.env.FAKE_BIND || flags.host || '127.0.0.1')
  const model = String(flags.model_name ?? (flags.model_dir ? basename(String(flags.model_dir)) : 'default_model_name'))
  const maxTotal = Number(flags.max_req_total_len ?? 16384)
  const ttftMs = Number(env.FAKE_LLM_TTFT_MS ?? 20)
  const tokenMs = Number(env.FAKE_LLM_TOKEN_DELAY_MS ?? 5)
  const reg = new Registry()
  const dur = []
  for (let v = 0.001, i = 0; i < 35; i++) { v *= 1.5; dur.push(Number(v.toPrecision(6))) }
  const lenBuckets = Array.from({ length: 20 }, (_, i) => Math.round((maxTotal / 20) * (i + 1)))
  const m = {
    count: reg.counter('lightllm_request_count', 'The total number of requests'),
    success: reg.counter('lightllm_request_success', 'The number of successful requests'),
    failure: reg.counter('lightllm_request_failure', 'The number of failed requests'),
    duration: reg.histogram('lightllm_request_duration', 'Duration of the request', dur),
    validation: reg.histogram('lightllm_request_validation_duration', 'Validation time of the request', dur),
    inference: reg.histogram('lightllm_request_inference_duration', 'Inference time of the request', dur),
    tpot: reg.histogram('lightllm_request_mean_time_per_token_duration', 'Per token time of the request', dur),
    ttft: reg.histogram('lightllm_request_first_token_duration', 'First token time of the request', dur),
    input: reg.histogram('lightllm_request_input_length', 'Length of the input tokens', lenBuckets),
    generated: reg.histogram('lightllm_request_generated_tokens', 'Number of generated tokens', lenBuckets),
    maxNew: reg.histogram('lightllm_request_max_new_tokens', 'Max new token', lenBuckets),
    queue: reg.gauge('lightllm_queue_size', 'Queue size'),
    batch: reg.gauge('lightllm_batch_current_size', 'Current batch size'),
    pause: reg.gauge('lightllm_batch_pause_size', 'The number of pause requests'),
  }
  for (const c of [m.count, m.success, m.failure]) c.touch()
  for (const h of [m.duration, m.validation, m.inference, m.tpot, m.ttft, m.input, m.generated, m.maxNew]) h.touch()
  m.queue.set(0); m.batch.set(0); m.pause.set(0)
  let running = 0

  async function chat(req, res) {
    const started = performance.now()
    m.count.inc()
    let body
    try { body = await readJson(req) } catch (e) { m.failure.inc(); throw e }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      m.failure.inc()
      return json(res, 400, { object: 'error', message: 'messages must be a non-empty list', type: 'invalid_request_error' })
    }
    const promptTokens = countTokens(body.messages)
    const maxTokens = Math.max(1, Math.min(Number(body.max_tokens ?? body.max_completion_tokens ?? 16), maxTotal - promptTokens))
    m.validation.observe((performance.now() - started) / 1000)
    m.input.observe(promptTokens); m.maxNew.observe(maxTokens)
    running++; m.batch.set(running)
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`
    const created = Math.floor(Date.now() / 1000)
    const usage = { prompt_tokens: promptTokens, completion_tokens: maxTokens, total_tokens: promptTokens + maxTokens }
    let aborted = false
    res.on('close', () => { if (!res.writableFinished) aborted = true })
    try {
      await sleep(ttftMs)
      const firstAt = performance.now()
      m.ttft.observe((firstAt - started) / 1000)
      const tokens = []
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
        const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`)
        const chunk = (delta, finish = null) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })
        send(chunk({ role: 'assistant', content: '' }))
        for (let i = 0; i < maxTokens && !aborted; i++) {
          if (i > 0) await sleep(tokenMs)
          const tok = `${i ? ' ' : ''}${WORDS[i % WORDS.length]}`
          tokens.push(tok)
          send(chunk({ content: tok }))
        }
        if (aborted) throw Object.assign(new Error('client went away'), { status: 499 })
        send(chunk({}, 'length'))
        if (body.stream_options?.include_usage) send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })
        res.end('data: [DONE]\n\n')
      } else {
        for (let i = 1; i < maxTokens; i++) await sleep(tokenMs)
        for (let i = 0; i < maxTokens; i++) tokens.push(`${i ? ' ' : ''}${WORDS[i % WORDS.length]}`)
        json(res, 200, {
          id, object: 'chat.completion', created, model, usage,
          choices: [{ index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: 'length' }],
        })
      }
      const end = performance.now()
      m.success.inc()
      m.duration.observe((end - started) / 1000)
      m.inference.observe((end - firstAt) / 1000)
      m.generated.observe(maxTokens)
      if (maxTokens > 1) m.tpot.observe((end - firstAt) / 1000 / (maxTokens - 1))
    } catch (e) {
      m.failure.inc()
      throw e
    } finally {
      running--; m.batch.set(running)
    }
  }

  const server = serve('lightllm', port, async (req, res, url) => {
    const p = url.pathname
    if (req.method === 'GET' && (p === '/health' || p === '/healthz')) return json(res, 200, { message: 'Ok' })
    if (req.method === 'GET' && p === '/metrics') return text(res, 200, reg.render() + processMetrics(), 'text/plain; version=0.0.4; charset=utf-8')
    if (req.method === 'GET' && p === '/v1/models') {
      return json(res, 200, { object: 'list', data: [{ id: model, object: 'model', created: 0, owned_by: 'lightllm', max_model_len: maxTotal }] })
    }
    if (req.method === 'POST' && p === '/v1/chat/completions') return chat(req, res)
    return false
  }, { host })
  log('lightllm', `FAKE serving model "${model}" (ttft ${ttftMs}ms, ${tokenMs}ms a token)`)
  return [server]
}
