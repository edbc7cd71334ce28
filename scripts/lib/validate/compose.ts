// validate-prod on Compose: the edge through NGINX, each service's own healthcheck in its running
// containers (`docker exec`; the list read from `compose config` at run time), one chat completion,
// Prometheus targets and Grafana from inside their containers.
import { existsSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { KitError, UsageError } from '../core/errors.ts'
import { COMPOSE_FILE } from '../core/paths.ts'
import { loadConfig } from '../core/config.ts'
import { detectCompose, composeArgv, composeExtraFiles, composeProfiles, composeServices, containers, healthcheckArgv, type ComposeProject } from '../tools/compose.ts'
import { httpRequest, chatOutcome, chatBody, freshTargetsOutcome, grafanaOutcome } from './probes.ts'
import { componentOf, edgeChecks, externalChatCheck, withRoots, GRAPHRAG_DEPENDENCIES } from './edges.ts'
import type { TargetChecks } from './types.ts'
import type { HealthCheck, CheckOutcome, ValidateOptions, Attempt } from './types.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason, exitCodeAndWhy } from '../core/exec.ts'

export async function composeChecks(ctx: Ctx, o: ValidateOptions): Promise<TargetChecks> {
  const file = resolve(ctx.cwd, o.composeFile ?? COMPOSE_FILE)
  if (!existsSync(file)) throw new UsageError(`compose file not found: ${file}`)
  const env = o.env ?? loadConfig(ctx, { envFile: o.envFile ?? undefined }).env
  const cli = o.composeKnown?.cli ?? await detectCompose(ctx)
  if (!cli) throw new KitError('no Docker Compose CLI found', 1, 'install the Docker Compose v2 plugin (docker compose)')
  const project: ComposeProject = { cli, file, name: env.COMPOSE_PROJECT_NAME || 'owp', envFile: o.envFile, profiles: composeProfiles(env), extraFiles: composeExtraFiles(env, file) }
  // three reads that do not depend on each other: at once
  const [dockerCli, services, listed] = await Promise.all([requireEngine(ctx), o.composeKnown?.services ?? composeServices(ctx, project, file, env), containers(ctx, project, env)])
  const running = listed ?? []
  const names = new Set(services.map((s) => s.name))
  const up = (service: string) => running.filter((c) => c.service === service && c.state === 'running')

  // `docker exec` into the container the project's `ps` listed: what `compose exec -T` does, without
  // loading the whole project again for every check (a compose process each: on 2 cores, a dozen at
  // once took seconds). Compose v1 without the docker CLI, or a service not listed running: compose exec.
  const exec = (service: string, argv: string[], a: Attempt, container = up(service)[0]) => container && dockerCli
    ? ctx.exec(['docker', 'exec', container.id, ...argv], { allowFailure: true, timeout: a.timeoutMs + 1000, signal: a.signal })
    : ctx.exec(composeArgv(project, 'exec', '-T', service, ...argv), { allowFailure: true, timeout: a.timeoutMs + 1000, signal: a.signal, env })

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
        // every replica that runs must pass (compose exec would ask the first one only)
        const replicas = up(s.name)
        if (replicas.length > 1 && dockerCli) {
          const rs = await Promise.all(replicas.map((c) => exec(s.name, test, a, c)))
          const bad = rs.map((r, i) => ({ r, c: replicas[i]! })).filter(({ r }) => r.exitCode !== 0)
          return bad.length
            ? { status: 'fail', detail: `healthcheck of ${bad.map(({ c }) => c.name ?? c.id.slice(0, 12)).join(', ')}: exit ${exitCodeAndWhy(ctx, bad[0]!.r, 2).slice(0, 110)}` }
            : { status: 'ok', detail: `healthcheck passed (${replicas.length} replicas)` }
        }
        const r = await exec(s.name, test, a)
        return r.exitCode === 0 ? { status: 'ok', detail: 'healthcheck passed' } : { status: 'fail', detail: `healthcheck exit ${exitCodeAndWhy(ctx, r, 2).slice(0, 130)}` }
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

  if (names.has('openwebui')) {
    // its own API, not only /health: a release that starts but cannot serve (a schema it broke) fails here
    checks.push({
      name: 'openwebui API (/api/config)',
      component: 'openwebui',
      critical: true,
      async run(a) {
        const r = await exec('openwebui', ['curl', '-fsS', '-m', String(Math.max(1, Math.ceil(a.timeoutMs / 1000))), '-o', '/dev/null', 'http://127.0.0.1:8080/api/config'], a)
        return r.exitCode === 0 ? { status: 'ok', detail: 'answers' } : { status: 'fail', detail: `curl exit ${exitCodeAndWhy(ctx, r, 1).slice(0, 130)}` }
      },
    })
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
        if (r.exitCode !== 0) return { status: 'fail', detail: `curl exit ${exitCodeAndWhy(ctx, r, 1).slice(0, 130)}` }
        const lines = r.stdout.trimEnd().split('\n')
        return chatOutcome(Number(lines.pop()), lines.join('\n'))
      },
    })
  } else {
    // A stack nothing answers chats on is not valid: say so instead of skipping the check.
    checks.push(externalChatCheck(ctx, env, { timeoutMs: o.timeoutMs, none: lightllm ? 'Open WebUI is not in the stack' : 'LightLLM is off (or not in the stack) and OPENAI_API_BASE_URL is empty' }))
  }

  if (names.has('prometheus')) {
    checks.push({
      name: 'prometheus targets up', component: 'monitoring', critical: false,
      // a target down is judged again on a newer scrape of it (Prometheus' next: one interval, 15 s here)
      timeoutMs: Math.max(o.timeoutMs ?? 0, 30_000),
      retries: Math.min(o.retries ?? 2, 1), // each attempt already waits for the next scrape
      async run(a) {
        const get = async () => {
          const r = await exec('prometheus', ['wget', '-qO-', 'http://127.0.0.1:9090/api/v1/targets?state=active'], a)
          if (r.exitCode !== 0) throw new KitError(`wget exit ${exitCodeAndWhy(ctx, r, 1).slice(0, 110)}`)
          return r.stdout
        }
        // a target Prometheus has not reached yet is scraped once from Prometheus' own container:
        // the same network and URL as its scrape, without waiting up to an interval for its turn
        const scrape = async (url: string) => {
          const r = await exec('prometheus', ['wget', '-qO-', '-T', '5', url], a)
          return r.exitCode === 0 ? r.stdout : null
        }
        return freshTargetsOutcome(get, () => true, { signal: a.signal, scrape })
      },
    })
  }
  if (names.has('grafana')) {
    checks.push({
      name: 'grafana reachable', component: 'monitoring', critical: false,
      async run(a) {
        const r = await exec('grafana', ['wget', '-qO-', 'http://127.0.0.1:3000/api/health'], a)
        return r.exitCode === 0 ? grafanaOutcome(200, r.stdout) : { status: 'fail', detail: `wget exit ${exitCodeAndWhy(ctx, r, 1).slice(0, 110)}` }
      },
    })
  }
  if (names.has('graphrag-processor')) {
    checks.push({
      name: 'graphrag /metrics', component: 'graphrag', critical: false,
      async run(a) {
        const r = await exec('graphrag-processor', ['python', '-c', 'import urllib.request as u; b = u.urlopen("http://127.0.0.1:8010/metrics", timeout=5).read().decode(); print(sum(1 for l in b.splitlines() if l and not l.startswith("#")))'], a)
        return r.exitCode === 0 ? { status: 'ok', detail: `${r.stdout.trim()} samples` } : { status: 'fail', detail: `exit ${exitCodeAndWhy(ctx, r, 1).slice(0, 130)}` }
      },
    })
  }
  return { checks, cleanup: async () => { for (const t of temps) t.remove() } }
}

/**
 * No engine: one line at once, instead of every check retrying against a socket nobody listens on.
 * True when the docker CLI answered; false when there is none (Compose v1 alone: compose itself will tell).
 */
async function requireEngine(ctx: Ctx): Promise<boolean> {
  const r = await ctx.exec(['docker', 'version', '--format', '{{.Server.Version}}'], { allowFailure: true, timeout: 8_000 }).catch(() => null)
  if (!r || r.exitCode === 127) return false
  if (r.exitCode === 0) return true
  const why = failureReason(ctx, r, 1)
  throw new KitError(`no Docker engine answers: ${why}`, 1, 'start it (systemctl start docker) or point DOCKER_HOST at one; make e2e-setup ARGS=--keep starts a private one')
}
