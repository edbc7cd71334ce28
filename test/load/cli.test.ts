// scripts/load-test.ts as a user runs it: help, exit codes, --json on stdout, the default profile
// from a .env, secrets never printed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { startScriptedServer, type ScriptedServer } from './fixture.ts'
import type { LoadTestDocument } from '../../scripts/lib/load/export.ts'
import { runCli } from './run-load.ts'

const SCRIPT = 'scripts/load-test.ts'
const KEY = 'sk-test-owui-0123456789'
let srv: ScriptedServer
const tmp = tmpDir('owp-load-cli-')

/** A development .env that passes the schema, pointing at the scripted server. */
function envFile(publicUrl: string, extra = ''): string {
  const f = join(tmp.path, `env-${Math.random().toString(36).slice(2)}`)
  writeFileSync(f, `DEPLOY_ENV=development
DOMAIN=chat.example.test
PUBLIC_URL=${publicUrl}
WEBUI_SECRET_KEY=dev-webui-secret-key
POSTGRES_PASSWORD=dev-postgres-pw
REDIS_PASSWORD=dev-redis-pw
QDRANT_API_KEY=dev-qdrant-key
NEO4J_PASSWORD=dev-neo4j-pw
GRAPHRAG_API_KEY=dev-graphrag-key
GRAFANA_ADMIN_PASSWORD=dev-grafana-pw
LLM_MODEL_NAME=test-model
${extra}`)
  return f
}

beforeAll(async () => { srv = await startScriptedServer() })
afterAll(async () => { await srv?.stop(); tmp.remove() })

describe('load-test CLI', () => {
  it('--help explains the flags, the metrics and the SLO forms', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    for (const text of ['--rate', '-z, --duration', '--profile default', '/api/chat/completions', '/v1/chat/completions', 'LOADTEST_API_KEY', 'TTFT', 'TPOT', 'ITL', 'error_rate<1%', '--insecure']) {
      expect(r.stdout).toContain(text)
    }
  })

  it('a bad SLO expression, a bad flag value or an unknown flag is a usage error (exit 2) before any load', async () => {
    await srv.reset()
    const bad = await runScript(SCRIPT, ['-n', '5', '--slo', 'p95<800', `${srv.url}/delay/1`])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--slo 'p95<800': a latency needs a unit/)
    expect(bad.stderr).toMatch(/hint: SLO expressions/)
    expect((await srv.truth()).http).toHaveLength(0) // nothing was sent
    expect((await runCli(['-z', 'soon', srv.url])).code).toBe(2)
    expect((await runCli(['--rate', '10', '-q', '5', srv.url])).code).toBe(2)
    expect((await runCli(['--mode', 'llm', '--slo', 'http:ttft_p95<1s', srv.url])).code).toBe(2)
    expect((await runCli(['-n', '5', '-z', '1s', srv.url])).stderr).toMatch(/give -n .* or -z .*, not both/)
    expect((await runCli(['--workers', '4', '-c', '2', srv.url])).code).toBe(2)
    expect((await runCli(['a', 'b'])).code).toBe(2)
    const unknown = await runCli(['--bogus', srv.url])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^error: unknown flag --bogus/)
  })

  it('exit code follows the gates; the summary and the gate table go to stdout, logs to stderr', async () => {
    const pass = await runCli(['-n', '20', '-c', '2', '--slo', 'p95<2s', '--slo', 'error_rate<1%', `${srv.url}/delay/5`])
    expect(pass.code).toBe(0)
    expect(pass.stdout).toMatch(/PASS\s+http\s+p95<2s/)
    expect(pass.stdout).toMatch(/all 2 gates passed/)
    expect(pass.stderr).toMatch(/✔ http: GET/)
    expect(pass.stderr).not.toMatch(/\r/) // no progress line without a terminal
    const fail = await runScript(SCRIPT, ['-n', '20', '-c', '2', '--json', '--slo', 'p50<1ms', `${srv.url}/delay/5`])
    expect(fail.code).toBe(1)
    const doc = JSON.parse(fail.stdout) as LoadTestDocument
    expect(doc).toMatchObject({ schema: 'owp.load-test/v1', ok: false, exit_code: 1, slo: [{ gate: 'p50<1ms', phase: 'http', pass: false }] })
    expect(doc.phases[0]).toMatchObject({ name: 'http', mode: 'http', requests: { total: 20, ok: 20 } })
    expect(fail.stderr).toMatch(/1 SLO gate failed: p50<1ms/)
  })

  it('the first SIGINT stops the load and prints the report of what ran, then exits 130', async () => {
    const before = (await srv.truth()).http.length
    let pid = 0
    const done = runScript(SCRIPT, ['--rate', '50', '-c', '4', '-z', '10m', '--json', `${srv.url}/delay/5`], { onSpawn: (p) => { pid = p }, timeoutMs: 120_000 })
    for (let i = 0; i < 600 && (await srv.truth()).http.length - before < 25; i++) await new Promise((r) => setTimeout(r, 50))
    process.kill(pid, 'SIGINT')
    const r = await done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(/SIGINT received: stopping, the report covers what ran/)
    const doc = JSON.parse(r.stdout) as LoadTestDocument
    const http = doc.phases[0]!
    expect(http.requests.total).toBeGreaterThanOrEqual(25)
    expect(http.requests.failed).toBe(0) // what was in flight finished, nothing is counted as an error
    expect(http.requests.total).toBeLessThanOrEqual((await srv.truth()).http.length - before)
  })

  it('--profile default --dry-run shows both phases from .env and sends nothing', async () => {
    await srv.reset()
    const env = envFile(srv.url)
    const r = await runCli(['--profile', 'default', '--dry-run', '--env-file', env], { LOADTEST_API_KEY: KEY })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`[dry-run] http: GET ${srv.url}/health (open loop, constant arrivals at 20.0/s, at most 10 in flight, 10s)`)
    expect(r.stdout).toContain(`[dry-run] llm: POST ${srv.url}/api/chat/completions`)
    expect(r.stdout).toContain('[dry-run] gates: http:p95<1s  http:error_rate<1%  llm:error_rate<10%')
    expect((await srv.truth()).http).toHaveLength(0)
  })

  it('--profile default skips the llm phase without an Open WebUI key and says how to enable it', async () => {
    const r = await runCli(['--profile', 'default', '--dry-run', '--env-file', envFile(srv.url)], { LOADTEST_API_KEY: undefined })
    expect(r.code).toBe(0)
    expect(r.stdout).not.toContain('[dry-run] llm: POST')
    expect(r.stdout).toMatch(/llm: skipped: Open WebUI's \/api\/chat\/completions needs an API key/)
    const onlyLlm = await runCli(['--profile', 'default', '--mode', 'llm', '--dry-run', '--env-file', envFile(srv.url)], { LOADTEST_API_KEY: undefined })
    expect(onlyLlm.code).toBe(2)
    // LightLLM's own endpoint needs no key.
    const lightllm = await runCli(['--profile', 'default', '--mode', 'llm', '--dry-run', '--env-file', envFile(srv.url), '--base-url', 'http://127.0.0.1:8000', '--path', '/v1/chat/completions'], { LOADTEST_API_KEY: undefined })
    expect(lightllm.code).toBe(0)
    expect(lightllm.stdout).toContain('[dry-run] llm: POST http://127.0.0.1:8000/v1/chat/completions')
  })

  it('--profile default runs both phases against the deployment, the key from .env never printed', async () => {
    const env = envFile(srv.url, `LOADTEST_API_KEY=${KEY}\n`)
    const r = await runScript(SCRIPT, ['--profile', 'default', '--env-file', env, '-z', '0.6s', '--extra-body', '{"script":{"ttft_ms":5,"itl_ms":2,"tokens":4}}', '--json'], { env: { LOADTEST_API_KEY: '' } })
    expect(r.stderr).not.toContain(KEY)
    expect(r.stdout).not.toContain(KEY)
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.stdout) as LoadTestDocument
    expect(doc.phases.map((p) => [p.name, p.requests.failed])).toEqual([['http', 0], ['llm', 0]])
    expect(doc.phases[0]!.requests.total).toBeGreaterThanOrEqual(11) // 20/s for 0.6 s
    expect(doc.slo.map((g) => [g.gate, g.pass])).toEqual([['http:p95<1s', true], ['http:error_rate<1%', true], ['llm:error_rate<10%', true]])
  })

  it('without a .env, the default profile says how to proceed (exit 2)', async () => {
    const { runLoad } = await import('./run-load.ts')
    const dir = join(tmp.path, 'no-env')
    mkdirSync(dir)
    await expect(runLoad(['--profile', 'default'], {}, { cwd: dir })).rejects.toMatchObject({
      exitCode: 2, message: expect.stringMatching(/DOMAIN is required[\s\S]*no \.env in/), hint: expect.stringMatching(/cp \.env\.example \.env/),
    })
  })

  it('refuses an invalid .env with every problem listed (exit 2)', async () => {
    const f = join(tmp.path, 'bad.env')
    writeFileSync(f, 'DEPLOY_ENV=development\nPUBLIC_URL=not-a-url\n')
    const r = await runCli(['--profile', 'default', '--env-file', f])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/DOMAIN is required/)
    expect(r.stderr).toMatch(/PUBLIC_URL/)
  })
})
