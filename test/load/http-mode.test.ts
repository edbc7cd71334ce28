// http mode against a real scripted server: accurate percentiles closed-loop and open-loop,
// stalls visible under --rate, every failure counted, gates deciding the exit code.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startScriptedServer, median, preferTiming, type ScriptedServer } from './fixture.ts'
import { runLoad } from './run-load.ts'
import { closedPort } from '../helpers/net.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { CSV_HEADER, JSON_SCHEMA } from '../../scripts/lib/load/export.ts'
import { createServer as createHttpsServer } from 'node:https'
import { execFileSync } from 'node:child_process'
import type { AddressInfo } from 'node:net'

let srv: ScriptedServer
const tmp = tmpDir('owp-load-http-')
let restorePriority = () => {}
beforeAll(async () => { srv = await startScriptedServer(); restorePriority = preferTiming([process.pid, srv.svc.pid]) })
afterAll(async () => { restorePriority(); await srv?.stop(); tmp.remove() })

/** Why a timing may be off: the generator's own event-loop lag (it was descheduled). */
const lagNote = (s: { generator: { loop_lag_p99_ms: number } }) => `p50 vs the server's truth; generator loop lag p99 ${s.generator.loop_lag_p99_ms} ms`

/** The server's own measurement of how long it held each request. */
async function heldP50(): Promise<number> {
  return median((await srv.truth()).http.map((h) => h.heldMs))
}

// Accuracy is measured against the server's own record of each request. CPU contention from other
// suites only ever adds error (a descheduled process stamps late), so these retry: a real bias
// in the tool fails every attempt.
const ACCURACY = { retry: 2 }

describe('http mode against a server with a fixed 50 ms latency', () => {
  it('reports p50 within 2 ms in a closed loop', ACCURACY, async () => {
    await srv.reset()
    const r = await runLoad(['-c', '8', '-z', '1.5s', `${srv.url}/delay/50`])
    const s = r.http()
    const truth = await heldP50()
    expect(truth).toBeGreaterThanOrEqual(50)
    expect(truth).toBeLessThan(60) // the fixture itself keeps time
    expect(s.requests.failed).toBe(0)
    expect(s.requests.total).toBeGreaterThan(150)
    expect(Math.abs(s.latency!.p50 - truth), lagNote(s)).toBeLessThan(2)
    expect(s.load).toMatchObject({ loop: 'closed', concurrency: 8, duration_s: 1.5 })
    expect(r.exitCode).toBe(0)
  })

  it('reports p50 within 2 ms with --rate below capacity (no false correction)', ACCURACY, async () => {
    await srv.reset()
    const r = await runLoad(['--rate', '100', '-c', '20', '-z', '1.5s', `${srv.url}/delay/50`])
    const s = r.http()
    const truth = await heldP50()
    expect(s.load).toMatchObject({ loop: 'open', rate: 100, arrival: 'constant' })
    // 150 arrivals in 1.5 s: the ~5 still in flight at D are cancelled and reported apart (load -z stops at D)
    const arrivals = s.requests.total + (s.requests.cancelled ?? 0)
    expect(arrivals).toBeGreaterThanOrEqual(148)
    expect(arrivals).toBeLessThanOrEqual(151)
    expect(s.requests.dropped).toBe(0)
    expect(Math.abs(s.latency!.p50 - truth), lagNote(s)).toBeLessThan(2)
    expect(s.rps).toBeGreaterThan(90)
    expect(s.rps).toBeLessThan(110)
  })
})

describe('a server that stalls for 1 s', () => {
  const stall = () => `${srv.url}/stall?base=5&at=500&for=1000`

  it('closed loop hides the stall: only one request per connection waits it out', async () => {
    await srv.reset()
    const s = (await runLoad(['-c', '4', '-z', '1.8s', stall()])).http()
    expect(s.latency!.max).toBeGreaterThan(900) // it happened...
    expect(s.latency!.p99).toBeLessThan(100) // ...but the percentiles do not show it
  })

  it('--rate shows the stall in the high percentiles (latency from the intended send time)', async () => {
    await srv.reset()
    const s = (await runLoad(['--rate', '200', '-c', '50', '-z', '1.8s', stall()])).http()
    // ~200 of ~360 arrivals fall in the stall and wait up to 1 s for it to end.
    expect(s.latency!.p99).toBeGreaterThan(800)
    expect(s.latency!.p90).toBeGreaterThan(400)
    expect(s.send_lag!.max).toBeGreaterThan(500) // they queued behind busy connections
    expect(s.timeline.some((p) => (p.p99 ?? 0) > 800)).toBe(true)
  })
})

describe('failures are counted', () => {
  it('counts non-2xx responses as failed, by status', async () => {
    const r = await runLoad(['-n', '20', '-c', '4', `${srv.url}/status/503`])
    const s = r.http()
    expect(s.requests).toMatchObject({ total: 20, ok: 0, failed: 20, unexpected_status: 20 })
    expect(s.status_codes).toEqual({ 503: 20 })
    expect(s.errors).toEqual({ http_503: 20 })
    expect(s.error_rate).toBe(1)
    expect(r.exitCode).toBe(1) // not a single request succeeded
    expect(r.text).toMatch(/503: 20/)
  })

  it('accepts other statuses with --expect-status', async () => {
    const s = (await runLoad(['-n', '10', '-c', '2', '--expect-status', '500-503', `${srv.url}/status/503`])).http()
    expect(s.requests).toMatchObject({ ok: 10, failed: 0 })
  })

  it('counts timeouts (-t seconds, hey style)', async () => {
    const started = performance.now()
    const s = (await runLoad(['-n', '4', '-c', '2', '-t', '0.3', `${srv.url}/hang`])).http()
    expect(s.requests).toMatchObject({ total: 4, timeouts: 4, failed: 4 })
    expect(s.errors).toEqual({ timeout: 4 })
    expect(performance.now() - started).toBeLessThan(3000)
  })

  it('counts refused connections and dropped connections', async () => {
    const port = await closedPort()
    const refused = (await runLoad(['-n', '10', '-c', '2', `http://127.0.0.1:${port}/`])).http()
    expect(refused.errors).toEqual({ connect_refused: 10 })
    expect(refused.requests.transport_errors).toBe(10)
    const reset = (await runLoad(['-n', '6', '-c', '2', `${srv.url}/reset`])).http()
    expect(reset.requests.failed).toBe(6)
    expect(Object.keys(reset.errors)).toEqual(['reset'])
  })
})

describe('gates and outputs', () => {
  it('exit code follows the gates', async () => {
    const pass = await runLoad(['-n', '40', '-c', '4', '--slo', 'p95<1s', '--slo', 'error_rate<1%', `${srv.url}/delay/20`])
    expect(pass.exitCode).toBe(0)
    expect(pass.doc.slo.map((g) => g.pass)).toEqual([true, true])
    const fail = await runLoad(['-n', '40', '-c', '4', '--slo', 'p50<10ms', '--slo', 'rps>0', `${srv.url}/delay/20`])
    expect(fail.exitCode).toBe(1)
    expect(fail.doc.slo).toEqual([
      { gate: 'p50<10ms', phase: 'http', actual: expect.any(Number), pass: false },
      { gate: 'rps>0', phase: 'http', actual: expect.any(Number), pass: true },
    ])
    expect(fail.text).toMatch(/FAIL\s+http\s+p50<10ms/)
    expect(fail.doc).toMatchObject({ schema: JSON_SCHEMA, ok: false, exit_code: 1 })
  })

  it('sends scenario requests in proportion to their weights and reports each', async () => {
    const f = join(tmp.path, 'scenario.yaml')
    writeFileSync(f, `requests:
  - { name: fast, path: /delay/1, weight: 3 }
  - { name: teapot, path: /status/418, weight: 1, expect: [418] }
`)
    const s = (await runLoad(['--scenario', f, '-n', '40', '-c', '4', srv.url])).http()
    expect(s.by_request.map((b) => [b.name, b.requests, b.failed])).toEqual([['fast', 30, 0], ['teapot', 10, 0]])
    expect(s.status_codes).toEqual({ 200: 30, 418: 10 })
  })

  it('runs on worker threads with the same accounting', async () => {
    const s = (await runLoad(['-n', '300', '-c', '6', '--workers', '2', `${srv.url}/delay/2`])).http()
    expect(s.requests).toMatchObject({ total: 300, ok: 300 })
    expect(s.generator.threads).toBe(2)
    expect(s.load.workers).toBe(2)
  })

  it('writes one CSV row a request and a self-contained HTML report, secrets masked', async () => {
    const csv = join(tmp.path, 'out.csv')
    const html = join(tmp.path, 'out.html')
    const r = await runLoad(['-n', '30', '-c', '3', '--warmup', '200ms', '-H', 'Authorization: Bearer s3cret-token-value', '--csv', csv, '--html', html, '--slo', 'p99<5s', `${srv.url}/delay/5`])
    const lines = readFileSync(csv, 'utf8').trim().split('\n')
    expect(lines[0]).toBe(CSV_HEADER)
    expect(lines).toHaveLength(31) // warm-up requests are not recorded
    expect(lines[1]).toMatch(/^http,http,GET \/delay\/5,[\d.]+,[\d.]+,[\d.]+,,,200,,\d+,,,$/)
    const page = readFileSync(html, 'utf8')
    expect(page).toMatch(/^<!doctype html>/)
    expect(page).toContain('<svg')
    expect(page).toContain('latency over time')
    expect(page).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/) // nothing fetched from elsewhere
    for (const out of [page, JSON.stringify(r.doc), r.text, r.ctx.stderr()]) expect(out).not.toContain('s3cret-token-value')
  })

  it('closes the connection after every request with --disable-keepalive', async () => {
    const s = (await runLoad(['-n', '20', '-c', '2', '--disable-keepalive', `${srv.url}/delay/1`])).http()
    expect(s.requests).toMatchObject({ total: 20, ok: 20 })
  })
})

describe('TLS and the hey flags', () => {
  it('refuses a self-signed certificate unless --insecure, in both modes', async () => {
    // A real self-signed certificate, as make tls-selfsigned and the e2e stack's NGINX use.
    const key = join(tmp.path, 'tls.key')
    const crt = join(tmp.path, 'tls.crt')
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', crt], { stdio: 'pipe' })
    } catch (e) {
      throw new Error(`openssl is needed for this test (Debian package openssl; make setup installs it): ${(e as Error).message}`)
    }
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(crt) }, (req, res) => {
      if (req.url === '/v1/models') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"data":[{"id":"tls-model"}]}'); return }
      if (req.method === 'POST') {
        req.resume()
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          res.end('data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"choices":[{"delta":{"content":" there"}}]}\n\ndata: [DONE]\n\n')
        })
        return
      }
      res.writeHead(200, { 'content-length': 2 })
      res.end('ok')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const strict = (await runLoad(['-n', '4', '-c', '2', `${url}/health`])).http()
      expect(strict.errors).toEqual({ tls: 4 })
      const insecure = (await runLoad(['-n', '20', '-c', '2', '--insecure', `${url}/health`])).http()
      expect(insecure.requests).toMatchObject({ total: 20, ok: 20 })
      const llm = (await runLoad(['--mode', 'llm', '-k', '-n', '3', '-c', '1', url])).llm()
      expect(llm).toMatchObject({ model: 'tls-model', requests: { ok: 3 }, tokens: { output: 6, output_estimated: true } }) // 2 chunks x 3, no usage
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('-q limits each connection of a closed loop (hey semantics)', async () => {
    const s = (await runLoad(['-q', '10', '-c', '2', '-z', '1s', `${srv.url}/delay/1`])).http()
    expect(s.load).toMatchObject({ loop: 'closed', qps_per_worker: 10 })
    expect(s.requests.total).toBeGreaterThanOrEqual(18)
    expect(s.requests.total).toBeLessThanOrEqual(22)
  })

  it('sends HEAD without waiting for a body, and Poisson arrivals with --arrival', async () => {
    const head = (await runLoad(['-m', 'HEAD', '-n', '10', '-c', '2', '-t', '2', `${srv.url}/delay/1`])).http()
    expect(head.requests).toMatchObject({ ok: 10, timeouts: 0 })
    const poisson = (await runLoad(['--rate', '100', '--arrival', 'poisson', '-n', '50', '-c', '10', `${srv.url}/delay/1`])).http()
    expect(poisson.load).toMatchObject({ loop: 'open', arrival: 'poisson', requests: 50 })
    expect(poisson.requests.ok).toBe(50)
  })
})
