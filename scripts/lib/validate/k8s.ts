// validate-prod on Kubernetes: the release's workloads rolled out (workloads.ts), the chart's helm test, each component
// that serves HTTP through its own `kubectl port-forward`, a chat completion to LightLLM, the
// ingress URL and certificate, kube-prometheus-stack's targets and Grafana.
import { freePort, portFree } from '../core/net.ts'
import { KitError } from '../core/errors.ts'
import { kubectl, getJson } from '../tools/kube.ts'
import { detectHelm, testArgv } from '../tools/helm.ts'
import { httpCheck, httpRequest, chatOutcome, chatBody, freshTargetsOutcome, grafanaOutcome } from './probes.ts'
import { componentOf, edgeChecks, externalChatCheck } from './edges.ts'
import { rolloutsCheck } from './rollouts.ts'
import type { TargetChecks } from './types.ts'
import type { HealthCheck, ValidateOptions } from './types.ts'
import { maintenanceCheck } from './k8s-maintenance.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason, exitCodeAndWhy } from '../core/exec.ts'
import { judgeRelease, WORKLOAD_KINDS, type KubeObject, type Verdict } from './workloads.ts'

/** `kubectl get` of the release's workloads and everything that explains their pods, in one call. */
export function workloadsArgv(ns: string, selector: string, timeoutS: number): string[] {
  return kubectl('get', WORKLOAD_KINDS.join(','), '--namespace', ns, '--selector', selector, '--output', 'json', '--request-timeout', `${timeoutS}s`)
}

const rows = (vs: Verdict[]) => vs.slice(0, 6).map((v) => `${v.name} ${v.detail}`).join('; ') + (vs.length > 6 ? `; +${vs.length - 6} more` : '')

/** The release judged by its workloads (critical), and the pods outside them reported (never fatal). */
export function workloadChecks(ctx: Ctx, ns: string, release: string, selector: string): HealthCheck[] {
  // the verdict, or why kubectl could not list (no rights, no cluster): the check says which
  const judge = async (a: { timeoutMs: number }): Promise<{ v: ReturnType<typeof judgeRelease>; why?: never } | { v: null; why: string }> => {
    const r = await ctx.exec(workloadsArgv(ns, selector, Math.ceil(a.timeoutMs / 1000)), { allowFailure: true, timeout: a.timeoutMs })
      .catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }))
    if (r.exitCode !== 0) return { v: null, why: failureReason(ctx, r, 1) }
    try { return { v: judgeRelease((JSON.parse(r.stdout) as { items?: KubeObject[] }).items ?? []) } } catch { return { v: null, why: 'kubectl printed no JSON' } }
  }
  return [{
    name: `workloads of ${release} rolled out`,
    component: 'pods',
    critical: true,
    async run(a) {
      const { v, why } = await judge(a)
      if (!v) return { status: 'fail', detail: `cannot list the workloads: ${why}` }
      if (!v.workloads.length) return { status: 'fail', detail: 'no Deployment, StatefulSet or DaemonSet of the release' }
      const failed = v.workloads.filter((w) => w.status === 'fail')
      const warned = v.workloads.filter((w) => w.status === 'warn')
      if (failed.length) return { status: 'fail', detail: `${failed.length}/${v.workloads.length} not rolled out: ${rows(failed)}`, data: v }
      if (warned.length) return { status: 'warn', detail: `${v.workloads.length - warned.length}/${v.workloads.length} rolled out; ${rows(warned)}`, data: v }
      return { status: 'ok', detail: `${v.workloads.length} workloads rolled out`, data: v }
    },
  }, {
    name: `pods of ${release} outside a rolled-out workload`,
    component: 'pods',
    critical: false,
    async run(a) {
      const { v, why } = await judge(a)
      if (!v) return { status: 'warn', detail: `cannot list the pods: ${why}` }
      if (!v.pods.length) return { status: 'ok', detail: 'none' }
      return { status: v.pods.some((p) => p.status === 'warn') ? 'warn' : 'ok', detail: rows(v.pods), data: v.pods }
    },
  }]
}

/** Health path and port name of chart components that serve HTTP. */
export const K8S_HEALTH: Record<string, { path: string; critical: boolean }> = {
  openwebui: { path: '/health', critical: true },
  lightllm: { path: '/health', critical: true },
  'graphrag-processor': { path: '/health', critical: true },
  'mcp-server': { path: '/health', critical: true },
  qdrant: { path: '/readyz', critical: true },
}

interface Svc { metadata: { name: string; labels?: Record<string, string> }; spec: { clusterIP?: string; ports?: Array<{ name?: string; port: number }> } }
interface Ingress { spec?: { rules?: Array<{ host?: string }>; tls?: Array<{ hosts?: string[] }> } }

export interface Forward { port: number; stop(): void }

/** `kubectl port-forward` to a local port, running until stop(); resolves once it listens. */
export async function portForward(ctx: Ctx, namespace: string, resource: string, remotePort: number, timeoutMs = 15_000): Promise<Forward> {
  const port = await freePort()
  const ac = new AbortController()
  let exited: { code: number; stderr: string } | null = null
  void ctx.exec(kubectl('port-forward', '--namespace', namespace, resource, `${port}:${remotePort}`, '--address', '127.0.0.1'), { signal: ac.signal, allowFailure: true })
    .then((r) => { exited = { code: r.exitCode, stderr: r.stderr } }, (e: Error) => { exited = { code: -1, stderr: e.message } })
  const deadline = Date.now() + timeoutMs
  while (!exited && (await portFree(port, '127.0.0.1'))) {
    if (Date.now() > deadline) { ac.abort(); throw new Error(`port-forward to ${resource} did not listen within ${timeoutMs}ms`) }
    await new Promise((r) => setTimeout(r, 100))
  }
  if (exited) {
    const e = exited as { code: number; stderr: string }
    throw new Error(`port-forward to ${resource} failed: ${failureReason(ctx, { exitCode: e.code, stderr: e.stderr, stdout: '' }, 1)}`)
  }
  return { port, stop: () => ac.abort() }
}

/** The release's services; when kubectl fails, its own reason (no cluster, no rights) in the error, not only that it failed. */
async function listServices(ctx: Ctx, ns: string, selector: string, release: string): Promise<{ items?: Svc[] }> {
  const r = await ctx.exec(kubectl('get', 'services', '--namespace', ns, '--selector', selector, '--output', 'json', '--request-timeout', '15s'), { allowFailure: true, timeout: 20_000 })
    .catch((e: Error) => ({ exitCode: 1, stdout: '', stderr: e.message }))
  let parsed: { items?: Svc[] } | null = null
  if (r.exitCode === 0) { try { parsed = JSON.parse(r.stdout) as { items?: Svc[] } } catch { /* below */ } }
  if (!parsed) {
    throw new KitError(`cannot list the services of release ${release} in ${ns}: ${r.exitCode === 0 ? 'kubectl printed no JSON' : failureReason(ctx, r)}`, 1,
      'check the kube context (kubectl config current-context) and --namespace/--release')
  }
  return parsed
}

export async function k8sChecks(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
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
    listServices(ctx, ns, selector, release),
    getJson<{ items?: Ingress[] }>(ctx, kubectl('get', 'ingresses', '--namespace', ns, '--selector', selector, '--output', 'json', '--request-timeout', '15s')),
  ])

  const helm = await detectHelm(ctx).catch(() => null)
  const checks: HealthCheck[] = workloadChecks(ctx, ns, release, selector)

  checks.push(rolloutsCheck(ctx, ns, selector))

  checks.push(maintenanceCheck(ctx, ns, release))
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
        return r.exitCode === 0 ? { status: 'ok', detail: 'chart tests passed' } : { status: 'fail', detail: `exit ${exitCodeAndWhy(ctx, r, 1).slice(0, 130)}` }
      },
    })
  }

  for (const svc of svcs.items ?? []) {
    const comp = svc.metadata.labels?.['app.kubernetes.io/component'] ?? ''
    const health = K8S_HEALTH[comp]
    if (svc.spec.clusterIP === 'None') continue // headless twin of a StatefulSet's service
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

  // LightLLM off: the chats go to the external endpoint the chart was given (openwebui.llm.baseUrl from
  // OPENAI_API_BASE_URL), or nowhere, which fails: a deployment that cannot answer chats is not valid
  if (!(svcs.items ?? []).some((svc) => svc.metadata.labels?.['app.kubernetes.io/component'] === 'lightllm')) {
    checks.push(externalChatCheck(ctx, o.env ?? {}, { timeoutMs: o.timeoutMs, none: `no LightLLM service in release ${release} (${ns}) and OPENAI_API_BASE_URL is empty (pass the .env the release was installed from: --env-file)` }))
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
    // a target down is judged again on Prometheus' next scrape of it (a pod the rollout replaced)
    timeoutMs: Math.max(o.timeoutMs ?? 0, 60_000),
    retries: Math.min(o.retries ?? 2, 1), // each attempt already waits for the next scrape
    async run(a) {
      const f = await forward(monNs, 'svc/kube-prometheus-stack-prometheus', 9090)
      const get = async () => (await httpRequest({ url: `http://127.0.0.1:${f.port}/api/v1/targets?state=active` }, a)).body
      return freshTargetsOutcome(get, (l) => l.namespace === ns, { signal: a.signal })
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
