// Scenarios for the deploy tests: fake helm/kubectl/docker answering like a cluster or an engine
// in a given state, the fixture chart and compose file, a .env.
import { writeFileSync, readFileSync, mkdirSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { parse as parseYaml } from 'yaml'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { fakeBins, ok, fails, on, type FakeBins, type Answer } from '../helpers/fake-bins.ts'
import { testCtx, type TestCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { freePort } from '../helpers/net.ts'
import { K8S_DEFAULTS, type K8sOptions } from '../../scripts/lib/deploy/k8s.ts'
import { loadInfra } from '../../scripts/lib/deploy/infra.ts'
import type { HistoryEntry } from '../../scripts/lib/tools/helm.ts'

export const FIXTURES = join(ROOT, 'test', 'fixtures', 'deploy')
/** `kubectl get <workload kinds> -o json` of whole releases, shaped as a cluster returns them. */
export const K8S_FIXTURES = join(ROOT, 'test', 'fixtures', 'k8s')
export const CHART = join(FIXTURES, 'chart')
/** Recorded `helm template` of each infra chart (its images) and the image blocks of its values.yaml. */
export const INFRA_CHARTS = join(FIXTURES, 'infra-charts')
export const CANARY = 'canary-Zq81xPLmW4tY7vB2nR6sK0dJ3hF5gA9e'
/** Published ports of the scenarios: free ones, so a stack running on this host cannot collide. */
export const [HTTP_PORT, HTTPS_PORT] = await Promise.all([freePort(), freePort()])

export function writeEnv(dir: string, extra: Record<string, string> = {}): string {
  const vars: Record<string, string> = {
    DEPLOY_ENV: 'production', DOMAIN: 'chat.test.local', PUBLIC_URL: 'https://chat.test.local', COMPOSE_PROJECT_NAME: 'owptest',
    WEBUI_SECRET_KEY: CANARY, POSTGRES_PASSWORD: 'pg-Xk29sLq81mZ0', REDIS_PASSWORD: 'redis-Vb71nQ0pWz4e', QDRANT_API_KEY: 'q'.repeat(8) + 'Zr7Lk2Mx9Pq4Wn6Tb1Vc8Hd3Jf5Gs0Ay',
    NEO4J_PASSWORD: 'neo4j-Ht62kLp0', GRAFANA_ADMIN_USER: 'admin', GRAFANA_ADMIN_PASSWORD: 'graf-Rk4Lm9Qz2Xw7', GRAPHRAG_API_KEY: 'g'.repeat(8) + 'Yt5Ub8Ic1Od4Pe7Qf0Rg3Sh6Ti9Uj2Vk',
    IMAGE_REGISTRY: 'registry.test/owp', IMAGE_TAG: '1.2.3', HTTP_PORT: String(HTTP_PORT), HTTPS_PORT: String(HTTPS_PORT), LLM_MODEL_NAME: 'tiny-model',
    ACME_EMAIL: 'certs@test.local',
    ...extra,
  }
  const file = join(dir, '.env')
  writeFileSync(file, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n')
  return file
}

export interface K8sScenario {
  helm?: 3 | 4
  /** The release's history before the deploy: none = first install. */
  history?: HistoryEntry[] | 'none'
  rendered?: 'ingress' | 'gateway' | 'rollout'
  /** Answers of `kubectl get rollouts.argoproj.io NAME` in call order, per Rollout (JSON fixtures or failures); absent: Argo is not installed. */
  rollouts?: Record<string, Answer[]>
  /** The Open WebUI image the release runs now (`kubectl get deployment owp-openwebui`); absent: NotFound. */
  runningOpenwebui?: string
  /** `kubectl wait` of the pre-upgrade backup job fails. */
  backupFails?: boolean
  upgradeFails?: boolean
  podsReady?: boolean
  /** helm list / get values answers for infra releases: already installed at the pinned version. */
  infraInstalled?: Record<string, { chart: string; values: unknown }>
  gpus?: number
  defaultStorageClass?: boolean
  ingressClasses?: string[]
  serverMinor?: number
  reachable?: boolean
  crds?: string[]
  /** cert-manager ClusterIssuers the cluster has (`kubectl get clusterissuer NAME`; default the chart's letsencrypt-prod); others: NotFound. */
  clusterIssuers?: string[]
  /** Seconds each infra helm upgrade sleeps (the benchmark). */
  infraDelay?: number
  templateFails?: string
  /** Open WebUI's schema revision as psql in the PostgreSQL StatefulSet answers, in call order (the last one repeats). */
  schema?: string[]
}

/** What a backup Job's container logs (`backup.ts --json` last on stdout): the verified set `id`. */
export const backupJobLog = (id: string) => `› backup postgres\n✔ verified\n${JSON.stringify({ ok: true, stores: [{ store: 'postgres', ok: true, verified: true, id }] }, null, 2)}\n`
export const PRE_UPGRADE_SET = '2026-12-02T06-00-00Z-pre'
export const PRE_ROLLBACK_SET = '2026-12-02T06-10-00Z-kept'
/** The chart's PostgreSQL backup CronJob as the cluster returns it (its Job template is what the restore Job reuses). */
export const BACKUP_CRONJOB = {
  apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'owp-backup-postgres', labels: { 'app.kubernetes.io/instance': 'owp', 'app.kubernetes.io/component': 'backup' } },
  spec: { jobTemplate: { spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', serviceAccountName: 'owp-backup', containers: [{
    name: 'backup', image: 'registry.test/owp/tools:1.0.0',
    command: ['tsx', 'scripts/backup.ts', '--store', 'postgres', '--target', 'k8s', '--dest', '/backups', '--json', '--yes'],
  }] } } } } },
}

export const HISTORY_3: HistoryEntry[] = [
  { revision: 1, status: 'superseded', chart: 'openwebui-platform-0.1.0' },
  { revision: 2, status: 'superseded', chart: 'openwebui-platform-0.1.0' },
  { revision: 3, status: 'deployed', chart: 'openwebui-platform-0.1.0' },
]

/** `helm template NAME` of each infra chart of helm/infra.yaml answered with its recorded render. */
export function infraTemplateAnswers(): Answer[] {
  return loadInfra().filter((r) => r.repo).map((r) => on(`^template ${r.name} `, ok(readFileSync(join(INFRA_CHARTS, `${r.name}.rendered.yaml`), 'utf8'))))
}

export function helmAnswers(s: K8sScenario = {}): Answer[] {
  const answers: Answer[] = [
    on('^version', ok(s.helm === 3 ? 'v3.17.2' : 'v4.1.4')),
    s.templateFails
      ? on('^template', fails(1, `Error: values don't meet the specifications of the schema(s) in the following chart(s):\nopenwebui-platform:\n- ${s.templateFails}`))
      : on('^template', ok(readFileSync(join(FIXTURES, `rendered-${s.rendered ?? 'ingress'}.yaml`), 'utf8'))),
  ]
  if (s.reachable === false) {
    answers.push(on('^(history|list|get)', fails(1, 'Error: Kubernetes cluster unreachable: dial tcp 127.0.0.1:1: connect: connection refused')))
  }
  answers.push(s.history === undefined || s.history === 'none'
    ? on('^history owp', fails(1, 'Error: release: not found'))
    : on('^history owp', ok(JSON.stringify(s.history))))
  for (const [name, rel] of Object.entries(s.infraInstalled ?? {})) {
    answers.push(on(`^list --namespace [a-z-]+ --filter \\^${name}\\$`, ok(JSON.stringify([{ name, namespace: 'x', revision: '1', status: 'deployed', chart: rel.chart }]))))
    answers.push(on(`^get values ${name} `, ok(JSON.stringify(rel.values))))
  }
  answers.push(on('^list', ok('[]')), on('^get values', ok('null')))
  if (s.upgradeFails) answers.push(on('^upgrade --install owp ', fails(1, 'Error: UPGRADE FAILED: context deadline exceeded; rolled back')))
  if (s.infraDelay) answers.push(on('^upgrade --install (cert-manager|traefik|kube-prometheus-stack|cloudnative-pg) ', { exitCode: 0, delay: s.infraDelay }))
  answers.push(on('^(upgrade|rollback|uninstall)', ok()))
  return answers
}

export function kubectlAnswers(s: K8sScenario = {}): Answer[] {
  const gpus = s.gpus ?? 1
  if (s.reachable === false) {
    return [
      on('^config current-context', ok('test-cluster')),
      on('^version --client', ok('{"clientVersion":{"gitVersion":"v1.33.9"}}')),
      fails(1, 'The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?'),
    ]
  }
  return [
    on('^config current-context', ok('test-cluster')),
    on('^get --raw /readyz', ok('ok')),
    on('^version --client', ok('{"clientVersion":{"gitVersion":"v1.33.9"}}')),
    on('^version --output json', ok(JSON.stringify({ serverVersion: { major: '1', minor: String(s.serverMinor ?? 33) } }))),
    on('^get storageclass', ok(JSON.stringify({ items: [
      { metadata: { name: 'standard', annotations: s.defaultStorageClass === false ? {} : { 'storageclass.kubernetes.io/is-default-class': 'true' } } },
      { metadata: { name: 'fast-ssd' } },
    ] }))),
    on('^get nodes', ok(JSON.stringify({ items: [{ metadata: { name: 'gpu-1' }, status: { allocatable: { 'nvidia.com/gpu': String(gpus) } } }, { metadata: { name: 'cpu-1' }, status: { allocatable: {} } }] }))),
    ...(s.ingressClasses ?? []).map((c) => on(`^get ingressclass ${c} `, ok(`ingressclass.networking.k8s.io/${c}`))),
    ...(s.clusterIssuers ?? ['letsencrypt-prod']).map((c) => on(`^get clusterissuer ${c} `, ok(`clusterissuer.cert-manager.io/${c}`))),
    ...(s.crds ?? []).map((c) => on(`^get crd ${c.replace(/\./g, '\\.')} `, ok(JSON.stringify({ metadata: { name: c } })))),
    ...Object.entries(s.rollouts ?? {}).flatMap(([name, answers]) => answers.map((a) => ({ ...a, match: `^get rollouts\\.argoproj\\.io ${name} ` }))),
    on('^get rollouts\\.argoproj\\.io', fails(1, 'error: the server doesn\'t have a resource type "rollouts"')),
    s.runningOpenwebui
      ? on('^get deployment owp-openwebui ', ok(JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'owp-openwebui', namespace: 'openwebui-prod', generation: 7 }, spec: { replicas: 0, template: { spec: { containers: [{ name: 'openwebui', image: s.runningOpenwebui }] } } } })))
      : on('^get deployment ', fails(1, 'Error from server (NotFound): deployments.apps "owp-openwebui" not found')),
    ...(s.schema ?? []).map((v, i, all) => ({ ...on('^exec --namespace openwebui-prod statefulset/owp-postgres ', ok(`${v}\n`)), ...(i < all.length - 1 ? { times: 1 } : {}) })),
    on('^logs job/owp-pre-upgrade-[0-9a-z]+ ', ok(backupJobLog(PRE_UPGRADE_SET))),
    on('^logs job/owp-pre-rollback-', ok(backupJobLog(PRE_ROLLBACK_SET))),
    on('^logs job/', ok('restored\n')),
    on('^get cronjob owp-backup-postgres ', ok(JSON.stringify(BACKUP_CRONJOB))),
    on('^get (deployment|rollouts\\.argoproj\\.io) --namespace openwebui-prod --selector', ok(JSON.stringify({ items: [{ metadata: { name: 'owp-openwebui' }, spec: { replicas: 2 } }, { metadata: { name: 'owp-celery-beat' }, spec: { replicas: 0 } }] }))),
    on('^create job ', ok('job.batch/created')),
    ...(s.backupFails ? [on('^wait job/', fails(1, 'error: timed out waiting for the condition on jobs/owp-pre-upgrade'))] : []),
    on('^get (ingressclass|gatewayclass|gateway|crd|clusterissuer|issuer) ', fails(1, 'Error from server (NotFound): not found')),
    on('^get services', ok('{"items":[]}')),
    on('^get ingresses', ok('{"items":[]}')),
    // recorded-shape releases: healthy with a failed backup Job pod beside it, or a crash-looping Deployment
    on('^get deployments,statefulsets,', ok(readFileSync(join(K8S_FIXTURES, s.podsReady === false ? 'crashloop-deployment.json' : 'failed-backup-job-pod.json'), 'utf8'))),
    on('^port-forward', fails(1, 'error: unable to forward port: service not found')),
    on('^apply', ok('secret/applied serverside-applied')),
    ok(),
  ]
}

export function k8sFakes(s: K8sScenario = {}): FakeBins {
  return fakeBins({ helm: helmAnswers(s), kubectl: kubectlAnswers(s) })
}

export function k8sOptions(over: Partial<K8sOptions> = {}): K8sOptions {
  return {
    ...K8S_DEFAULTS, chart: CHART, values: [], infra: true, app: true, validate: false, skipChecks: false, skipInfra: [],
    validateArgs: { retries: 0, timeoutMs: 3000, retryDelayMs: 10 },
    ...over,
  }
}

export interface CtxOptions { dryRun?: boolean; json?: boolean; yes?: boolean; env?: Record<string, string>; path?: string }
export interface Sandbox { dir: string; env: Record<string, string>; ctx(o?: CtxOptions): TestCtx; remove(): void }

/**
 * A temp dir as the working directory, with the state dir and a .env in it; contexts get the
 * fakes on PATH (bins may be given later through `path`).
 */
export function sandbox(bins: FakeBins | null, envExtra: Record<string, string> = {}): Sandbox {
  const tmp = tmpDir('owp-deploy-')
  writeEnv(tmp.path, envExtra)
  // variables a developer's shell may carry must not leak into the scenario
  const env = { OWP_STATE_DIR: join(tmp.path, 'state'), HELM_BIN: '', OWP_MIN_FREE_GIB: '0' }
  return {
    dir: tmp.path,
    env,
    ctx: (c = {}) => testCtx({ path: c.path ?? bins?.path, cwd: tmp.path, dryRun: c.dryRun, json: c.json, yes: c.yes, env: { ...env, ...c.env } }),
    remove: tmp.remove,
  }
}

/** The helm argv of the chart upgrade a scenario ran (program name first). */
export function chartUpgrade(bins: FakeBins): string[] | undefined {
  return bins.calls('helm').find((c) => c[1] === 'upgrade' && c[3] === 'owp')
}

// ---- compose -------------------------------------------------------------------------------------

/** The fixture compose file copied into dir (the deploy writes .generated/ beside it). */
export function composeFixture(dir: string, o: { bare?: boolean } = {}): string {
  const d = join(dir, 'compose')
  mkdirSync(d, { recursive: true })
  copyFileSync(join(FIXTURES, 'compose', 'docker-compose.yml'), join(d, 'docker-compose.yml'))
  if (!o.bare) {
    // the host paths the stack binds, at the .env defaults: a certificate pair and the model weights
    mkdirSync(join(d, 'nginx', 'certs'), { recursive: true })
    writeFileSync(join(d, 'nginx', 'certs', 'tls.crt'), '-----BEGIN CERTIFICATE-----\n')
    writeFileSync(join(d, 'nginx', 'certs', 'tls.key'), '-----BEGIN PRIVATE KEY-----\n')
    mkdirSync(join(dir, 'models', 'tiny-model'), { recursive: true })
  }
  return join(d, 'docker-compose.yml')
}

/**
 * What `docker compose config --format json` prints for the fixture: parsed by the REAL
 * docker-compose (v1, Debian) with the same .env, so the services come from the file.
 */
const configs = new Map<string, string>()

export function realComposeConfig(file: string, envFile: string, profiles: string[] = ['lightllm'], extraFiles: string[] = []): string {
  // the output holds no paths of the sandbox: cache it per .env content, profiles and override contents
  const key = readFileSync(envFile, 'utf8') + profiles.join(',') + extraFiles.map((f) => readFileSync(f, 'utf8')).join('\n')
  if (configs.has(key)) return configs.get(key)!
  const json = readConfig(file, envFile, profiles, extraFiles)
  configs.set(key, json)
  return json
}

function readConfig(file: string, envFile: string, profiles: string[], extraFiles: string[]): string {
  let out: string
  try {
    out = execFileSync('docker-compose', ['--env-file', envFile, '-f', file, ...extraFiles.flatMap((f) => ['-f', f]), ...profiles.flatMap((p) => ['--profile', p]), 'config'], { encoding: 'utf8', env: { ...process.env, COMPOSE_PROFILES: '' } })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('docker-compose is not installed: run make setup (Debian package docker-compose)')
    throw e
  }
  const doc = parseYaml(out) as { services: Record<string, { profiles?: string[] }> }
  // v2 drops services of inactive profiles itself
  for (const [name, svc] of Object.entries(doc.services)) if (svc.profiles && !svc.profiles.some((p) => profiles.includes(p))) delete doc.services[name]
  return JSON.stringify(doc)
}

export interface ComposeScenario {
  v1?: boolean
  /** Containers before the deploy (empty: first deploy). */
  before?: Array<{ service: string; image: string; imageId: string }>
  /** image inspect: images present locally -> their ID. */
  localImages?: Record<string, string>
  upFails?: boolean
  /** compose exec of a service's healthcheck fails. */
  unhealthy?: string[]
  /** docker inspect after up reports these unhealthy. */
  inspectUnhealthy?: string[]
  config: string
  daemon?: boolean
  nvidia?: boolean
  dockerRoot?: string
  upDelay?: number
}

export function dockerAnswers(s: ComposeScenario): Answer[] {
  const containers = (s.before ?? []).map((c, i) => ({
    Id: `c${i}`, Image: c.imageId, Config: { Image: c.image, Labels: { 'com.docker.compose.service': c.service } },
    State: { Status: 'running', Health: { Status: (s.inspectUnhealthy ?? []).includes(c.service) ? 'unhealthy' : 'healthy' } },
  }))
  const execIn = (service: string, rest: string, a: Answer = ok()): Answer[] =>
    containers.filter((c) => c.Config.Labels['com.docker.compose.service'] === service).map((c) => on(`^exec ${c.Id} ${rest}`, a))
  const answers: Answer[] = []
  if (s.daemon === false) answers.push(on('^(version|info|image|inspect|compose .* (ps|up|pull|down|logs|exec))', fails(1, 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?')))
  answers.push(
    on('^compose version', s.v1 ? fails(125, "docker: 'compose' is not a docker command.") : ok('2.29.1')),
    on('^version --format', ok('27.3.1')),
    on('^info --format \\{\\{\\.DockerRootDir', ok(s.dockerRoot ?? '/')),
    on('^info --format \\{\\{json \\.Runtimes', ok(s.nvidia === false ? '{"runc":{"path":"runc"}}' : '{"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}')),
    on('^image ls', ok(Object.entries(s.localImages ?? {}).map(([img, id]) => `${img}\t${id}`).join('\n'))),
    on('^inspect', ok(JSON.stringify(containers))),
    on('^compose .* config --format json', ok(s.config)),
    on('^compose .* ps --all --quiet', ok(containers.map((c) => c.Id).join('\n'))),
    ...(s.upFails ? [on('^compose .* up --detach --wait --wait-timeout [0-9]+ --remove-orphans$', fails(1, 'dependency failed to start: container owptest-openwebui-1 is unhealthy'))] : []),
    ...(s.upDelay ? [on('^compose .* up', { exitCode: 0, delay: s.upDelay })] : []),
    // validate-prod runs its checks with `docker exec <container id>` (the ids `ps` listed), else compose exec
    ...(s.unhealthy ?? []).flatMap((svc) => [on(`^compose .* exec -T ${svc} `, fails(1, 'curl: (7) Failed to connect')), ...execIn(svc, '', fails(1, 'curl: (7) Failed to connect'))]),
    ...['^compose .* exec -T openwebui curl .*chat/completions', ...execIn('openwebui', 'curl .*chat/completions').map((a) => a.match!)]
      .map((m) => on(m, ok('{"choices":[{"message":{"content":"pong"}}],"usage":{"total_tokens":12}}\n200'))),
    ...['^compose .* exec -T prometheus wget .*targets', ...execIn('prometheus', 'wget .*targets').map((a) => a.match!)]
      .map((m) => on(m, ok(JSON.stringify({ data: { activeTargets: [{ labels: { job: 'openwebui' }, health: 'up' }] } })))),
    on('^compose .* logs', ok('owptest-openwebui-1  | Traceback: database is locked')),
    on('^compose', ok()),
    ok(),
  )
  return answers
}

export function composeFakes(s: ComposeScenario): FakeBins {
  const bins = fakeBins({ docker: dockerAnswers(s), ...(s.v1 ? { 'docker-compose': composeV1Answers(s) } : {}) })
  return bins
}

function composeV1Answers(s: ComposeScenario): Answer[] {
  const yamlConfig = s.config
  return [
    on('^version --short', ok('1.29.2')),
    on('^.* config$', ok(yamlConfig)),
    on('^.* ps --all --quiet', ok((s.before ?? []).map((_, i) => `c${i}`).join('\n'))),
    ...(s.upFails ? [on('^.* up ', fails(1, 'ERROR: for openwebui  Container is unhealthy.'))] : []),
    on('^.* logs', ok('openwebui_1  | Traceback: database is locked')),
    ok(),
  ]
}
