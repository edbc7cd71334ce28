// validate-prod on Kubernetes: a store a killed backup run left scaled to 0 (its StatefulSet marked
// owp.io/scaled-down-by-backup) is scaled back and reported, so the platform does not stay degraded.
import type { Ctx } from '../core/context.ts'
import { kubectl } from '../tools/kube.ts'
import { repairScaledDown } from '../tools/kube-maintenance.ts'
import type { HealthCheck } from './types.ts'

export function maintenanceCheck(ctx: Ctx, namespace: string, release: string): HealthCheck {
  return {
    name: 'no store left scaled down by a backup',
    component: 'backup',
    critical: false,
    retries: 0,
    async run() {
      const repaired = ctx.dryRun ? [] : await repairScaledDown(ctx, kubectl(), namespace, release)
      return repaired.length ? { status: 'warn', detail: `repaired: ${repaired.join('; ')}` } : { status: 'ok', detail: 'none' }
    },
  }
}
