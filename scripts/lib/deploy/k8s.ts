// The Kubernetes flow: preflight -> values/env -> infra releases (parallel) -> chart -> validate ->
// rollback to the revision that served before (or uninstall after a first install) when it fails.
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { probe, shellQuote, failureReason } from '../core/exec.ts'
import { UsageError, ConfigError, KitError, EXIT } from '../core/errors.ts'
import { CHART_DIR } from '../core/paths.ts'
import { loadConfig } from '../core/config.ts'
import { runPreflight, toolCheck, kubeContextCheck, type Check } from '../core/preflight.ts'
import {
  requireHelm, upgradeArgv, rollbackArgv, uninstallArgv, historyArgv, templateArgv, releaseState, checkDuration, durationMs, MIN_HELM, HELM_INSTALL_HINT,
  type HelmInfo, type ReleaseState,
} from '../tools/helm.ts'
import {
  parseManifests, renderFacts, serverVersion, kubeVersionSupported, storageClasses, gpuNodes, exists, SUPPORTED_KUBE, KUBECTL_INSTALL_HINT,
  type RenderFacts,
} from '../tools/kube.ts'
import { loadInfra, decideInfra, infraSteps, provided, secretManifest, INFRA_FILE, type InfraDecision } from './infra.ts'
import { showImageSources, valuesImageRegistry } from './k8s-images.ts'
import { ALERT_SECRET_KEYS, alertChannels } from '../monitoring/config.ts'
import { renderedRollouts, rolloutSteps, abortSeen, type RolloutRef, type SeenRollouts } from './rollouts.ts'
import { planPreUpgradeBackup, preUpgradeSteps, type PreUpgradeBackup } from './preupgrade.ts'
import { postgresStatefulSet, k8sMigrationBefore, k8sMigrationAfter, migrationAwareUndo, checkK8sMigrationConsent, type K8sMigration } from './k8s-migration.ts'
import { runPlan, newReport, undoApplied, PlanError, type Phase, type Step, type PlanReport, type StepRecord } from '../core/plan.ts'
import { stateDir, lockTarget, printReport, reportOnInterrupt, outcomeOf, K8S_DEFAULTS, type DeployOutcome } from './target.ts'
export { K8S_DEFAULTS }
import { validateDeployment, ValidationFailed, type ValidateOptions } from '../validate/index.ts'
import type { Ctx } from '../core/context.ts'

export interface K8sOptions {
  release: string
  namespace: string
  chart: string
  values: string[]
  timeout: string
  historyMax: number
  /** Install the infra releases of helm/infra.yaml (false: --no-infra). */
  infra: boolean
  /** Install the platform chart (false: helm-install --infra-only). */
  app: boolean
  /** Run validate-prod after the chart, rolling back when it fails. */
  validate: boolean
  skipChecks: boolean
  skipInfra: string[]
  envFile?: string
  infraFile?: string
  /** validate-prod settings passed through (insecure, ca file, url, timeouts). */
  validateArgs?: Partial<ValidateOptions>
  /** Time between two reads of a Rollout's status (default 5 s). */
  rolloutPollMs?: number
}


/** API versions the offline render assumes, so every optional object shows up in the facts. */
export const RENDER_API_VERSIONS = ['monitoring.coreos.com/v1', 'monitoring.coreos.com/v1alpha1', 'cert-manager.io/v1', 'gateway.networking.k8s.io/v1', 'postgresql.cnpg.io/v1', 'argoproj.io/v1alpha1']

/** The flags deploy.ts and helm-install.ts share for the Kubernetes path. */
export const K8S_FLAGS = {
  namespace: { type: 'string' },
  release: { type: 'string' },
  values: { type: 'string', multiple: true },
  chart: { type: 'string' },
  timeout: { type: 'string' },
  'history-max': { type: 'string' },
  'skip-infra': { type: 'string', multiple: true },
  'env-file': { type: 'string' },
  'skip-checks': { type: 'boolean' },
} as const

export interface K8sFlagValues {
  namespace?: string; release?: string; values?: string[]; chart?: string; timeout?: string
  'history-max'?: string; 'skip-infra'?: string[]; 'env-file'?: string; 'skip-checks'?: boolean
}

/** K8sOptions from the shared flags, paths resolved against the caller's directory. */
export function k8sOptionsFrom(ctx: Ctx, f: K8sFlagValues, o: Pick<K8sOptions, 'infra' | 'app' | 'validate'> & Partial<K8sOptions>): K8sOptions {
  // Number('') is 0: an empty value (ARGS="--history-max $UNSET") must not mean "keep every revision"
  const historyMax = f['history-max'] === undefined ? K8S_DEFAULTS.historyMax : /^\d+$/.test(f['history-max']) ? Number(f['history-max']) : NaN
  if (!Number.isInteger(historyMax) || historyMax < 0) throw new UsageError(`--history-max must be a whole number >= 0, got "${f['history-max']}"`)
  return {
    release: f.release ?? K8S_DEFAULTS.release,
    namespace: f.namespace ?? K8S_DEFAULTS.namespace,
    chart: resolve(ctx.cwd, f.chart ?? DEFAULT_CHART),
    values: (f.values ?? []).map((v) => resolve(ctx.cwd, v)),
    timeout: f.timeout ?? K8S_DEFAULTS.timeout,
    historyMax,
    skipChecks: Boolean(f['skip-checks']),
    skipInfra: f['skip-infra'] ?? [],
    envFile: f['env-file'] && resolve(ctx.cwd, f['env-file']),
    ...o,
  }
}

export function checkK8sOptions(o: K8sOptions): void {
  checkDuration(o.timeout)
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.release) || o.release.length > 53) throw new UsageError(`--release "${o.release}" is not a valid release name (lowercase letters, digits, -; at most 53)`)
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.namespace)) throw new UsageError(`--namespace "${o.namespace}" is not a valid namespace name`)
  const missing = o.values.filter((f) => !existsSync(f))
  if (missing.length) throw new UsageError(`values file not found: ${missing.join(', ')}`)
  if (!existsSync(join(o.chart, 'Chart.yaml'))) throw new UsageError(`no chart at ${o.chart} (Chart.yaml missing)`)
}

interface Prepared {
  helm: HelmInfo
  facts: RenderFacts
  state: ReleaseState
  decisions: InfraDecision[]
  valuesFiles: string[]
  context: string | null
  env: Record<string, string>
  /** Argo Rollouts the chart renders, and what the wait saw of each (the facts the abort path uses). */
  rollouts: RolloutRef[]
  seen: SeenRollouts
  /** A PostgreSQL backup before an upgrade that changes the Open WebUI image. */
  preUpgrade: PreUpgradeBackup | null
  /** The way back across Open WebUI's migration (with a pre-upgrade backup). */
  migration: K8sMigration | null
}

/** Everything read-only: helm version, .env, the offline render, release state, infra drift. */
async function prepare(ctx: Ctx, o: K8sOptions, context: string | null): Promise<Prepared> {
  const helm = await requireHelm(ctx)
  const cfg = o.envFile || existsSync(join(ctx.cwd, '.env')) ? loadConfig(ctx, { envFile: o.envFile }) : null
  if (!cfg) ctx.log.info('no .env: chart values only (the chart generates its secrets)')
  const env = cfg?.env ?? {}
  // the operator's own global.imageRegistry wins over IMAGE_MIRROR (said, and warned about when they differ)
  const chartRegistry = valuesImageRegistry(o.values)
  showImageSources(ctx, { mirror: env.IMAGE_MIRROR, chart: chartRegistry, app: o.app, infra: o.infra })
  const valuesFiles = [...(cfg ? [writeEnvValues(ctx, o, chartRegistry ? { ...env, IMAGE_MIRROR: '' } : env)].filter((f): f is string => f !== null) : []), ...o.values.map((f) => resolve(ctx.cwd, f))]
  const release = { name: o.release, namespace: o.namespace, chart: o.chart, valuesFiles, timeout: o.timeout }

  const step = ctx.log.step('rendering the chart offline (values check)')
  const rendered = await ctx.exec(templateArgv(helm, release, RENDER_API_VERSIONS), { allowFailure: true, timeout: 120_000 })
  if (rendered.exitCode !== 0) {
    step.fail()
    // each line helm printed is a problem of the values (masked); none: at least its exit code (never the half-rendered stdout)
    const why = failureReason(ctx, { ...rendered, stdout: '' }, Infinity, '\n')
    throw new ConfigError(rendered.stderr.trim() ? why.split('\n').map((l) => l.trim().replace(/^Error: /, '')) : [`helm template failed (${why})`], 'chart values (helm template)')
  }
  const objects = parseManifests(rendered.stdout)
  const facts = renderFacts(objects, o.namespace)
  const rollouts = renderedRollouts(objects, o.namespace)
  step.ok(`${facts.objects} objects${facts.gpus ? `, ${facts.gpus} GPU(s)` : ''}${facts.ingress ? `, Ingress (${facts.ingressClasses.join(', ') || 'default class'})` : ''}${facts.gateway ? ', HTTPRoute' : ''}${rollouts.length ? `, ${rollouts.length} Argo Rollout(s)` : ''}`)

  const [state, decisions] = await Promise.all([
    o.app ? releaseState(ctx, helm, o.release, o.namespace) : Promise.resolve({ exists: false, deployedRevision: null, latest: null, pending: false, unknown: true }),
    o.infra ? decideInfra(ctx, helm, loadInfra(o.infraFile ?? INFRA_FILE), facts, { skip: o.skipInfra, env }) : Promise.resolve([] as InfraDecision[]),
  ])
  for (const d of decisions) ctx.log.info(`infra ${d.release.name}: ${d.wanted ? d.action : d.action === 'ok' ? 'up to date' : 'skipped'} (${d.reason})`)
  const preUpgrade = o.app ? await planPreUpgradeBackup(ctx, objects, { namespace: o.namespace, release: o.release, firstInstall: !state.unknown && state.deployedRevision === null }) : null
  if (preUpgrade) ctx.log.info(`Open WebUI image changes (${preUpgrade.from} -> ${preUpgrade.to}): a PostgreSQL backup runs before the upgrade`)
  const migration: K8sMigration | null = preUpgrade
    ? { namespace: o.namespace, release: o.release, backup: preUpgrade, postgres: postgresStatefulSet(objects), rollouts: rollouts.length > 0, timeout: o.timeout, report: {} }
    : null
  return { helm, facts, state, decisions, valuesFiles, context, env, rollouts, seen: new Map(), preUpgrade, migration }
}

/**
 * Non-secret .env settings mapped onto chart values (only keys the chart declares), written as the
 * first values file so every --values file overrides it. Secrets stay with the chart (generated once).
 */
export function envValues(env: Record<string, string>, chartValues: Record<string, unknown>, release = K8S_DEFAULTS.release): Record<string, unknown> {
  const registry = env.IMAGE_REGISTRY
  // alert channels as on compose: e-mail only when complete; credentials in the Secret the deploy applies
  const channels = alertChannels(env).configured
  const email = channels.includes('email')
  const amc = 'monitoring.alertmanagerConfig'
  const secret = alertChannelSecret(env, release)?.name
  const map: Array<[string, unknown]> = [
    ['global.domain', env.DOMAIN],
    // every image from the mirror, under the names make mirror-images copies them to (owp.repository maps as mirrorName does)
    ['global.imageRegistry', env.IMAGE_MIRROR],
    ['graphrag.image.repository', registry && `${registry}/graphrag-processor`],
    ['graphrag.image.tag', env.IMAGE_TAG],
    ['mcp.image.repository', registry && `${registry}/mcp-server`],
    ['mcp.image.tag', env.IMAGE_TAG],
    ['lightllm.enabled', env.LIGHTLLM_ENABLED === undefined ? undefined : env.LIGHTLLM_ENABLED === 'true'],
    ['lightllm.model.name', env.LLM_MODEL_NAME],
    ['lightllm.tp', env.LLM_TP === undefined ? undefined : Number(env.LLM_TP)],
    ['lightllm.maxTotalTokens', env.LLM_MAX_TOTAL_TOKENS === undefined ? undefined : Number(env.LLM_MAX_TOTAL_TOKENS)],
    ['openwebui.enableSignup', env.WEBUI_ENABLE_SIGNUP === undefined ? undefined : env.WEBUI_ENABLE_SIGNUP === 'true'],
    ['openwebui.llm.baseUrl', env.OPENAI_API_BASE_URL],
    [`${amc}.email.to`, email ? env.ALERT_EMAIL_TO : undefined],
    [`${amc}.email.from`, email ? env.SMTP_FROM : undefined],
    [`${amc}.email.smarthost`, email ? env.SMTP_SMARTHOST : undefined],
    [`${amc}.email.username`, email ? env.SMTP_USERNAME : undefined],
    [`${amc}.email.existingSecret`, email && env.SMTP_PASSWORD ? secret : undefined],
    [`${amc}.slack.existingSecret`, channels.includes('slack') ? secret : undefined],
    [`${amc}.webhook.existingSecret`, channels.includes('webhook') ? secret : undefined],
  ]
  const out: Record<string, unknown> = {}
  for (const [path, value] of map) {
    if (value === undefined || value === '' || !hasPath(chartValues, path)) continue
    const keys = path.split('.')
    let node = out
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>
    node[keys.at(-1)!] = value
  }
  return out
}

/** The Secret of the alert channels' credentials from .env (keys the chart's defaults name), or null when none is set. */
export function alertChannelSecret(env: Record<string, string>, release: string): { name: string; data: Record<string, string> } | null {
  const data: Record<string, string> = {}
  for (const [key, variable] of Object.entries(ALERT_SECRET_KEYS)) {
    if (env[variable]?.trim()) data[key] = env[variable]
  }
  return Object.keys(data).length ? { name: `${release}-alert-channels`, data } : null
}

function hasPath(obj: Record<string, unknown>, path: string): boolean {
  let node: unknown = obj
  for (const k of path.split('.')) {
    if (typeof node !== 'object' || node === null || !(k in node)) return false
    node = (node as Record<string, unknown>)[k]
  }
  return true
}

function writeEnvValues(ctx: Ctx, o: K8sOptions, env: Record<string, string>): string | null {
  let chartValues: Record<string, unknown> = {}
  try { chartValues = (parseYaml(readFileSync(join(o.chart, 'values.yaml'), 'utf8')) ?? {}) as Record<string, unknown> } catch { return null }
  const values = envValues(env, chartValues, o.release)
  if (!Object.keys(values).length) return null
  const dir = join(stateDir(ctx), 'values')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${o.release}-from-env.yaml`)
  writeFileSync(file, `# written by the deploy kit from .env (non-secret settings): do not edit\n${stringifyYaml(values)}`)
  return file
}

/** Preflight for the Kubernetes flow, built from what the rendered chart needs. */
export function k8sChecks(o: K8sOptions, p: Prepared): Check[] {
  const have = provided(p.decisions)
  const infraNote = (key: string) => (have.has(key) ? 'installed by an infra release of this run' : null)
  const checks: Check[] = [
    toolCheck(p.helm.bin, { min: MIN_HELM, versionArgv: [p.helm.bin, 'version', '--template', '{{.Version}}'], hint: HELM_INSTALL_HINT }),
    toolCheck('kubectl', { versionArgv: ['kubectl', 'version', '--client', '--output', 'json'], hint: KUBECTL_INSTALL_HINT }),
    kubeContextCheck(),
    {
      name: `server version ${SUPPORTED_KUBE.min}-${SUPPORTED_KUBE.max}`,
      hint: `upgrade the cluster to Kubernetes >= ${SUPPORTED_KUBE.min}`,
      timeoutMs: 15_000,
      async run(ctx) {
        const v = await serverVersion(ctx)
        if (!v) return { ok: false, detail: 'no server version (cluster not reachable)' }
        const s = kubeVersionSupported(v)
        if (s === 'old') return { ok: false, detail: `server ${v} is older than ${SUPPORTED_KUBE.min}` }
        if (s === 'new') return { ok: false, warn: true, detail: `server ${v} is newer than the tested ${SUPPORTED_KUBE.max}` }
        return { ok: true, detail: `server ${v}` }
      },
    },
  ]
  if (p.facts.storageClasses.length) {
    checks.push({
      name: 'storage class',
      hint: 'mark a default StorageClass (kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=true) or set global.storageClass in your values',
      async run(ctx) {
        const sc = await storageClasses(ctx)
        if (!sc) return { ok: false, detail: 'cannot list StorageClasses' }
        const named = [...new Set(p.facts.storageClasses.filter((c): c is string => c !== null && c !== ''))]
        const missing = named.filter((c) => !sc.names.includes(c))
        if (missing.length) return { ok: false, detail: `StorageClass ${missing.join(', ')} not found` }
        const needDefault = p.facts.storageClasses.some((c) => c === null || c === '')
        if (needDefault && !sc.defaults.length) return { ok: false, detail: 'no default StorageClass, and some volumes name none' }
        return { ok: true, detail: needDefault ? `default ${sc.defaults.join(', ')}` : named.join(', ') }
      },
    })
  }
  if (p.facts.gpus > 0) {
    checks.push({
      name: `nvidia.com/gpu >= ${p.facts.gpus} on a node`,
      hint: 'install the NVIDIA GPU Operator or device plugin, or set lightllm.enabled: false and openwebui.llm.baseUrl',
      async run(ctx) {
        const nodes = await gpuNodes(ctx)
        if (!nodes) return { ok: false, detail: 'cannot list nodes' }
        const fit = nodes.filter((n) => n.gpus >= p.facts.gpus)
        if (!fit.length) return { ok: false, detail: `no node has ${p.facts.gpus} allocatable nvidia.com/gpu (most: ${Math.max(0, ...nodes.map((n) => n.gpus))})` }
        return { ok: true, detail: fit.map((n) => `${n.node}: ${n.gpus}`).join(', ') }
      },
    })
  }
  for (const cls of p.facts.ingressClasses) {
    checks.push(existsCheck(`IngressClass ${cls}`, infraNote(`ingressClass:${cls}`), 'ingressclass', cls, undefined,
      `set ingress.className to traefik (installed from helm/infra.yaml) or install a controller that serves "${cls}"`))
  }
  for (const cls of p.facts.gatewayClasses) {
    checks.push(existsCheck(`GatewayClass ${cls}`, infraNote(`gatewayClass:${cls}`), 'gatewayclass', cls, undefined,
      'set gatewayAPI.gateway.className to traefik (installed from helm/infra.yaml) or install a Gateway API implementation'))
  }
  for (const ref of p.facts.gatewayRefs) {
    const [ns, name] = ref.split('/') as [string, string]
    checks.push(existsCheck(`Gateway ${ref}`, infraNote(`gateway:${ref}`), 'gateway', name, ns, 'create the Gateway, or let the chart render one (gatewayAPI.gateway.create: true)'))
  }
  if (p.facts.tls) {
    checks.push(existsCheck('cert-manager CRDs', infraNote('crd:certificates.cert-manager.io'), 'crd', 'certificates.cert-manager.io', undefined,
      'let the deploy install cert-manager (drop --no-infra) or install it with crds.enabled=true; or set tls.certManager.enabled: false'))
  }
  for (const name of p.facts.clusterIssuers) {
    checks.push(existsCheck(`ClusterIssuer ${name}`, infraNote(`clusterIssuer:${name}`), 'clusterissuer', name, undefined,
      `the chart's tls.certManager.issuerRef.name names ClusterIssuer ${name}, which the cluster does not have: let the deploy create letsencrypt-staging / letsencrypt-prod (helm/infra.yaml cluster-issuers, ACME_EMAIL in .env; drop --no-infra), or name an existing one (kubectl get clusterissuers)`))
  }
  for (const ref of p.facts.issuers) {
    const [ns, name] = ref.split('/') as [string, string]
    checks.push(existsCheck(`Issuer ${ref}`, null, 'issuer', name, ns,
      `the chart's tls.certManager.issuerRef names Issuer ${name} in ${ns}, which does not exist: create it, or use a ClusterIssuer (tls.certManager.issuerRef.kind: ClusterIssuer)`))
  }
  if (p.facts.monitoring) {
    const c = existsCheck('Prometheus Operator CRDs', infraNote('crd:servicemonitors.monitoring.coreos.com'), 'crd', 'servicemonitors.monitoring.coreos.com', undefined,
      'install kube-prometheus-stack (drop --no-infra); without it the chart skips ServiceMonitors and alert rules')
    checks.push({ ...c, optional: true })
  }
  if (p.facts.rollouts) {
    checks.push(existsCheck('Argo Rollouts CRDs', infraNote('crd:rollouts.argoproj.io'), 'crd', 'rollouts.argoproj.io', undefined,
      'let the deploy install argo-rollouts (drop --no-infra), or set rollout.strategy: rolling in your values'))
  }
  if (o.app) {
    checks.push({
      name: `release ${o.release} not locked by helm`,
      hint: `another helm operation is running or died: see helm history ${o.release} -n ${o.namespace}; then helm rollback ${o.release} -n ${o.namespace}`,
      async run() {
        if (p.state.unknown) return { ok: false, detail: 'cannot read the release history' }
        if (p.state.pending) return { ok: false, detail: `revision ${p.state.latest?.revision} is ${p.state.latest?.status}` }
        return { ok: true, detail: p.state.exists ? `revision ${p.state.latest?.revision} ${p.state.latest?.status}` : 'first install' }
      },
    })
  }
  return checks
}

function existsCheck(name: string, satisfiedBy: string | null, kind: string, objName: string, namespace: string | undefined, hint: string): Check {
  return {
    name, hint,
    async run(ctx) {
      if (satisfiedBy) return { ok: true, detail: satisfiedBy }
      return (await exists(ctx, kind, objName, namespace)) ? { ok: true, detail: 'present' } : { ok: false, detail: `${kind} ${namespace ? `${namespace}/` : ''}${objName} not found` }
    },
  }
}

/**
 * What undoes the chart when validation fails, from facts seen before the upgrade only: helm said
 * "release: not found" -> uninstall; a deployed revision -> roll back to it; anything else (cluster
 * unreachable, history failing, no deployed revision) -> nothing: report and stop, naming the commands.
 */
export function chartUndo(o: Pick<K8sOptions, 'release' | 'namespace' | 'timeout'>, p: Pick<Prepared, 'helm' | 'state'>): Step {
  const timeoutMs = durationMs(o.timeout) + 60_000
  if (!p.state.unknown && !p.state.exists) {
    return { title: `uninstall ${o.release} (first install failed validation)`, argv: uninstallArgv(p.helm, o.release, o.namespace, o.timeout), mutates: true, timeoutMs }
  }
  if (!p.state.unknown && p.state.deployedRevision !== null) {
    return { title: `roll back ${o.release} to revision ${p.state.deployedRevision}`, argv: rollbackArgv(p.helm, o.release, o.namespace, p.state.deployedRevision, o.timeout), mutates: true, timeoutMs }
  }
  const why = p.state.unknown ? `the release state was unknown before the deploy (${p.state.reason ?? 'helm history failed'})` : `${o.release} had no deployed revision before the deploy`
  const history = historyArgv(p.helm, o.release, o.namespace)
  const todo = `see ${shellQuote(history)}, then helm rollback ${o.release} REVISION --namespace ${o.namespace} (or helm uninstall only if the release did not exist before)`
  return {
    title: `none: ${why}; nothing undone. To undo by hand: ${todo}`,
    argv: history,
    mutates: false,
    action: async () => { throw new KitError(`nothing undone: ${why}`, EXIT.failure, todo) },
  }
}

/** The plan: infra phase (parallel), the chart with its undo, validation. */
export function k8sPlan(ctx: Ctx, o: K8sOptions, p: Prepared): Phase[] {
  const plan: Phase[] = []
  if (o.infra) {
    const steps = infraSteps(p.helm, p.decisions, { stateDir: stateDir(ctx), timeout: o.timeout, historyMax: o.historyMax, env: p.env, dryRun: ctx.dryRun, warn: (m) => ctx.log.warn(m) })
    if (steps.length) plan.push({ title: 'infra releases (helm/infra.yaml)', parallel: true, steps })
  }
  if (o.app && p.preUpgrade) {
    const m = p.migration ? k8sMigrationBefore(p.migration) : null
    plan.push({ title: 'pre-upgrade backup (the Open WebUI image changes)', steps: [...(m?.schema ?? []), ...preUpgradeSteps(p.preUpgrade, o.namespace, o.timeout, durationMs(o.timeout)), ...(m ? [m.set] : [])] })
  }
  if (o.app) {
    const plain = chartUndo(o, p)
    // a rollback to a revision may cross a migration: restore the pre-upgrade set first if the schema moved
    const undo = p.migration && p.state.deployedRevision !== null && plain.title.startsWith('roll back ') ? migrationAwareUndo(p.migration, plain) : plain
    const channels = alertChannelSecret(p.env, o.release)
    for (const v of Object.values(channels?.data ?? {})) ctx.secrets.add(v)
    plan.push({
      title: `platform chart (${o.release} in ${o.namespace})`,
      steps: [...(channels ? [{
        id: 'chart:alert-channels',
        title: `secret ${o.namespace}/${channels.name} (alert channels from .env)`,
        argv: ['kubectl', 'apply', '--server-side', '--force-conflicts', '--field-manager', 'owp-deploy', '--filename', '-'],
        input: JSON.stringify(secretManifest(o.namespace, channels.name, channels.data)),
        mutates: true,
        timeoutMs: 60_000,
      }] : []), {
        id: 'chart',
        title: `helm upgrade --install ${o.release}`,
        argv: upgradeArgv(p.helm, { name: o.release, namespace: o.namespace, chart: o.chart, valuesFiles: p.valuesFiles, timeout: o.timeout, historyMax: o.historyMax }),
        mutates: true,
        stream: true,
        timeoutMs: durationMs(o.timeout) + 120_000,
        undo,
      }],
    })
  }
  if (o.app && p.rollouts.length) {
    plan.push({
      title: 'Argo Rollouts (blue-green / canary)',
      parallel: true,
      steps: rolloutSteps(p.rollouts, { timeoutMs: durationMs(o.timeout), intervalMs: o.rolloutPollMs, seen: p.seen }),
    })
  }
  if (o.app && p.migration) {
    const after = k8sMigrationAfter(p.migration)
    if (after.length) plan.push({ title: "Open WebUI's schema after the upgrade", steps: after })
  }
  if (o.validate) {
    const args = ['--target', 'k8s', '--namespace', o.namespace, '--release', o.release, ...(o.validateArgs?.url ? ['--url', o.validateArgs.url] : [])]
    plan.push({
      title: 'validation',
      steps: [{
        id: 'validate',
        title: 'validate-prod',
        argv: ['tsx', 'scripts/validate-prod.ts', ...args],
        mutates: true, // not run under --dry-run: nothing was deployed
        action: async (c) => {
          const report = await validateDeployment(c, { ...o.validateArgs, target: 'k8s', namespace: o.namespace, release: o.release, env: p.env })
          if (!report.ok) throw new ValidationFailed(report)
        },
      }],
    })
  }
  return plan
}

/** deploy --kubernetes and helm-install: the whole flow, returning what happened. */
export async function deployK8s(ctx: Ctx, o: K8sOptions): Promise<DeployOutcome> {
  checkK8sOptions(o)
  if (!o.app && !o.infra) throw new UsageError('nothing to do: both the infra releases and the chart are off')
  // the lock comes before prepare: prepare writes the values file this target's helm reads
  const context = await probe(ctx, ['kubectl', 'config', 'current-context'])
  lockTarget(ctx, `k8s-${context ?? 'unknown'}-${o.namespace}-${o.release}`, `deploy of ${o.release} to ${context ?? 'the cluster'}/${o.namespace}`)
  const p = await prepare(ctx, o, context)
  if (p.migration && o.validate) checkK8sMigrationConsent(ctx)
  await runPreflight(ctx, k8sChecks(o, p), { skip: o.skipChecks })
  const plan = k8sPlan(ctx, o, p)
  const report = newReport(ctx, plan)
  const unregister = reportOnInterrupt(ctx, () => report)
  const outcome = outcomeOf(ctx, 'k8s', report)
  try {
    await runPlan(ctx, plan, report)
  } catch (e) {
    if (ctx.signal.aborted) throw e
    if (!(e instanceof PlanError)) throw e
    return failK8s(ctx, o, p, plan, report, e, outcome)
  } finally {
    if (!ctx.signal.aborted) unregister()
  }
  const upgrade = p.migration ? { upgrade: p.migration.report } : {}
  if (ctx.dryRun) return outcome('dry run: nothing was changed', true, [], upgrade)
  printReport(ctx, 'deploy report', report)
  return outcome(o.app ? `${o.release} is deployed in ${o.namespace}${o.validate ? ' and validated' : ''}` : 'infra releases are in place', true, [], upgrade)
}

async function failK8s(
  ctx: Ctx, o: K8sOptions, p: Prepared, plan: Phase[], report: PlanReport, e: PlanError,
  outcome: (summary: string, ok: boolean, undone?: StepRecord[], extra?: Partial<DeployOutcome>) => DeployOutcome,
): Promise<DeployOutcome> {
  report.ok = false
  // a finished Rollout is not aborted: the chart rollback gives Argo the previous template to roll to
  const chartOnly = withoutRolloutUndo(plan)
  if (e.step.id.startsWith('rollout:')) {
    ctx.log.error(`${e.step.title} failed: aborting what is still rolling, then rolling the chart back`)
    const aborts = await abortSeen(ctx, p.rollouts, p.seen)
    for (const a of aborts) {
      if (a.action === 'abort failed') ctx.log.error(`Rollout ${a.name}: ${a.action} (${a.detail})`)
      else ctx.log.info(`Rollout ${a.name}: ${a.action} (${a.detail})`)
    }
    const undone = await undoApplied(ctx, chartOnly, report)
    printReport(ctx, 'deploy report', report, undone)
    const back = undone.every((u) => u.status === 'applied') && aborts.every((a) => a.action !== 'abort failed')
    const what = [...aborts.filter((a) => a.action !== 'not touched').map((a) => `Rollout ${a.name} ${a.action}`), ...undone.map((u) => u.title)].join(', ')
    const cause = (e.cause as Error | undefined)?.message ?? e.message
    return outcome(back ? `rollout failed (${cause}); ${what}` : `rollout failed and the way back failed too: ${what}; see the report`, false, undone,
      { rollouts: aborts })
  }
  if (e.step.id === 'validate') {
    ctx.log.error('validation failed after the upgrade: rolling back')
    const undone = await undoApplied(ctx, chartOnly, report)
    printReport(ctx, 'deploy report', report, undone)
    const back = undone.every((u) => u.status === 'applied')
    const none = undone.find((u) => u.title.startsWith('none: '))
    return outcome(none ? `validation failed; undo ${none.title}` : back ? `validation failed; ${undone.map((u) => u.title).join(', ')}` : 'validation failed and the rollback failed too: see the report', false, undone,
      { validation: (e.cause as ValidationFailed | undefined)?.report, ...(p.migration ? { upgrade: p.migration.report } : {}) })
  }
  printReport(ctx, 'deploy report', report)
  if (e.step.id === 'chart') {
    return outcome(`helm upgrade failed; helm undid it itself (--rollback-on-failure / --atomic): see helm history ${o.release} -n ${o.namespace}`, false)
  }
  return outcome(`${e.step.title} failed; the chart was not touched`, false)
}

/** The plan with the Rollout waits' aborts left out (they serve the failed-rollout path only). */
function withoutRolloutUndo(plan: Phase[]): Phase[] {
  return plan.map((ph) => ({ ...ph, steps: ph.steps.map((s) => (s.id?.startsWith('rollout:') ? { ...s, undo: undefined } : s)) }))
}

export const DEFAULT_CHART = CHART_DIR
