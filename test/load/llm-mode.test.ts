// llm mode against a scripted OpenAI-compatible SSE server with known per-token delays.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../helpers/tmp.ts'
import { startScriptedServer, median, mean, preferTiming, type ScriptedServer } from './fixture.ts'
import { runLoad } from './run-load.ts'
import type { SseScript } from '../fixtures/load/server.ts'

let srv: ScriptedServer
const tmp = tmpDir('owp-load-llm-')
let restorePriority = () => {}
beforeAll(async () => { srv = await startScriptedServer(); restorePriority = preferTiming([process.pid, srv.svc.pid]) })
afterAll(async () => { restorePriority(); await srv?.stop(); tmp.remove() })

/** What the server did for the measured requests: the first one it served is the unrecorded probe. */
async function measuredTruth() {
  const t = await srv.truth()
  return t.sse.slice(1)
}

const script = (s: Partial<SseScript>) => ['--extra-body', JSON.stringify({ script: { ttft_ms: 60, itl_ms: 15, tokens: 12, ...s } })]
const llm = (...args: string[]) => runLoad(['--mode', 'llm', '--model', 'test-model', '--input-tokens', '64', ...args, `${srv.url}/v1/chat/completions`])

// Accuracy against the server's own record of when it wrote each chunk; contention from other
// suites only adds error, so these retry (a bias in the tool fails every attempt).
const ACCURACY = { retry: 2 }

describe.each([[1, 6], [16, 32]])('TTFT and ITL at concurrency %i', (c, n) => {
  it('are within 2 ms of what the server did', ACCURACY, async () => {
    await srv.reset()
    const csv = join(tmp.path, `ttft-${c}.csv`)
    const r = await llm('-c', String(c), '-n', String(n), '--csv', csv, ...script({}))
    const s = r.llm()
    const truth = await measuredTruth()
    expect(truth).toHaveLength(n)
    expect(s.requests).toMatchObject({ total: n, ok: n, failed: 0 })
    expect(median(truth.map((t) => t.ttftMs))).toBeGreaterThanOrEqual(58) // the fixture keeps its script
    // TTFT: each request against the moment the server wrote its first content chunk, on the
    // shared wall clock; what is left is the client's own delay in noticing it.
    const rows = readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','))
    const late = rows.map((row) => {
      const prompt = Number(row[2]!.replace('prompt-', '')) - 1
      const server = truth.filter((t) => t.prompt === prompt).pop()!
      const sent = s.t0_epoch_ms + Number(row[3])
      return Number(row[6]) - (server.firstWriteEpoch - sent)
    })
    expect(late).toHaveLength(n)
    expect(Math.min(...late)).toBeGreaterThan(-0.5) // never before the server wrote it
    expect(median(late), `client delay after the server's write; generator loop lag p99 ${s.generator.loop_lag_p99_ms} ms`).toBeLessThan(2)
    // ITL: the gaps the client saw against the gaps between the server's writes.
    const gaps = truth.flatMap((t) => t.gaps)
    expect(s.itl!.count).toBe(gaps.length)
    expect(Math.abs(s.itl!.p50 - median(gaps))).toBeLessThan(2)
    expect(Math.abs(s.itl!.mean - mean(gaps))).toBeLessThan(2)
    // One token a chunk: TPOT is the mean gap of each request.
    expect(Math.abs(s.tpot!.p50 - median(truth.map((t) => mean(t.gaps))))).toBeLessThan(2)
    expect(s.e2e!.p50).toBeGreaterThan(s.ttft!.p50 + 10 * 14)
  })
})

describe('token counts', () => {
  it('come from usage when the server sends it', async () => {
    await srv.reset()
    const s = (await llm('-c', '2', '-n', '4', ...script({ ttft_ms: 5, itl_ms: 2, tokens: 9 }))).llm()
    const truth = { sse: await measuredTruth() }
    expect(s.tokens).toEqual({ input: truth.sse.reduce((a, t) => a + t.promptTokens, 0), output: 36, input_estimated: false, output_estimated: false, requests_without_usage: 0 })
  })

  it('are counted from content chunks, flagged estimated, without usage', async () => {
    const r = await llm('-c', '2', '-n', '4', ...script({ ttft_ms: 5, itl_ms: 2, tokens: 9, usage: false }))
    const s = r.llm()
    expect(s.tokens).toMatchObject({ output: 36, output_estimated: true, input_estimated: true, requests_without_usage: 4 })
    expect(s.tokens.input).toBe(4 * 64) // the generated prompts' target length
    expect(r.text).toMatch(/output 36 \(estimated\)/)
    expect(r.text).toMatch(/TPOT {2}time per output token, per request: \(last content chunk - first content chunk\) \//) // the report defines its metrics
  })

  it('with several tokens a chunk, TPOT is per token while ITL stays the chunk gap', async () => {
    await srv.reset()
    const s = (await llm('-c', '2', '-n', '4', ...script({ ttft_ms: 5, itl_ms: 20, tokens: 16, per_chunk: 4 }))).llm()
    const truth = { sse: await measuredTruth() }
    const perRequest = truth.sse.map((t) => t.gaps.reduce((a, b) => a + b, 0) / 15)
    expect(s.tokens.output).toBe(64)
    expect(Math.abs(s.itl!.p50 - median(truth.sse.flatMap((t) => t.gaps)))).toBeLessThan(3)
    expect(Math.abs(s.tpot!.p50 - median(perRequest))).toBeLessThan(1) // ~60 ms / 15 = 4 ms, not 20
  })

  it('without usage and several tokens a chunk, counts chunks and says so', async () => {
    const s = (await llm('-c', '1', '-n', '2', ...script({ ttft_ms: 5, itl_ms: 2, tokens: 16, per_chunk: 4, usage: false }))).llm()
    expect(s.tokens).toMatchObject({ output: 8, output_estimated: true })
  })
})

describe('definitions and modes', () => {
  it('--ttft first-chunk counts the empty role chunk (vLLM variant); the default waits for content', async () => {
    const first = (await llm('-c', '1', '-n', '2', '--ttft', 'first-chunk', ...script({ ttft_ms: 80, itl_ms: 2, tokens: 3 }))).llm()
    const content = (await llm('-c', '1', '-n', '2', ...script({ ttft_ms: 80, itl_ms: 2, tokens: 3 }))).llm()
    expect(first.ttft_definition).toBe('first-chunk')
    expect(first.ttft!.p50).toBeLessThan(40)
    expect(content.ttft!.p50).toBeGreaterThanOrEqual(78)
  })

  it('sends Poisson arrivals at --rate and reports request and token throughput', async () => {
    const s = (await llm('--rate', '40', '-c', '8', '-n', '20', ...script({ ttft_ms: 5, itl_ms: 2, tokens: 4 }))).llm()
    expect(s.load).toMatchObject({ loop: 'open', rate: 40, arrival: 'poisson', requests: 20 })
    expect(s.requests.ok).toBe(20)
    expect(s.request_throughput).toBeGreaterThan(10)
    expect(s.output_tps).toBeCloseTo(s.request_throughput * 4, 0)
  })

  it('counts goodput against per-request bounds', async () => {
    const ok = (await llm('-c', '2', '-n', '4', '--goodput', 'ttft<1s', '--goodput', 'tpot<100ms', ...script({ ttft_ms: 5, itl_ms: 2, tokens: 4 }))).llm()
    expect(ok.goodput).toMatchObject({ criteria: { ttft_ms: 1000, tpot_ms: 100 }, good: 4, ratio: 1 })
    const none = await llm('-c', '2', '-n', '4', '--slo', 'ttft_p50<1ms', '--slo', 'goodput_ratio>50%', ...script({ ttft_ms: 20, itl_ms: 2, tokens: 4 }))
    expect(none.llm().goodput).toMatchObject({ criteria: { ttft_ms: 1 }, good: 0, ratio: 0 })
    expect(none.exitCode).toBe(1)
    expect(none.doc.slo.map((g) => [g.gate, g.pass])).toEqual([['ttft_p50<1ms', false], ['goodput_ratio>50%', false]])
  })

  it('asks the models endpoint when --model is not given', async () => {
    const r = await runLoad(['--mode', 'llm', '-n', '1', ...script({ ttft_ms: 1, itl_ms: 1, tokens: 2 }), `${srv.url}/v1/chat/completions`])
    expect(r.llm().model).toBe('test-model')
  })
})

describe('llm failures', () => {
  it('counts error statuses, error events in the stream and timeouts by kind', async () => {
    const status = (await llm('-c', '2', '-n', '4', ...script({ status: 503 }))).llm()
    expect(status.errors).toEqual({ http_503: 4 })
    expect(status.error_details.http_503).toContain('scripted 503')
    expect(status.requests).toMatchObject({ failed: 4, unexpected_status: 4 })
    const stream = (await llm('-c', '2', '-n', '4', ...script({ ttft_ms: 1, itl_ms: 1, error_after: 2 }))).llm()
    expect(stream.errors).toEqual({ stream_error: 4 })
    expect(stream.error_details.stream_error).toContain('scripted failure')
    // a stream that ends cleanly but before [DONE] was cut (an upgrade that stopped its server too early)
    const cut = (await llm('-c', '2', '-n', '4', ...script({ ttft_ms: 1, itl_ms: 1, cut_after: 3 }))).llm()
    expect(cut.errors).toEqual({ stream_cut: 4 })
    expect(cut.error_details.stream_cut).toBe('the stream ended after 3 token(s) without [DONE]')
    const timeout = (await llm('-c', '2', '-n', '2', '-t', '0.2', ...script({ ttft_ms: 2000 }))).llm()
    expect(timeout.errors).toEqual({ timeout: 2 })
    expect(timeout.requests.timeouts).toBe(2)
  })

  it("uses the API key for Open WebUI's /api/chat/completions and never prints it", async () => {
    const key = 'sk-test-owui-0123456789'
    const base = ['--mode', 'llm', '--model', 'test-model', '-c', '1', '-n', '2', ...script({ ttft_ms: 1, itl_ms: 1, tokens: 2 }), '--base-url', srv.url, '--path', '/api/chat/completions']
    const denied = await runLoad(base)
    expect(denied.llm().errors).toEqual({ http_401: 2 })
    const allowed = await runLoad([...base, '--api-key', key])
    expect(allowed.llm().requests.ok).toBe(2)
    const viaEnv = await runLoad(base, { LOADTEST_API_KEY: key })
    expect(viaEnv.llm().requests.ok).toBe(2)
    for (const out of [JSON.stringify(allowed.doc), allowed.text, allowed.ctx.stderr(), allowed.ctx.secrets.mask(`key ${key}`)]) expect(out).not.toContain(key)
    // A key in ./.env belongs to the deployment (the profile uses it); a URL typed by hand never gets it.
    const dir = join(tmp.path, 'with-env')
    mkdirSync(dir)
    writeFileSync(join(dir, '.env'), `LOADTEST_API_KEY=${key}\n`)
    const adHoc = await runLoad(base, { LOADTEST_API_KEY: '' }, { cwd: dir })
    expect(adHoc.llm().errors).toEqual({ http_401: 2 })
  })
})
