// How a compose deploy replaces the containers of a running stack: `recreate` (compose's own: stop
// the old, start the new) or `bluegreen` (the default: the stateless services are started beside
// the old ones and switched by NGINX; data stores and singletons are recreated as before).
import { UsageError } from '../core/errors.ts'
import { checkDuration } from '../tools/helm.ts'
import type { ContainerState } from '../tools/compose.ts'

export type Strategy = 'bluegreen' | 'recreate'
export const STRATEGIES: Strategy[] = ['bluegreen', 'recreate']

/**
 * The services a blue-green upgrade starts beside their old version. Everything else (data stores,
 * Celery beat, Prometheus, NGINX itself...) must never run twice at once, or has no users to keep.
 */
export const BLUE_GREEN_SERVICES = ['graphrag-processor', 'celery-worker', 'mcp-server', 'openwebui']

export interface UpgradeOptions {
  strategy: Strategy
  /** How long the old NGINX workers may finish their requests (streams, websockets) after the switch. */
  drainTimeout: string
}

export const UPGRADE_DEFAULTS: UpgradeOptions = { strategy: 'bluegreen', drainTimeout: '2m' }

/** Every problem of the upgrade flags at once (usage error, exit 2), before anything changes. */
export function checkUpgradeOptions(o: Partial<UpgradeOptions>): UpgradeOptions {
  const problems: string[] = []
  const strategy = (o.strategy ?? UPGRADE_DEFAULTS.strategy) as Strategy
  if (!STRATEGIES.includes(strategy)) problems.push(`--strategy must be ${STRATEGIES.join(' or ')} (got "${o.strategy}")`)
  const drainTimeout = o.drainTimeout ?? UPGRADE_DEFAULTS.drainTimeout
  try { checkDuration(drainTimeout, '--drain-timeout') } catch (e) { problems.push((e as Error).message) }
  if (problems.length) throw new UsageError(problems.join('\n'))
  return { strategy, drainTimeout }
}

/** One stateless service of a blue-green upgrade: what serves now, and (at run time) what replaces it. */
export interface BlueGreenService {
  name: string
  /** Its running containers before the deploy: they serve until the switch. */
  old: ContainerState[]
  /** Its containers that do not run (left by an interrupted upgrade): removed at the end. */
  stale: ContainerState[]
  /** The containers the upgrade started (known once they exist). */
  fresh: ContainerState[]
  /** Routed by NGINX (a backend variable): smoked from NGINX's network and switched. */
  routed: boolean
  /** How many containers the compose file asks for (deploy.replicas; Open WebUI: OPENWEBUI_REPLICAS), default 1. */
  replicas?: number
}

/**
 * Which services go blue-green: a running stateless service whose config (compose's config hash)
 * or image changed, or that runs another number of times than its deploy.replicas (an interrupted
 * upgrade to converge). The others go to the plain `up` when they changed or have no running
 * container; the rest are unchanged.
 */
export function splitServices(
  services: Array<{ name: string; image?: string; build?: unknown; deploy?: { replicas?: number | string } }>,
  before: ContainerState[],
  hashes: Record<string, string>,
  localImages: Map<string, string>,
  isRouted: (svc: string) => boolean,
): { blueGreen: BlueGreenService[]; plain: string[]; unchanged: string[] } {
  const blueGreen: BlueGreenService[] = []
  const plain: string[] = []
  const unchanged: string[] = []
  for (const s of services) {
    const mine = before.filter((c) => c.service === s.name)
    const old = mine.filter((c) => c.state === 'running')
    const want = hashes[s.name]
    const replicas = Math.max(1, Number(s.deploy?.replicas ?? 1) || 1)
    const localId = s.image ? localImages.get(s.image.replace(/^docker\.io\/(library\/)?/, '')) : undefined
    const changed = Boolean(s.build) || old.length !== replicas || !want
      || old.some((c) => c.configHash !== want || (localId !== undefined && c.imageId !== localId))
    // the others go to the plain `up` only when they changed (or do not run): an unchanged NGINX stays up
    if (!BLUE_GREEN_SERVICES.includes(s.name) || old.length === 0) { (changed ? plain : unchanged).push(s.name); continue }
    if (!changed) { unchanged.push(s.name); continue }
    blueGreen.push({ name: s.name, old, stale: mine.filter((c) => c.state !== 'running'), fresh: [], routed: isRouted(s.name), replicas })
  }
  return { blueGreen, plain, unchanged }
}

/** What a blue-green upgrade did, for the outcome (--json) and the bench. */
export interface UpgradeReport {
  strategy: Strategy
  services: string[]
  /** From the reload to the moment every NGINX worker serving the old containers stopped taking requests. */
  switchMs?: number
  /** How long the old workers took to finish their requests (streams included). */
  drainMs?: number
  /** Old workers still busy when the drain timeout ended (their connections were cut). */
  cutWorkers?: number
  /** Open WebUI's schema revision (alembic_version) before and after its new version started. */
  schema?: { before: string | null; after: string | null }
  /** The verified backup set taken before Open WebUI's image changed. */
  preUpgradeSet?: string
  startedAt?: string
  /** When NGINX switched to the new containers (from then on users wrote through the new version). */
  switchedAt?: string
  /** The database rollback, when the schema had moved (migration.ts RollbackReport). */
  rollback?: unknown
}
