// make deploy-prod / deploy-k8s / deploy-docker: plan, check, apply, validate, roll back on failure.
import { resolve } from 'node:path'
import { run } from './lib/core/cli.ts'
import { COMPOSE_FILE } from './lib/core/paths.ts'
import { detectTarget } from './lib/deploy/target.ts'
import { deployK8s, k8sOptionsFrom, K8S_DEFAULTS, K8S_FLAGS } from './lib/deploy/k8s.ts'
import { deployCompose } from './lib/deploy/compose.ts'
import type { Strategy } from './lib/deploy/strategies.ts'
import { checkDuration, durationMs } from './lib/tools/helm.ts'

export const usage = `Usage: tsx scripts/deploy.ts [--kubernetes | --docker-compose] [options]

Deploys the platform. Without a target flag: a reachable kube context means Kubernetes, else a
running Docker engine means Docker Compose. --dry-run prints the whole plan, exactly as it would
run (secrets masked); with --skip-checks it needs neither a cluster nor a Docker engine.

Target:
      --kubernetes          deploy the Helm chart to the current kube context
      --docker-compose      deploy compose/docker-compose.prod.yml on this host
Both:
      --env-file F          the .env to use (default ./.env)
      --skip-checks         skip the preflight checks
      --timeout D           how long workloads may take to get ready (default 20m)
      --url URL             public URL validate-prod checks (default: ingress / nginx on 127.0.0.1)
      --insecure            accept any TLS certificate during validation
      --ca-file F           trust this CA (or self-signed certificate) during validation
      --no-validate         skip validate-prod after the deploy (and so the rollback on failure)
      --validate-timeout D  how long each validation check may take per attempt (default 10s)
Kubernetes:
      --namespace NS        namespace of the release (default ${K8S_DEFAULTS.namespace})
      --release NAME        release name (default ${K8S_DEFAULTS.release})
      --values F            chart values file (repeatable; later files win)
      --chart DIR           chart directory (default helm/openwebui-platform)
      --no-infra            do not install the infra releases of helm/infra.yaml
      --skip-infra NAME     leave one infra release out (repeatable)
      --history-max N       helm revisions kept (default ${K8S_DEFAULTS.historyMax})
Compose:
      --file F              compose file (default compose/docker-compose.prod.yml)
      --strategy S          bluegreen (default): Open WebUI, the GraphRAG API, the MCP server and the
                            Celery worker start beside their old version and NGINX switches to them
                            once healthy (no downtime); recreate: stop each, then start its successor
      --drain-timeout D     how long the old NGINX workers may finish their requests (streams,
                            websockets) after a switch before the old containers stop (default 2m)`

await run(usage, {
  kubernetes: { type: 'boolean' },
  'docker-compose': { type: 'boolean' },
  ...K8S_FLAGS,
  'no-infra': { type: 'boolean' },
  file: { type: 'string' },
  url: { type: 'string' },
  insecure: { type: 'boolean' },
  'ca-file': { type: 'string' },
  'no-validate': { type: 'boolean' },
  'validate-timeout': { type: 'string' },
  strategy: { type: 'string' },
  'drain-timeout': { type: 'string' },
}, async (ctx, f) => {
  const { target, reason } = await detectTarget(ctx, { kubernetes: f.kubernetes, compose: f['docker-compose'] })
  ctx.log.info(`target: ${target === 'k8s' ? 'Kubernetes' : 'Docker Compose'} (${reason})`)
  const validateArgs = {
    insecure: f.insecure, caFile: f['ca-file'] && resolve(ctx.cwd, f['ca-file']), url: f.url,
    ...(f['validate-timeout'] ? { timeoutMs: durationMs(checkDuration(f['validate-timeout'], '--validate-timeout')) } : {}),
  }
  const envFile = f['env-file'] && resolve(ctx.cwd, f['env-file'])
  const outcome = target === 'k8s'
    ? await deployK8s(ctx, k8sOptionsFrom(ctx, f, { infra: !f['no-infra'], app: true, validate: !f['no-validate'], validateArgs }))
    : await deployCompose(ctx, {
      file: f.file ?? COMPOSE_FILE,
      envFile,
      timeout: f.timeout ?? K8S_DEFAULTS.timeout,
      skipChecks: Boolean(f['skip-checks']),
      validate: !f['no-validate'],
      validateArgs,
      strategy: f.strategy as Strategy | undefined,
      drainTimeout: f['drain-timeout'],
    })
  if (!ctx.dryRun) (outcome.ok ? ctx.log.info : ctx.log.error).call(ctx.log, outcome.summary)
  return { exitCode: outcome.ok ? 0 : 1, data: outcome, text: ctx.dryRun ? undefined : outcome.summary }
}, { examples: ['make init && make deploy-prod',
  'make deploy-docker ARGS="--dry-run --skip-checks"',
  'make deploy-k8s ARGS="--values prod.yaml --timeout 30m"'],
  exitCodes: { 75: 'another deploy of the same target (or a backup or restore of its stores) holds the lock' } })
