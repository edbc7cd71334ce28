// The checks of each target. Compose: the public edge through NGINX (127.0.0.1:HTTPS_PORT with the
// Host header), and inside the stack, where nothing else publishes a port, `compose exec` of each
// service's own healthcheck and of small HTTP probes. Kubernetes: pods ready, each component's
// health endpoint through `kubectl port-forward`, the ingress URL. URL: just what is given.
import { rootCertificates } from 'node:tls'
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { createServer } from 'node:net'
import { KitError, UsageError } from './errors.ts'
import { COMPOSE_FILE } from './paths.ts'
import { loadConfig } from './config.ts'
import { detectCompose, composeArgv, composeProfiles, composeServices, containers, healthcheckArgv, type ComposeProject } from './compose.ts'
import { kubectl, getJson } from './kube.ts'
import { detectHelm, testArgv } from './helm.ts'
import { httpCheck, httpRequest, tlsCheck, chatOutcome, chatBody, targetsOutcome, grafanaOutcome, type TlsTrust } from './probes.ts'
import type { HealthCheck, CheckOutcome, ValidateOptions, Attempt } from './validate.ts'
import type { Ctx } from './context.ts'

export interface TargetChecks { checks: HealthCheck[]; cleanup(): Promise<void> }

/** Compose services that observe the platform: their failure warns, it does not fail a deploy. */
export const MONITORING_SERVICES = new Set([
  'prometheus', 'alertmanager', 'grafana', 'node-exporter', 'postgres-exporter', 'redis-exporter',
  'nginx-exporter', 'celery-exporter', 'blackbox-exporter', 'otel-collector',
])

/** Component of a compose service or chart component; the GraphRAG ones answer `--component graphrag`. */
export function componentOf(service: string): string {
  if (['graphrag-processor', 'graphrag', 'celery-worker', 'celery-beat', 'celeryWorker', 'celeryBeat'].includes(service)) return 'graphrag'
  if (MONITORING_SERVICES.has(service)) return 'monitoring'
  if (service === 'mcp-server') return 'mcp'
  return service
}

/** Data stores GraphRAG needs: their checks also run for --component graphrag. */
const GRAPHRAG_DEPENDENCIES = new Set(['postgres', 'redis', 'qdrant', 'neo4j'])

/** The trust for TLS: --insecure, or the CA bundle file (system roots plus --ca-file). */
function trust(o: { insecure?: boolean; caFile?: string }): TlsTrust {
  return { insecure: o.insecure, caFile: o.caFile }
}

export async function checksFor(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
  if (o.caFile && !existsSync(o.caFile)) throw new UsageError(`--ca-file ${o.caFile} not found`)
  const caFile = o.caFile ? withRoots(o.caFile) : undefined
  const opts = { ...o, caFile: caFile?.path ?? undefined }
  try {
    const built = o.target === 'compose' ? await composeChecks(ctx, opts) : o.target === 'k8s' ? await k8sChecks(ctx, opts) : urlChecks(opts)
    return { checks: [...built.checks, ...extraChecks(opts)], cleanup: async () => { await built.cleanup(); caFile?.remove() } }
  } catch (e) {
    caFile?.remove()
    throw e
  }
}

/** A CA bundle of the system roots plus the given PEM: a self-signed pair and public certificates both verify. */
function withRoots(file: string): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'owp-ca-'))
  const path = join(dir, 'ca.pem')
  writeFileSync(path, [...rootCertificates, readFileSync(file, 'utf8')].join('\n'))
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

function extraChecks(o: ValidateOptions): HealthCheck[] {
  return (o.extra ?? []).map((spec) => {
    const eq = spec.indexOf('=')
    if (eq < 1) throw new UsageError(`--check wants NAME=URL (got "${spec}")`)
    const name = spec.slice(0, eq)
    const url = spec.slice(eq + 1)
    try { new URL(url) } catch { throw new UsageError(`--check ${name}: "${url}" is not a URL`) }
    return { name, component: name, critical: true, run: (a: Attempt) => httpCheck({ url, host: o.host, ...trust(o) }, a) }
  })
}

/** The public edge: Open WebUI's /health through the URL users open, and its certificate. */
function edgeChecks(o: ValidateOptions, base: string, host: string | undefined, critical: boolean): HealthCheck[] {
  const url = new URL(base)
  const checks: HealthCheck[] = [{
    name: `edge ${url.origin}/health${host ? ` (Host ${host})` : ''}`,
    component: 'openwebui',
    critical,
    run: (a) => httpCheck({ url: new URL('/health', url).toString(), host, ...trust(o) }, a),
  }]
  if (url.protocol === 'https:') {
    checks.push({
      name: `tls certificate ${host ?? url.hostname}`,
      component: 'tls',
      critical,
      run: (a) => tlsCheck({ host: url.hostname, port: Number(url.port || 443), servername: host ?? (isAddress(url.hostname) ? undefined : url.hostname), warnDays: o.certWarnDays, ...trust(o) }, a),
    })
  }
  return checks
}

function isAddress(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':')
}

function urlChecks(o: ValidateOptions): TargetChecks {
  if (!o.url && !o.extra?.length) throw new UsageError('--target url needs --url URL (and/or --check NAME=URL)')
  return { checks: o.url ? edgeChecks(o, o.url, o.host, true) : [], cleanup: async () => {} }
}

// ---- Compose ----------------------------------------------------------------------------------

async function composeChecks(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
  const file = resolve(ctx.cwd, o.composeFile ?? COMPOSE_FILE)
  if (!existsSync(file)) throw new UsageError(`compose file not found: ${file}`)
  const env = o.env ?? loadConfig(ctx, { envFile: o.envFile ?? undefined }).env
  const cli = await detectCompose(ctx)
  if (!cli) throw new KitError('no Docker Compose CLI found', 1, 'install the Docker Compose v2 plugin (docker compose)')
  const project: ComposeProject = { cli, file, name: env.COMPOSE_PROJECT_NAME || 'owp', envFile: o.envFile, profiles: composeProfiles(env) }
  const services = await composeServices(ctx, project, file, env)
  const running = (await containers(ctx, project, env)) ?? []
  const names = new Set(services.map((s) => s.name))

  const exec = (service: string, argv: string[], a: Attempt) =>
    ctx.exec(composeArgv(project, 'exec', '-T', service, ...argv), { allowFailure: true, timeout: a.timeoutMs + 1000, signal: a.signal, env })

  const checks: HealthCheck[] = []
  const temps: Array<{ remove(): void }> = []
  for (const s of services) {
    const component = componentOf(s.name)
    const critical = component !== 'monitoring'
    const test = healthcheckArgv(s)
    const check: HealthCheck = {
      name: `${s.name} ${test ? 'healthcheck' : 'running'}`,
      component,
      critical,
      async run(a): Promise<CheckOutcome> {
        if (!test) {
          const mine = running.filter((c) => c.service === s.name)
          return mine.length && mine.every((c) => c.state === 'running')
            ? { status: 'ok', detail: `${mine.length} container(s) running` }
            : { status: 'fail', detail: mine.length ? `state ${mine.map((c) => c.state).join(', ')}` : 'no container' }
        }
        const r = await exec(s.name, test, a)
        const out = (r.stdout + r.stderr).replace(/\s+/g, ' ').trim().slice(0, 80)
        return r.exitCode === 0 ? { status: 'ok', detail: 'healthcheck passed' } : { status: 'fail', detail: `healthcheck exit ${r.exitCode}${out ? `: ${out}` : ''}` }
      },
    }
    if (GRAPHRAG_DEPENDENCIES.has(s.name)) check.tags = ['graphrag']
    checks.push(check)
  }

  if (names.has('nginx')) {
    const host = o.host ?? env.DOMAIN
    const base = o.url ?? `https://127.0.0.1:${env.HTTPS_PORT || '443'}`
    // default trust: the certificate the stack serves (a self-signed first-run pair verifies too)
    // compose resolves host paths from the compose file's directory, and so does this
    const certFile = resolve(dirname(file), env.TLS_CERT_PATH || './nginx/certs/tls.crt')
    let trustOpts = o
    if (!o.caFile && !o.insecure && certFile && existsSync(certFile)) {
      const bundle = withRoots(certFile)
      temps.push(bundle)
      trustOpts = { ...o, caFile: bundle.path }
    }
    checks.push(...edgeChecks(trustOpts, base, o.url ? o.host : host, true))
    if (!o.url) {
      checks.push({
        name: `http :${env.HTTP_PORT || '80'} redirects to https`,
        component: 'edge',
        critical: false,
        async run(a) {
          const r = await httpRequest({ url: `http://127.0.0.1:${env.HTTP_PORT || '80'}/`, host, expect: () => true }, a)
          const loc = String(r.headers.location ?? '')
          return [301, 302, 307, 308].includes(r.status) && loc.startsWith('https://')
            ? { status: 'ok', detail: `${r.status} -> ${loc}` } : { status: 'fail', detail: `HTTP ${r.status}${loc ? ` -> ${loc}` : ''}` }
        },
      })
    }
  }

  const lightllm = env.LIGHTLLM_ENABLED !== 'false' && names.has('lightllm')
  if (lightllm && names.has('openwebui')) {
    checks.push({
      name: 'chat completion (openwebui -> lightllm)',
      component: 'lightllm',
      critical: true,
      timeoutMs: Math.max(o.timeoutMs ?? 0, 60_000),
      async run(a) {
        const body = JSON.stringify(chatBody(env.LLM_MODEL_NAME || 'default'))
        const r = await exec('openwebui', ['curl', '-sS', '-m', String(Math.ceil(a.timeoutMs / 1000)), '-H', 'content-type: application/json',
          // curl expands the two characters \\n itself: no raw newline in the argv (or in --dry-run)
          '-w', '\\n%{http_code}', '--data', body, 'http://lightllm:8000/v1/chat/completions'], a)
        if (r.exitCode !== 0) return { status: 'fail', detail: `curl exit ${r.exitCode}: ${r.stderr.trim().slice(0, 80)}` }
        const lines = r.stdout.trimEnd().split('\n')
        return chatOutcome(Number(lines.pop()), lines.join('\n'))
      },
    })
  } else if (env.OPENAI_API_BASE_URL) {
    const base = env.OPENAI_API_BASE_URL.replace(/\/+$/, '')
    checks.push({
      name: `chat completion (${new URL(base).host})`,
      component: 'llm',
      critical: true,
      timeoutMs: Math.max(o.timeoutMs ?? 0, 60_000),
      async run(a) {
        ctx.secrets.add(env.OPENAI_API_KEY)
        const r = await httpRequest({
          url: `${base}/chat/completions`, method: 'POST', body: JSON.stringify(chatBody(env.LLM_MODEL_NAME || 'default')), expect: () => true,
          headers: { 'content-type': 'application/json', ...(env.OPENAI_API_KEY && env.OPENAI_API_KEY !== 'none' ? { authorization: `Bearer ${env.OPENAI_API_KEY}` } : {}) },
        }, a)
        return chatOutcome(r.status, r.body, r.ms)
      },
    })
  }

  if (names.has('prometheus')) {
    checks.push({
      name: 'prometheus targets up', component: 'monitoring', critical: false,
      async run(a) {
        const r = await exec('prometheus', ['wget', '-qO-', 'http://127.0.0.1:9090/api/v1/targets?state=active'], a)
        return r.exitCode === 0 ? targetsOutcome(r.stdout) : { status: 'fail', detail: `wget exit ${r.exitCode}` }
      },
    })
  }
  if (names.has('grafana')) {
    checks.push({
      name: 'grafana reachable', component: 'monitoring', critical: false,
      async run(a) {
        const r = await exec('grafana', ['wget', '-qO-', 'http://127.0.0.1:3000/api/health'], a)
        return r.exitCode === 0 ? grafanaOutcome(200, r.stdout) : { status: 'fail', detail: `wget exit ${r.exitCode}` }
      },
    })
  }
  if (names.has('graphrag-processor')) {
    checks.push({
      name: 'graphrag /metrics', component: 'graphrag', critical: false,
      async run(a) {
        const r = await exec('graphrag-processor', ['python', '-c', 'import urllib.request as u; b = u.urlopen("http://127.0.0.1:8010/metrics", timeout=5).read().decode(); print(sum(1 for l in b.splitlines() if l and not l.startswith("#")))'], a)
        return r.exitCode === 0 ? { status: 'ok', detail: `${r.stdout.trim()} samples` } : { status: 'fail', detail: `exit ${r.exitCode}: ${r.stderr.trim().split('\n').pop()?.slice(0, 80) ?? ''}` }
      },
    })
  }
  return { checks, cleanup: async () => { for (const t of temps) t.remove() } }
}

// ---- Kubernetes -------------------------------------------------------------------------------

/** Health path and port name of chart components that serve HTTP. */
export const K8S_HEALTH: Record<string, { path: string; critical: boolean }> = {
  openwebui: { path: '/health', critical: true },
  lightllm: { path: '/health', critical: true },
  graphrag: { path: '/health', critical: true },
  mcp: { path: '/health', critical: true },
  qdrant: { path: '/readyz', critical: true },
}

interface Svc { metadata: { name: string; labels?: Record<string, string> }; spec: { ports?: Array<{ name?: string; port: number }> } }
interface Pod {
  metadata: { name: string; labels?: Record<string, string> }
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ name: string; ready: boolean; restartCount: number; state?: Record<string, { reason?: string }> }> }
}
interface Ingress { spec?: { rules?: Array<{ host?: string }>; tls?: Array<{ hosts?: string[] }> } }

export function freeLocalPort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address() as { port: number }; srv.close(() => res(port)) })
  })
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer()
    s.once('error', () => res(true)) // taken: kubectl listens there
    s.listen(port, '127.0.0.1', () => s.close(() => res(false)))
  })
}

export interface Forward { port: number; stop(): void }

/** `kubectl port-forward` to a local port, running until stop(); resolves once it listens. */
export async function portForward(ctx: Ctx, namespace: string, resource: string, remotePort: number, timeoutMs = 15_000): Promise<Forward> {
  const port = await freeLocalPort()
  const ac = new AbortController()
  let exited: { code: number; stderr: string } | null = null
  void ctx.exec(kubectl('port-forward', '--namespace', namespace, resource, `${port}:${remotePort}`, '--address', '127.0.0.1'), { signal: ac.signal, allowFailure: true })
    .then((r) => { exited = { code: r.exitCode, stderr: r.stderr } }, (e: Error) => { exited = { code: -1, stderr: e.message } })
  const deadline = Date.now() + timeoutMs
  while (!exited && !(await portOpen(port))) {
    if (Date.now() > deadline) { ac.abort(); throw new Error(`port-forward to ${resource} did not listen within ${timeoutMs}ms`) }
    await new Promise((r) => setTimeout(r, 100))
  }
  if (exited) throw new Error(`port-forward to ${resource} failed: ${(exited as { stderr: string }).stderr.trim().split('\n').pop() ?? ''}`)
  return { port, stop: () => ac.abort() }
}

async function k8sChecks(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
  const ns = o.namespace ?? 'openwebui-prod'
  const release = o.release ?? 'owp'
  const monNs = o.monitoringNamespace ?? 'monitoring'
  const selector = `app.kubernetes.io/instance=${release}`
  const forwards: Forward[] = []
  const cache = new Map<string, Promise<Forward>>()
  const forward = (namespace: string, resource: string, port: number) => {
    const key = `${namespace}/${resource}:${port}`
    if (!cache.has(key)) {
      const p = portForward(ctx, namespace, resource, port).then((f) => { forwards.push(f); return f })
      p.catch(() => cache.delete(key)) // a failed forward is retried by the next attempt
      cache.set(key, p)
    }
    return cache.get(key)!
  }
  const [svcs, ingresses] = await Promise.all([
    getJson<{ items?: Svc[] }>(ctx, kubectl('get', 'services', '--namespace', ns, '--selector', selector, '--output', 'json', '--request-timeout', '15s')),
    getJson<{ items?: Ingress[] }>(ctx, kubectl('get', 'ingresses', '--namespace', ns, '--selector', selector, '--output', 'json', '--request-timeout', '15s')),
  ])
  if (!svcs) throw new KitError(`cannot list the services of release ${release} in ${ns}`, 1, 'check the kube context (kubectl config current-context) and --namespace/--release')

  const helm = await detectHelm(ctx).catch(() => null)
  const checks: HealthCheck[] = [{
    name: `pods of ${release} ready`,
    component: 'pods',
    critical: true,
    async run(a) {
      const pods = await getJson<{ items?: Pod[] }>(ctx, kubectl('get', 'pods', '--namespace', ns, '--selector', selector, '--output', 'json', '--request-timeout', `${Math.ceil(a.timeoutMs / 1000)}s`), a.timeoutMs)
      if (!pods) return { status: 'fail', detail: 'cannot list pods' }
      const live = (pods.items ?? []).filter((p) => p.status?.phase !== 'Succeeded' && !p.metadata.name.includes('-test-'))
      const notReady = live.filter((p) => !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      if (!live.length) return { status: 'fail', detail: 'no pods' }
      if (notReady.length) {
        const why = (p: Pod) => p.status?.containerStatuses?.map((c) => Object.values(c.state ?? {})[0]?.reason).filter(Boolean).join(',') || p.status?.phase
        return { status: 'fail', detail: `${notReady.length}/${live.length} not ready: ${notReady.slice(0, 4).map((p) => `${p.metadata.name} (${why(p)})`).join(', ')}` }
      }
      return { status: 'ok', detail: `${live.length} pods ready` }
    },
  }]

  if (helm) {
    // the chart's own test pod probes every enabled service from inside the namespace
    checks.push({
      name: `helm test ${release}`,
      component: 'chart',
      critical: true,
      retries: 0,
      timeoutMs: Math.max(o.timeoutMs ?? 0, 300_000),
      async run(a) {
        const r = await ctx.exec(testArgv(helm, release, ns, `${Math.ceil(a.timeoutMs / 1000)}s`), { allowFailure: true, timeout: a.timeoutMs + 5000, signal: a.signal })
        const last = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).pop() ?? ''
        return r.exitCode === 0 ? { status: 'ok', detail: 'chart tests passed' } : { status: 'fail', detail: `exit ${r.exitCode}: ${last.slice(0, 100)}` }
      },
    })
  }

  for (const svc of svcs.items ?? []) {
    const comp = svc.metadata.labels?.['app.kubernetes.io/component'] ?? ''
    const health = K8S_HEALTH[comp]
    const port = svc.spec.ports?.find((p) => p.name === 'http') ?? svc.spec.ports?.[0]
    if (!health || !port) continue
    checks.push({
      name: `${comp} ${health.path} (port-forward svc/${svc.metadata.name})`,
      component: componentOf(comp),
      critical: health.critical,
      async run(a) {
        const f = await forward(ns, `svc/${svc.metadata.name}`, port.port)
        return httpCheck({ url: `http://127.0.0.1:${f.port}${health.path}` }, a)
      },
    })
    if (comp === 'lightllm') {
      checks.push({
        name: 'chat completion (lightllm)',
        component: 'lightllm',
        critical: true,
        timeoutMs: Math.max(o.timeoutMs ?? 0, 60_000),
        async run(a) {
          const f = await forward(ns, `svc/${svc.metadata.name}`, port.port)
          let model = o.env?.LLM_MODEL_NAME
          if (!model) {
            const m = await httpRequest({ url: `http://127.0.0.1:${f.port}/v1/models` }, a)
            model = (JSON.parse(m.body) as { data?: Array<{ id: string }> }).data?.[0]?.id ?? 'default'
          }
          const r = await httpRequest({ url: `http://127.0.0.1:${f.port}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatBody(model)), expect: () => true }, a)
          return chatOutcome(r.status, r.body, r.ms)
        },
      })
    }
  }

  const ing = ingresses?.items?.[0]
  const ingressHost = ing?.spec?.rules?.find((r) => r.host)?.host
  if (o.url) checks.push(...edgeChecks(o, o.url, o.host, true))
  else if (ingressHost) {
    const scheme = ing?.spec?.tls?.length ? 'https' : 'http'
    // DNS may not point at the new ingress yet: the discovered URL warns instead of failing
    checks.push(...edgeChecks(o, `${scheme}://${ingressHost}`, undefined, false))
  }

  checks.push({
    name: `prometheus targets of ${ns} up`, component: 'monitoring', critical: false,
    async run(a) {
      const f = await forward(monNs, 'svc/kube-prometheus-stack-prometheus', 9090)
      const r = await httpRequest({ url: `http://127.0.0.1:${f.port}/api/v1/targets?state=active` }, a)
      return targetsOutcome(r.body, (l) => l.namespace === ns)
    },
  }, {
    name: 'grafana reachable', component: 'monitoring', critical: false,
    async run(a) {
      const f = await forward(monNs, 'svc/kube-prometheus-stack-grafana', 80)
      const r = await httpRequest({ url: `http://127.0.0.1:${f.port}/api/health`, expect: () => true }, a)
      return grafanaOutcome(r.status, r.body)
    },
  })
  return { checks, cleanup: async () => { for (const f of forwards) f.stop() } }
}
