// validate-prod against real HTTP(S) servers on 127.0.0.1: healthy, slow, failing, flaky, and a
// self-signed certificate that expires in 3 days (made by openssl here).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest'
import { mkdirSync, symlinkSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { runChecks, validateDeployment, type HealthCheck } from '../../scripts/lib/validate/index.ts'
import { httpCheck, tlsCheck } from '../../scripts/lib/validate/probes.ts'
import { workloadChecks } from '../../scripts/lib/validate/k8s.ts'
import { testCtx } from '../helpers/context.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { httpsServer, httpServer, health, selfSigned, type TestServer, type Cert } from '../deploy/servers.ts'
import { loadConfig } from '../../scripts/lib/core/config.ts'
import { FIXTURES, K8S_FIXTURES, sandbox, composeFixture, realComposeConfig, composeFakes, dockerAnswers, type Sandbox } from '../deploy/helpers.ts'
import { fakeBins, fails, ok, on, type FakeBins } from '../helpers/fake-bins.ts'

let cert3: Cert
let certExpired: Cert
const servers: TestServer[] = []
let healthy: TestServer, slow: TestServer, failing: TestServer, tls3: TestServer, expired: TestServer

beforeAll(async () => {
  cert3 = selfSigned('chat.test.local', 3)
  certExpired = selfSigned('old.test.local', -1)
  healthy = await httpServer(health())
  slow = await httpServer(health(5_000))
  failing = await httpServer(health(0, 503))
  tls3 = await httpsServer(cert3, health())
  expired = await httpsServer(certExpired, health())
  servers.push(healthy, slow, failing, tls3, expired)
})
afterAll(async () => { for (const s of servers) await s.close() })

const check = (name: string, run: HealthCheck['run'], o: Partial<HealthCheck> = {}): HealthCheck => ({ name, component: name, critical: true, run, ...o })

describe('checks', () => {
  it('healthy, failing and slow endpoints: each judged on its own, the slow one by its own timeout', async () => {
    const ctx = testCtx()
    const results = await runChecks(ctx, [
      check('healthy', (a) => httpCheck({ url: `${healthy.url}/health` }, a)),
      check('failing', (a) => httpCheck({ url: `${failing.url}/health` }, a)),
      check('slow', (a) => httpCheck({ url: `${slow.url}/health` }, a), { timeoutMs: 300 }),
    ], { retries: 0, timeoutMs: 4000 })
    const by = Object.fromEntries(results.map((r) => [r.name, r]))
    expect(by.healthy!.status).toBe('ok')
    expect(by.healthy!.detail).toMatch(/^HTTP 200 in \d+ms$/)
    expect(by.failing!.status).toBe('fail')
    expect(by.failing!.detail).toBe('HTTP 503: {"error":"db down"}')
    expect(by.slow!.status).toBe('fail')
    expect(by.slow!.detail).toBe('timed out after 300ms')
  })

  it('run concurrently: a server that answers only once three requests are in flight at the same time', async () => {
    const waiting: ServerResponse[] = []
    const barrier = await httpServer((_req: IncomingMessage, res: ServerResponse) => {
      waiting.push(res)
      if (waiting.length === 3) for (const r of waiting) { r.writeHead(200); r.end('ok') }
    })
    try {
      const results = await runChecks(testCtx(), ['a', 'b', 'c'].map((n) => check(n, (a) => httpCheck({ url: `${barrier.url}/health` }, a))), { retries: 0, timeoutMs: 5000 })
      expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'ok'])
    } finally {
      await barrier.close()
    }
  })

  it('a check that ignores its abort signal still ends at its timeout', async () => {
    const [r] = await runChecks(testCtx(), [check('stuck', () => new Promise(() => {}), { timeoutMs: 200 })], { retries: 0 })
    expect(r!.status).toBe('fail')
    expect(r!.detail).toBe('timed out after 200ms')
  })

  it('retries a flaky endpoint and reports the attempts', async () => {
    let n = 0
    const flaky = await httpServer((_req, res) => { n++; res.writeHead(n < 3 ? 502 : 200); res.end() })
    try {
      const [r] = await runChecks(testCtx(), [check('flaky', (a) => httpCheck({ url: `${flaky.url}/health` }, a))], { retries: 2, retryDelayMs: 10 })
      expect(r!.status).toBe('ok')
      expect(r!.attempts).toBe(3)
    } finally {
      await flaky.close()
    }
  })
})

describe('a check whose command fails says why (kubectl\'s own words, masked), not only that it failed', () => {
  const TOKEN = 'kube-tok-4Rj8Wq2Zx'
  const UNAUTHORIZED = `E1202 memcache.go:265] couldn't get current server API group list: token ${TOKEN} rejected\nerror: You must be logged in to the server (Unauthorized)`

  it('a command that throws inside a check: its output\'s last lines in the detail', async () => {
    const bins = fakeBins({ kubectl: { exitCode: 1, stderr: UNAUTHORIZED } })
    try {
      const ctx = testCtx({ path: bins.path })
      ctx.secrets.add(TOKEN)
      const [r] = await runChecks(ctx, [check('pods', async () => { await ctx.exec(['kubectl', 'get', 'pods']); return { status: 'ok', detail: '' } })], { retries: 0 })
      expect(r).toMatchObject({ status: 'fail', detail: "command failed (exit code 1): kubectl get pods: E1202 memcache.go:265] couldn't get current server API group list: token *** rejected | error: You must be logged in to the server (Unauthorized)" })
    } finally {
      bins.remove()
    }
  })

  it('the workloads of the release cannot be listed: the check says why', async () => {
    const bins = fakeBins({ kubectl: { exitCode: 1, stderr: UNAUTHORIZED } })
    try {
      const ctx = testCtx({ path: bins.path })
      ctx.secrets.add(TOKEN)
      const results = await runChecks(ctx, workloadChecks(ctx, 'openwebui-prod', 'owp', 'app.kubernetes.io/instance=owp'), { retries: 0 })
      expect(results.map((r) => [r.status, r.detail])).toEqual([
        ['fail', 'cannot list the workloads: error: You must be logged in to the server (Unauthorized)'],
        ['warn', 'cannot list the pods: error: You must be logged in to the server (Unauthorized)'],
      ])
      expect(JSON.stringify(results)).not.toContain(TOKEN)
    } finally {
      bins.remove()
    }
  })
})

describe('TLS certificate', () => {
  const probe = (server: TestServer, o: { caFile?: string; insecure?: boolean; servername?: string }) =>
    runChecks(testCtx(), [check('tls', (a) => tlsCheck({ host: '127.0.0.1', port: server.port, servername: o.servername ?? 'chat.test.local', ...o }, a))], { retries: 0 })

  it('self-signed and not trusted: fails, and says how to trust it', async () => {
    const [r] = await probe(tls3, {})
    expect(r!.status).toBe('fail')
    expect(r!.detail).toMatch(/^self-signed certificate \(pass --ca-file CERT or --insecure\); 3 days left/)
  })

  it('trusted through --ca-file, expiring in 3 days: warns with the days left (a rollback would not renew it)', async () => {
    const [r] = await probe(tls3, { caFile: cert3.certFile })
    expect(r!.status).toBe('warn')
    expect(r!.detail).toMatch(/^expires soon: 3 days left \(until \d{4}-\d\d-\d\d\)$/)
    expect(r!.data).toMatchObject({ subject: 'chat.test.local', daysLeft: 3, trusted: true })
  })

  it('--insecure: not verified, still warns about the expiry', async () => {
    const [r] = await probe(tls3, { insecure: true })
    expect(r!.status).toBe('warn')
  })

  it('an expired certificate fails even with --insecure (the broken fixture)', async () => {
    const [r] = await probe(expired, { insecure: true, servername: 'old.test.local' })
    expect(r!.status).toBe('fail')
    expect(r!.detail).toMatch(/^certificate expired on /)
  })

  it('a certificate for another name is untrusted', async () => {
    const [r] = await probe(tls3, { caFile: cert3.certFile, servername: 'other.test.local' })
    expect(r!.status).toBe('fail')
    expect(r!.detail).toMatch(/untrusted certificate: ERR_TLS_CERT_ALTNAME_INVALID|Hostname\/IP does not match/)
  })
})

describe('validate-prod as a user runs it', () => {
  it('--target url: the edge through an address with the Host header, the certificate, extra checks; table on stderr, exit 0', async () => {
    const r = await runScript('scripts/validate-prod.ts', ['--target', 'url', '--url', tls3.url, '--host', 'chat.test.local', '--ca-file', cert3.certFile,
      '--check', `graphrag=${healthy.url}/health`, '--retries', '0'])
    expect(r.stderr).toMatch(/OK\s+edge https:\/\/127\.0\.0\.1:\d+\/health \(Host chat\.test\.local\)\s+HTTP 200/)
    expect(r.stderr).toMatch(/WARN\s+tls certificate chat\.test\.local\s+expires soon: 3 days left/)
    expect(r.stderr).toMatch(/OK\s+graphrag\s+HTTP 200/)
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('ok: 3 checks passed or warned')
    expect(tls3.hits.some((h) => h === 'GET /health host=chat.test.local')).toBe(true)
  })

  it('a failing critical check: exit 1, --json report on stdout', async () => {
    const r = await runScript('scripts/validate-prod.ts', ['--target', 'url', '--check', `graphrag=${failing.url}/health`, '--check', `ui=${healthy.url}/health`, '--retries', '0', '--json'])
    expect(r.code).toBe(1)
    const report = JSON.parse(r.stdout) as { ok: boolean; results: Array<{ name: string; status: string; critical: boolean }> }
    expect(report.ok).toBe(false)
    expect(report.results.map((x) => [x.name, x.status])).toEqual([['graphrag', 'fail'], ['ui', 'ok']])
  })

  it('--component graphrag runs only the GraphRAG checks (make test-graphrag)', async () => {
    const r = await runScript('scripts/validate-prod.ts', ['--target', 'url', '--check', `graphrag=${healthy.url}/health`, '--check', `ui=${failing.url}/health`, '--component', 'graphrag', '--retries', '0', '--json'])
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as { results: Array<{ name: string }> }).results.map((x) => x.name)).toEqual(['graphrag'])
  })

  it('rejects a bad --check with exit 2', async () => {
    const r = await runScript('scripts/validate-prod.ts', ['--target', 'url', '--check', 'nourl'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--check wants NAME=URL')
  })
})

describe('leaving a component out (the restore drill starts no LLM)', () => {
  it('the checks of a skipped component do not run, and the log names them', async () => {
    const ctx = testCtx()
    const o = { target: 'url' as const, extra: [`llm=${failing.url}/v1/models`, `api=${healthy.url}/health`], retries: 0 }
    expect((await validateDeployment(ctx, o)).ok).toBe(false)
    const r = await validateDeployment(ctx, { ...o, skipComponents: ['llm'] })
    expect(r.results.map((x) => x.name)).toEqual(['api'])
    expect(r.ok).toBe(true)
    expect(ctx.stderr()).toMatch(/left out: llm \(llm\)/)
  })
})

describe('Kubernetes target: port-forward to each component', () => {
  let fake: { path: string; remove(): void }
  let openai: TestServer
  beforeAll(async () => {
    openai = await httpServer((req, res) => {
      if (req.url === '/health') { res.writeHead(200); res.end('ok'); return }
      if (req.url === '/v1/models') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"data":[{"id":"tiny-model"}]}'); return }
      let body = ''
      req.on('data', (d) => { body += d })
      req.on('end', () => {
        const model = (JSON.parse(body) as { model: string }).model
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ choices: [{ message: { content: `pong from ${model}` } }], usage: { total_tokens: 9 } }))
      })
    })
    servers.push(openai)
    fake = tmpDir('owp-kubectl-')
    mkdirSync(join(fake.path, 'bin'))
    symlinkSync(join(FIXTURES, 'fake-kubectl.mjs'), join(fake.path, 'bin', 'kubectl'))
  })
  afterAll(() => fake?.remove())

  it('pods ready, /health of each component and a chat completion through port-forwards; monitoring warns', async () => {
    const svc = (name: string, component: string, port: number) => ({ metadata: { name, labels: { 'app.kubernetes.io/component': component } }, spec: { ports: [{ name: 'http', port }] } })
    const log = join(fake.path, 'calls.log')
    const helm = fakeBins({ helm: [on('^version', ok('v4.1.4')), on('^test owp --namespace ai --logs --timeout', ok('TEST SUITE: owp-test-health\nPhase: Succeeded'))] })
    const ctx = testCtx({
      path: `${join(fake.path, 'bin')}:${helm.path}`,
      env: {
        FAKE_KUBECTL_LOG: log,
        FAKE_KUBECTL_SERVICES: JSON.stringify({ items: [
          svc('owp-openwebui', 'openwebui', 8080), svc('owp-lightllm', 'lightllm', 8000), svc('owp-graphrag-processor', 'graphrag-processor', 8010),
          svc('owp-postgres', 'postgres', 5432), { ...svc('owp-openwebui-headless', 'openwebui', 8080), spec: { clusterIP: 'None', ports: [{ name: 'http', port: 8080 }] } },
        ] }),
        FAKE_KUBECTL_LIST_FILE: join(K8S_FIXTURES, 'evicted-pod-replaced.json'),
        FAKE_KUBECTL_INGRESSES: '{"items":[]}',
        FAKE_PF_owp_openwebui: String(healthy.port),
        FAKE_PF_owp_lightllm: String(openai.port),
        FAKE_PF_owp_graphrag_processor: String(healthy.port),
      },
    })
    const report = await validateDeployment(ctx, { target: 'k8s', namespace: 'ai', release: 'owp', retries: 0, timeoutMs: 5000 })
    const by = Object.fromEntries(report.results.map((r) => [r.name, r]))
    expect(by['workloads of owp rolled out']!.detail).toBe('12 workloads rolled out')
    expect(by['pods of owp outside a rolled-out workload']!.status).toBe('ok') // the evicted pod was replaced
    expect(by['graphrag-processor /health (port-forward svc/owp-graphrag-processor)']!.component).toBe('graphrag')
    expect(report.results.filter((r) => r.name.includes('headless'))).toEqual([])
    expect(by['openwebui /health (port-forward svc/owp-openwebui)']!.status).toBe('ok')
    expect(by['lightllm /health (port-forward svc/owp-lightllm)']!.status).toBe('ok')
    expect(by['chat completion (lightllm)']!.detail).toMatch(/^answered "pong from tiny-model" in \d+ms, 9 tokens$/)
    expect(by['helm test owp']!.status).toBe('ok')
    expect(by['grafana reachable']!.status).toBe('fail') // no kube-prometheus-stack here: non-critical
    expect(report.ok).toBe(true)
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[])
    expect(calls.filter((c) => c[1] === 'port-forward' && c.includes('svc/owp-lightllm'))).toHaveLength(1) // one forward shared by two checks
    helm.remove()
  })

  it('LightLLM off: the chat check goes to OPENAI_API_BASE_URL, and with none it is there and fails (critical)', async () => {
    const svc = (name: string, component: string, port: number) => ({ metadata: { name, labels: { 'app.kubernetes.io/component': component } }, spec: { ports: [{ name: 'http', port }] } })
    const kube = {
      FAKE_KUBECTL_SERVICES: JSON.stringify({ items: [svc('owp-openwebui', 'openwebui', 8080)] }),
      FAKE_KUBECTL_LIST_FILE: join(K8S_FIXTURES, 'evicted-pod-replaced.json'),
      FAKE_KUBECTL_INGRESSES: '{"items":[]}',
      FAKE_PF_owp_openwebui: String(healthy.port),
    }
    const helm = fakeBins({ helm: [on('^version', ok('v4.1.4')), on('^test ', ok('Phase: Succeeded'))] })
    try {
      const path = `${join(fake.path, 'bin')}:${helm.path}`
      const external = await validateDeployment(testCtx({ path, env: kube }), {
        target: 'k8s', namespace: 'ai', release: 'owp', retries: 0, timeoutMs: 5000,
        env: { OPENAI_API_BASE_URL: `http://127.0.0.1:${openai.port}/v1`, OPENAI_API_KEY: 'sk-external-0123456789abcdef', LLM_MODEL_NAME: 'ext-model' },
      })
      const chat = external.results.find((r) => r.name.startsWith('chat completion'))
      expect(chat).toMatchObject({ name: `chat completion (127.0.0.1:${openai.port})`, status: 'ok', critical: true })
      expect(chat!.detail).toMatch(/^answered "pong from ext-model"/)

      const none = await validateDeployment(testCtx({ path, env: kube }), { target: 'k8s', namespace: 'ai', release: 'owp', retries: 0, timeoutMs: 5000, env: {} })
      const missing = none.results.find((r) => r.name.startsWith('chat completion'))
      expect(missing).toMatchObject({ status: 'fail', critical: true })
      expect(missing!.detail).toContain('nothing answers chats: no LightLLM service in release owp (ai) and OPENAI_API_BASE_URL is empty')
      expect(none.ok).toBe(false)
    } finally {
      helm.remove()
    }
  })
})

describe('Compose target: healthchecks through compose exec, the edge through NGINX with the Host header', () => {
  let bins: FakeBins | undefined
  let box: Sandbox | undefined
  let edge: TestServer | undefined
  let redirect: TestServer | undefined
  afterEach(async () => { bins?.remove(); box?.remove(); await edge?.close(); await redirect?.close(); bins = box = edge = redirect = undefined })

  async function compose(component?: string) {
    edge = await httpsServer(cert3, health())
    redirect = await httpServer((req, res) => { res.writeHead(301, { location: `https://chat.test.local${req.url}` }); res.end() })
    const b = sandbox(null, { HTTPS_PORT: String(edge.port), HTTP_PORT: String(redirect.port), DOMAIN: 'chat.test.local', TLS_CERT_PATH: cert3.certFile })
    box = b
    const file = composeFixture(b.dir)
    const envFile = join(b.dir, '.env')
    bins = composeFakes({ config: realComposeConfig(file, envFile) })
    const ctx = b.ctx({ path: bins.path })
    const report = await validateDeployment(ctx, { target: 'compose', composeFile: file, envFile, component, retries: 0, timeoutMs: 3000 })
    return { report, ctx }
  }

  it('every service checked; the certificate the stack serves is trusted by default (TLS_CERT_PATH)', async () => {
    const { report } = await compose()
    const names = report.results.map((r) => `${r.status} ${r.name}`)
    expect(names).toEqual(expect.arrayContaining([
      'ok openwebui healthcheck', 'ok postgres healthcheck', 'ok graphrag-processor healthcheck', 'ok lightllm healthcheck',
      'ok nginx healthcheck', 'ok prometheus healthcheck', 'fail redis-exporter running',
      expect.stringMatching(/^ok edge https:\/\/127\.0\.0\.1:\d+\/health \(Host chat\.test\.local\)$/),
      'warn tls certificate chat.test.local', expect.stringMatching(/^ok http :\d+ redirects to https$/),
      'ok chat completion (openwebui -> lightllm)', 'ok prometheus targets up', 'ok graphrag /metrics',
    ]))
    // redis-exporter has no healthcheck and no container in the fake: a monitoring service only warns
    expect(report.ok).toBe(true)
    expect(edge!.hits).toContain('GET /health host=chat.test.local')
    // read-only: nothing started, stopped or pulled
    expect(bins!.calls('docker').filter((c) => ['up', 'down', 'pull', 'rm', 'stop'].some((x) => c.includes(x)))).toEqual([])
  })

  it('no engine: one error naming the reason at once, no check tried (no retries against a dead socket)', async () => {
    const b = sandbox(null, { DOMAIN: 'chat.test.local' })
    box = b
    const file = composeFixture(b.dir)
    const envFile = join(b.dir, '.env')
    bins = composeFakes({ config: realComposeConfig(file, envFile), daemon: false })
    const err = await validateDeployment(b.ctx({ path: bins.path }), { target: 'compose', composeFile: file, envFile, retries: 2 }).then(() => null, (e: Error) => e)
    expect(err?.message).toBe('no Docker engine answers: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?')
    expect(bins.calls('docker').filter((c) => c.includes('exec'))).toEqual([])
  })

  it('LightLLM off and no endpoint: the chat check is there and fails (critical)', async () => {
    const b = sandbox(null, { DOMAIN: 'chat.test.local' })
    box = b
    const file = composeFixture(b.dir)
    const envFile = join(b.dir, '.env')
    bins = composeFakes({ config: realComposeConfig(file, envFile) })
    const ctx = b.ctx({ path: bins.path })
    const env = { ...loadConfig(ctx, { envFile }).env, LIGHTLLM_ENABLED: 'false', OPENAI_API_BASE_URL: '' }
    const report = await validateDeployment(ctx, { target: 'compose', composeFile: file, envFile, env, retries: 0, timeoutMs: 3000 })
    const chat = report.results.find((r) => r.name.startsWith('chat completion'))
    expect(chat).toMatchObject({ status: 'fail', critical: true })
    expect(chat!.detail).toContain('nothing answers chats')
    expect(report.ok).toBe(false)
  })

  it('each running replica runs the healthcheck in its own container (docker exec): one failing replica fails the check, named', async () => {
    const b = sandbox(null, { DOMAIN: 'chat.test.local' })
    box = b
    const file = composeFixture(b.dir)
    const envFile = join(b.dir, '.env')
    const before = [
      { service: 'openwebui', image: 'ghcr.io/open-webui/open-webui:v0.8.11', imageId: 'sha256:a' },
      { service: 'openwebui', image: 'ghcr.io/open-webui/open-webui:v0.8.11', imageId: 'sha256:a' },
      { service: 'postgres', image: 'postgres:1', imageId: 'sha256:p' },
    ]
    const answers = [on('^exec c1 ', fails(1, 'curl: (7) Failed to connect')), ...dockerAnswers({ config: realComposeConfig(file, envFile), before })]
    bins = fakeBins({ docker: answers })
    const ctx = b.ctx({ path: bins.path })
    const report = await validateDeployment(ctx, { target: 'compose', composeFile: file, envFile, component: 'openwebui', retries: 0, timeoutMs: 3000 })
    const check = report.results.find((r) => r.name === 'openwebui healthcheck')
    expect(check).toMatchObject({ status: 'fail', critical: true })
    expect(check!.detail).toMatch(/^healthcheck of c1: exit 1/)
    const execs = bins.calls('docker').filter((c) => c[1] === 'exec').map((c) => c[2])
    expect([...new Set(execs)].sort()).toEqual(['c0', 'c1'])
    // no compose process for a check whose container `ps` listed
    expect(bins.calls('docker').filter((c) => c[1] === 'compose' && c.includes('exec'))).toEqual([])
  })

  it('--component graphrag: GraphRAG and the data stores it needs, nothing else', async () => {
    const { report } = await compose('graphrag')
    expect(report.results.map((r) => r.name).sort()).toEqual(['graphrag /metrics', 'graphrag-processor healthcheck', 'postgres healthcheck'])
  })
})
