// -z D stops at D (issue 17): a server that answers the first few requests and then never again
// holds every connection at D; the run must end there, count those as cancelled (not as requests,
// not as failures), and report throughput over the window D. No timing is asserted: with -t 0 a run
// that waited for its in-flight requests would never end (the test's timeout), and the counts hold
// however slow the machine is (the few answered requests only need to be served within D).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { execFile } from 'node:child_process'
import { startScriptedServer, type ScriptedServer } from './fixture.ts'
import { runLoad } from './run-load.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'

let srv: ScriptedServer
beforeAll(async () => { srv = await startScriptedServer() })
afterAll(async () => { await srv?.stop() })

const T = { timeout: 60_000 }

describe('-z D ends the run at D, whatever is still in flight', () => {
  it('closed loop: the hung requests are cancelled at D, throughput is over D', T, async () => {
    await srv.reset()
    const r = await runLoad(['-c', '3', '-z', '2s', '-t', '0', `${srv.url}/hang-after/5?k=closed`])
    const s = r.http()
    expect(s.requests).toMatchObject({ total: 5, ok: 5, failed: 0, cancelled: 3, dropped: 0 })
    expect(s.duration_s).toBe(2)
    expect(s.rps).toBe(2.5)
    expect(s.ok_rps).toBe(2.5)
    expect(r.exitCode).toBe(0) // cancelled at the deadline is not a failure of the target
    expect(r.text).toMatch(/3 requests still in flight when -z ended were cancelled/)
  })

  it('open loop: queued arrivals are dropped and the busy connections cancelled at D', T, async () => {
    await srv.reset()
    const s = (await runLoad(['--rate', '20', '-c', '4', '-z', '1s', '-t', '0', `${srv.url}/hang-after/3?k=open`])).http()
    expect(s.requests).toMatchObject({ total: 3, ok: 3, cancelled: 4 })
    expect(s.requests.total + s.requests.cancelled + s.requests.dropped).toBe(20) // every arrival of the window, once
    expect(s.duration_s).toBe(1)
    expect(s.rps).toBe(3)
  })

  it('worker threads cut at the same deadline and add up', T, async () => {
    await srv.reset()
    const s = (await runLoad(['--workers', '2', '-c', '4', '-z', '1.5s', '-t', '0', `${srv.url}/hang-after/4?k=workers`])).http()
    expect(s.requests).toMatchObject({ total: 4, ok: 4, cancelled: 4 })
    expect(s.duration_s).toBe(1.5)
  })

  it('llm mode: streams in flight at D are cancelled, request throughput is over D', T, async () => {
    await srv.reset()
    // the server streams the probe and three measured requests, then holds every later one
    const body = JSON.stringify({ script: { ttft_ms: 1, itl_ms: 1, tokens: 2, hang_after: 4 } })
    const r = await runLoad(['--mode', 'llm', '--model', 'test-model', '-c', '2', '-z', '1.5s', '-t', '0', '--extra-body', body, `${srv.url}/v1/chat/completions`])
    const s = r.llm()
    expect(s.requests).toMatchObject({ total: 3, ok: 3, failed: 0, cancelled: 2 })
    expect(s.duration_s).toBe(1.5)
    expect(s.request_throughput).toBe(2)
  })
})

describe('make load-test ARGS=URL', () => {
  it('runs the default profile against the URL given (no .env needed, the llm phase skipped without a key)', T, async () => {
    await srv.reset()
    // -o: never let make think node_modules needs `npm ci` (the checkout shares it)
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('make', ['-s', '-o', 'node_modules/.stamp', 'load-test', `ARGS=${srv.url} --json`], {
        cwd: ROOT, env: { ...process.env, LOADTEST_API_KEY: '', NO_COLOR: '1' }, timeout: 50_000,
      }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }))
    })
    expect(r.stderr).not.toMatch(/not an argument/)
    expect(r.code, r.stderr).toBe(0)
    const doc = JSON.parse(r.stdout) as { phases: { name: string; target: string; requests: { ok: number } }[]; skipped: { name: string }[] }
    expect(doc.phases.map((p) => [p.name, p.target])).toEqual([['http', `GET ${srv.url}/health`]])
    expect(doc.phases[0]!.requests.ok).toBeGreaterThan(0)
    expect(doc.skipped.map((s) => s.name)).toEqual(['llm'])
  })
})
