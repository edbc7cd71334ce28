// make validate-prod / test-graphrag: concurrent health and smoke checks of a running deployment.
import { resolve } from 'node:path'
import { run } from './lib/core/cli.ts'
import { UsageError } from './lib/core/errors.ts'
import { COMPOSE_FILE } from './lib/core/paths.ts'
import { detectTarget } from './lib/deploy/target.ts'
import { validateDeployment } from './lib/validate/index.ts'
import { durationMs, checkDuration } from './lib/tools/helm.ts'
import { K8S_DEFAULTS } from './lib/deploy/target.ts'

export const usage = `Usage: tsx scripts/validate-prod.ts [--target k8s|compose|url] [options]

Runs every check at once, each with its own timeout and retries: the health endpoint of each
enabled service, one OpenAI chat completion, the TLS certificate (validity, days left), the public
edge, Prometheus targets, Grafana. Prints a table (or --json); exits 1 when a critical check fails.
Compose: the edge through NGINX (https://127.0.0.1:HTTPS_PORT, Host: DOMAIN); inside the stack,
where no other port is published, each service's own healthcheck through \`compose exec\`.
Kubernetes: pods ready, each component through \`kubectl port-forward\`, the ingress URL.

      --target T            k8s, compose or url (default: detected like deploy)
      --component C         only the checks of one component (graphrag: make test-graphrag)
      --url URL             public URL to check (compose default https://127.0.0.1:HTTPS_PORT)
      --host NAME           Host header and TLS name when --url is an address
      --check NAME=URL      an extra HTTP health check (repeatable)
      --insecure            accept any TLS certificate
      --ca-file F           trust this CA or self-signed certificate (plus the system roots)
      --check-timeout D     per-attempt timeout (default 10s; the chat completion gets >= 60s)
      --retries N           retries of a failing check (default 2)
      --cert-warn-days N    warn when the certificate expires sooner (default 21)
      --env-file F          .env (compose)
      --file F              compose file (compose)
      --namespace NS        namespace (k8s, default ${K8S_DEFAULTS.namespace})
      --release NAME        release (k8s, default ${K8S_DEFAULTS.release})
      --monitoring-namespace NS  where kube-prometheus-stack runs (k8s, default monitoring)`

await run(usage, {
  target: { type: 'string' },
  component: { type: 'string' },
  url: { type: 'string' },
  host: { type: 'string' },
  check: { type: 'string', multiple: true },
  insecure: { type: 'boolean' },
  'ca-file': { type: 'string' },
  'check-timeout': { type: 'string' },
  retries: { type: 'string' },
  'retry-delay': { type: 'string' },
  'cert-warn-days': { type: 'string' },
  'env-file': { type: 'string' },
  file: { type: 'string' },
  namespace: { type: 'string' },
  release: { type: 'string' },
  'monitoring-namespace': { type: 'string' },
}, async (ctx, f) => {
  const t = f.target
  if (t !== undefined && !['k8s', 'compose', 'url'].includes(t)) throw new UsageError(`--target must be k8s, compose or url (got "${t}")`)
  const target = (t ?? ((f.url || f.check?.length) && !t ? 'url' : (await detectTarget(ctx, {})).target)) as 'k8s' | 'compose' | 'url'
  const int = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number (got "${v}")`)
    return Number(v)
  }
  const report = await validateDeployment(ctx, {
    target,
    component: f.component,
    url: f.url,
    host: f.host,
    extra: f.check,
    insecure: f.insecure,
    caFile: f['ca-file'] && resolve(ctx.cwd, f['ca-file']),
    timeoutMs: f['check-timeout'] ? durationMs(checkDuration(f['check-timeout'], '--check-timeout')) : undefined,
    retries: int('retries', f.retries),
    retryDelayMs: f['retry-delay'] ? durationMs(checkDuration(f['retry-delay'], '--retry-delay')) : undefined,
    certWarnDays: int('cert-warn-days', f['cert-warn-days']),
    envFile: f['env-file'] && resolve(ctx.cwd, f['env-file']),
    composeFile: f.file ? resolve(ctx.cwd, f.file) : COMPOSE_FILE,
    namespace: f.namespace ?? K8S_DEFAULTS.namespace,
    release: f.release ?? K8S_DEFAULTS.release,
    monitoringNamespace: f['monitoring-namespace'],
  })
  const failed = report.results.filter((r) => r.status === 'fail' && r.critical).length
  return {
    exitCode: report.ok ? 0 : 1,
    data: report,
    text: report.ok ? `ok: ${report.results.length} checks passed or warned` : `FAILED: ${failed} critical check(s)`,
  }
}, { examples: ['make validate-prod',
  'make validate-prod ARGS="--target compose --insecure --json"',
  'make test-graphrag'] })
