// What deploy.ts does before either flow: pick the target, take its lock, report the outcome.
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { probe, probeWhy } from '../core/exec.ts'
import { KitError, UsageError, EXIT } from '../core/errors.ts'
import { ROOT } from '../core/paths.ts'
import { acquireLock, lockDir, lockFile } from '../core/lock.ts'
import { formatReport, undoHints, type PlanReport, type StepRecord } from '../core/plan.ts'
import type { Ctx } from '../core/context.ts'

export type Target = 'k8s' | 'compose'

/** Where the kit keeps generated values, rollback overrides and locks (OWP_STATE_DIR, else .cache/). */
export function stateDir(ctx: Ctx): string {
  return ctx.env.OWP_STATE_DIR || join(ROOT, '.cache')
}

export interface DetectResult { target: Target; reason: string }

/**
 * A reachable kube context means Kubernetes; else a Docker engine means Compose; else an error
 * that names both ways. Explicit flags skip the detection.
 */
export async function detectTarget(ctx: Ctx, o: { kubernetes?: boolean; compose?: boolean }): Promise<DetectResult> {
  if (o.kubernetes && o.compose) throw new UsageError('--kubernetes and --docker-compose exclude each other')
  if (o.kubernetes) return { target: 'k8s', reason: '--kubernetes' }
  if (o.compose) return { target: 'compose', reason: '--docker-compose' }
  const step = ctx.log.step('detecting the target')
  const [kube, docker] = await Promise.all([
    (async () => {
      const name = await probeWhy(ctx, ['kubectl', 'config', 'current-context'])
      if (name.out === null) return name
      const ready = await probeWhy(ctx, ['kubectl', 'get', '--raw', '/readyz', '--request-timeout', '5s'], 8_000)
      return ready.out !== null ? name : { out: null, why: `context ${name.out}: ${ready.why}` }
    })(),
    probeWhy(ctx, ['docker', 'version', '--format', '{{.Server.Version}}']),
  ])
  const context = kube.out
  if (context) { step.ok(`Kubernetes (context ${context})`); return { target: 'k8s', reason: `kube context ${context} is reachable` } }
  if (docker.out) { step.ok(`Docker Compose (engine ${docker.out})`); return { target: 'compose', reason: `no reachable kube context; Docker engine ${docker.out} answers` } }
  step.fail()
  const dockerCli = (await probe(ctx, ['docker', '--version'])) !== null
  // each side's own reason: "permission denied" on the socket is not "no engine"
  throw new KitError(`no deployment target found: no reachable Kubernetes context (${kube.why}) and no Docker engine (${docker.why})`,
    EXIT.failure, noTargetHint(dockerCli))
}

/** How to get an engine (packages for this OS) or a cluster, and how to try the kit on a private engine. */
export function noTargetHint(dockerCli: boolean, osRelease = '/etc/os-release'): string {
  let id = ''
  let codename = ''
  try {
    const text = readFileSync(osRelease, 'utf8')
    id = /^ID="?([^"\n]+)/m.exec(text)?.[1] ?? ''
    codename = /^VERSION_CODENAME="?([^"\n]+)/m.exec(text)?.[1] ?? ''
  } catch { /* not Linux, or no os-release: the generic hint */ }
  const engine = dockerCli
    ? 'the docker CLI is installed but no engine answers: start it (systemctl start docker) or check DOCKER_HOST'
    : id === 'ubuntu' ? 'install the engine and Compose v2: apt-get install docker.io docker-compose-v2 (or Docker\'s packages docker-ce docker-compose-plugin)'
    : id === 'debian' && (codename === 'bookworm' || codename === 'bullseye')
      ? `install the engine: apt-get install docker.io; Compose v2 is not packaged in ${codename}: use Docker's packages docker-ce docker-compose-plugin (https://docs.docker.com/engine/install/debian/)`
    : id === 'debian' ? 'install the engine and Compose v2: apt-get install docker.io docker-compose'
    : 'install Docker Engine with the Compose v2 plugin (https://docs.docker.com/engine/install/)'
  return [
    `Docker Compose on this host: ${engine}; then make deploy-docker`,
    'Kubernetes: point kubectl at a cluster (KUBECONFIG, kubectl config use-context NAME); then make deploy-k8s',
    'to try the kit first on a private engine with stand-in images (root): make e2e-setup ARGS=--keep, export the DOCKER_HOST and DOCKER_CONFIG it prints, then make deploy-docker ARGS=--insecure',
    'without either, the whole plan: make deploy-docker ARGS="--dry-run --skip-checks"',
  ].join('\n      ')
}

/**
 * One lease per deployed thing (the compose project, the Helm release in its namespace), in the
 * kit's lock dir: a second deploy of the same thing stops with a clear message (exit 75).
 */
export function lockTarget(ctx: Ctx, key: string, what: string): () => void {
  if (ctx.dryRun) return () => {}
  return acquireLock(ctx, lockFile(lockDir(ctx.env), key), what)
}

export interface DeployOutcome {
  ok: boolean
  target: Target
  /** What happened, for people: the last line of the report. */
  summary: string
  steps: StepRecord[]
  undone: StepRecord[]
  rolledBack: boolean
  validation?: unknown
  /** Argo Rollouts after a failed rollout: which were aborted, which Argo had aborted itself. */
  rollouts?: unknown
  plan?: string[]
  /** What an upgrade strategy did (compose blue-green: services, switch and drain times). */
  upgrade?: unknown
}

export type OutcomeOf = (summary: string, ok: boolean, undone?: StepRecord[], extra?: Partial<DeployOutcome>) => DeployOutcome

/** How a deploy of one target reports its end: the steps so far, what was undone, the dry-run plan. */
export function outcomeOf(ctx: Ctx, target: Target, report: PlanReport): OutcomeOf {
  return (summary, ok, undone = [], extra = {}) => ({
    ok, target, summary, steps: report.steps, undone, rolledBack: undone.some((u) => u.status === 'applied'), plan: ctx.dryRun ? ctx.plan : undefined, ...extra,
  })
}

/** Print the step table and, when something was left applied, the commands that undo it. */
export function printReport(ctx: Ctx, title: string, report: PlanReport, undone: StepRecord[] = []): void {
  ctx.log.raw(`\n${title}\n${formatReport(report, undone)}`)
  if (!undone.length) {
    const hints = undoHints(report)
    if (hints.length && !report.ok) ctx.log.warn(`left applied; to undo by hand:\n${hints.map((h) => `    ${h}`).join('\n')}`)
  }
}

/**
 * On Ctrl-C the CLI runs the cleanups and exits 130; this cleanup tells the user which steps were
 * applied and how to undo them (no automatic rollback after an interrupt: the user asked to stop).
 */
export function reportOnInterrupt(ctx: Ctx, report: () => PlanReport | null): () => void {
  return ctx.cleanups.add(() => {
    if (!ctx.signal.aborted) return
    const r = report()
    if (!r) return
    for (const s of r.steps) if (s.status === 'running') s.status = 'interrupted'
    r.ok = false
    printReport(ctx, 'interrupted: steps so far', r)
  })
}

/** The Kubernetes release the kit deploys unless told otherwise (deploy, helm-install, validate-prod). */
export const K8S_DEFAULTS = { release: 'owp', namespace: 'openwebui-prod', timeout: '20m', historyMax: 10 }
