// make helm-install: the infra releases of helm/infra.yaml and/or the platform chart, no validation.
import { run } from './lib/core/cli.ts'
import { UsageError } from './lib/core/errors.ts'
import { deployK8s, k8sOptionsFrom, K8S_DEFAULTS, K8S_FLAGS } from './lib/deploy/k8s.ts'

export const usage = `Usage: tsx scripts/helm-install.ts [--infra-only | --chart-only] [options]

helm upgrade --install of the infra releases (helm/infra.yaml: pinned, only when missing or drifted,
in parallel) and of the platform chart, with the wait and rollback flags of the installed helm
(v4: --wait=watcher --rollback-on-failure --cleanup-on-fail; v3: --atomic --wait).
Use make deploy-k8s for the full flow with validation and rollback.

      --infra-only          only the infra releases
      --chart-only          only the platform chart (same as --no-infra)
      --namespace NS        namespace of the release (default ${K8S_DEFAULTS.namespace})
      --release NAME        release name (default ${K8S_DEFAULTS.release})
      --values F            chart values file (repeatable; later files win)
      --chart DIR           chart directory (default helm/openwebui-platform)
      --timeout D           helm --timeout (default ${K8S_DEFAULTS.timeout})
      --history-max N       helm revisions kept (default ${K8S_DEFAULTS.historyMax})
      --skip-infra NAME     leave one infra release out (repeatable)
      --env-file F          .env with the values the infra secrets need (default ./.env if present)
      --skip-checks         skip the preflight checks`

await run(usage, {
  'infra-only': { type: 'boolean' },
  'chart-only': { type: 'boolean' },
  'no-infra': { type: 'boolean' },
  ...K8S_FLAGS,
}, async (ctx, f) => {
  if (f['infra-only'] && (f['chart-only'] || f['no-infra'])) throw new UsageError('--infra-only and --chart-only exclude each other')
  const outcome = await deployK8s(ctx, k8sOptionsFrom(ctx, f, {
    infra: !(f['chart-only'] || f['no-infra']),
    app: !f['infra-only'],
    validate: false,
  }))
  if (!ctx.dryRun) (outcome.ok ? ctx.log.info : ctx.log.error).call(ctx.log, outcome.summary)
  return { exitCode: outcome.ok ? 0 : 1, data: outcome, text: ctx.dryRun ? undefined : outcome.summary }
}, { examples: ['make helm-install ARGS="--dry-run --skip-checks"',
  'make helm-install ARGS="--infra-only"',
  'make helm-install ARGS="--chart-only --values prod.yaml"'],
  exitCodes: { 75: 'another deploy of the same release holds the lock' } })
