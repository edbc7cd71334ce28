// helm/infra.yaml: the pinned infra releases, their conditions, drift detection and install steps.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { Ajv } from 'ajv'
import { ConfigError } from '../core/errors.ts'
import { ROOT } from '../core/paths.ts'
import { upgradeArgv, getValuesArgv, listArgv, parseList, type HelmInfo } from '../tools/helm.ts'
import { kubectl, getJson, type RenderFacts } from '../tools/kube.ts'
import { imageRepository, mirrorName } from '../stack/registry-mirror.ts'
import type { Step } from '../core/plan.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason, oneLine } from '../core/exec.ts'

export const INFRA_FILE = join(ROOT, 'helm', 'infra.yaml')

export interface InfraSecret { name: string; data: Record<string, string> }

/**
 * An image of an infra chart and the values that name it: `repository` alone (a full repository
 * value) or `registry` + `repository` (the chart prints registry/repository). Dotted value paths.
 */
export interface InfraImage { image: string; repository: string; registry?: string }

export interface InfraRelease {
  name: string
  condition: string
  version: string
  namespace?: string
  repo?: string
  chart?: string
  /** A manifest URL applied with kubectl instead of a chart (Gateway API CRDs). */
  manifest?: string
  versionFrom?: { crd: string; annotation: string }
  after?: string[]
  provides?: string[]
  values?: Record<string, unknown>
  valuesWhen?: Record<string, Record<string, unknown>>
  secrets?: InfraSecret[]
  /** Values taken from .env: dotted value path -> variable (a trailing ? makes it optional). */
  valuesFromEnv?: Record<string, string>
  /** Every image the chart runs, with the values that name it (IMAGE_MIRROR sets them). */
  images?: InfraImage[]
  enabled?: boolean
}

/** A dotted chart value path (image.repository, kube-state-metrics.image.registry). */
const VALUE_PATH = '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$'

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['releases'],
  properties: {
    releases: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'version', 'condition'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
          version: { type: 'string', pattern: '^v?\\d+\\.\\d+\\.\\d+$' },
          condition: { type: 'string', minLength: 1 },
          namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
          repo: { type: 'string', pattern: '^https://' },
          // a repository chart, or a chart of this repository (./helm/NAME, installed from the checkout)
          chart: { type: 'string', minLength: 1 },
          manifest: { type: 'string', pattern: '^https://' },
          versionFrom: { type: 'object', additionalProperties: false, required: ['crd', 'annotation'], properties: { crd: { type: 'string' }, annotation: { type: 'string' } } },
          after: { type: 'array', items: { type: 'string' } },
          provides: { type: 'array', items: { type: 'string', pattern: '^(crd|ingressClass|gatewayClass|gateway|clusterIssuer):.+' } },
          values: { type: 'object' },
          valuesWhen: { type: 'object', additionalProperties: { type: 'object' } },
          secrets: {
            type: 'array',
            items: {
              type: 'object', additionalProperties: false, required: ['name', 'data'],
              properties: { name: { type: 'string' }, data: { type: 'object', additionalProperties: { type: 'string', pattern: '^[A-Z][A-Z0-9_]*$' } } },
            },
          },
          valuesFromEnv: { type: 'object', additionalProperties: { type: 'string', pattern: '^[A-Z][A-Z0-9_]*\\??$' } },
          images: {
            type: 'array',
            items: {
              type: 'object', additionalProperties: false, required: ['image', 'repository'],
              properties: {
                // a repository with its registry host, no tag or digest (the chart's version picks the tag)
                image: { type: 'string', pattern: '^[a-z0-9-]+(\\.[a-z0-9-]+)+(:[0-9]+)?(/[a-z0-9._-]+)+$' },
                repository: { type: 'string', pattern: VALUE_PATH },
                registry: { type: 'string', pattern: VALUE_PATH },
              },
            },
          },
          enabled: { type: 'boolean' },
        },
        oneOf: [
          { required: ['chart', 'namespace'], not: { required: ['manifest'] } },
          { required: ['manifest', 'versionFrom'], not: { required: ['chart'] } },
        ],
      },
    },
  },
}

/** Load and check helm/infra.yaml: every problem listed, conditions parsed, versions exact. */
export function loadInfra(path = INFRA_FILE): InfraRelease[] {
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new ConfigError([(e as Error).message], `infra file ${path}`)
  }
  const ajv = new Ajv({ allErrors: true, strict: false })
  const validate = ajv.compile(schema)
  const problems: string[] = []
  if (!validate(doc)) {
    for (const e of validate.errors ?? []) {
      if (e.keyword === 'oneOf' || e.keyword === 'not') continue
      problems.push(`${e.instancePath || '/'} ${e.message}`)
    }
    if (!problems.length) problems.push('each release needs either chart + namespace, or manifest + versionFrom')
    throw new ConfigError(problems, `infra file ${path}`)
  }
  const releases = (doc as { releases: InfraRelease[] }).releases
  const names = new Set<string>()
  for (const r of releases) {
    if (names.has(r.name)) problems.push(`release ${r.name} is listed twice`)
    names.add(r.name)
    try { parseCondition(r.condition) } catch (e) { problems.push(`release ${r.name}: condition "${r.condition}": ${(e as Error).message}`) }
    for (const fact of Object.keys(r.valuesWhen ?? {})) {
      try { parseCondition(fact) } catch (e) { problems.push(`release ${r.name}: valuesWhen "${fact}": ${(e as Error).message}`) }
    }
  }
  for (const r of releases) for (const dep of r.after ?? []) if (!names.has(dep)) problems.push(`release ${r.name}: after names unknown release ${dep}`)
  for (const r of releases) {
    if (r.chart && isLocalChart(r.chart) && r.repo) problems.push(`release ${r.name}: a chart of this repository (${r.chart}) takes no repo`)
    if (r.chart && !isLocalChart(r.chart) && !r.repo) problems.push(`release ${r.name}: chart ${r.chart} needs a repo (or ./helm/NAME for a chart of this repository)`)
    if (r.manifest && r.images?.length) problems.push(`release ${r.name}: a manifest takes no images (only a chart's values can name a mirror)`)
    const seen = new Set<string>()
    for (const i of r.images ?? []) {
      if (seen.has(i.image)) problems.push(`release ${r.name}: image ${i.image} is listed twice`)
      seen.add(i.image)
    }
  }
  if (problems.length) throw new ConfigError(problems, `infra file ${path}`)
  return releases
}

// ---- conditions ------------------------------------------------------------------------------

type Cond =
  | { op: 'fact'; name: string }
  | { op: 'eq'; name: string; value: string }
  | { op: 'not'; a: Cond }
  | { op: 'and' | 'or'; a: Cond; b: Cond }

export const FACTS = ['tls', 'ingress', 'gateway', 'monitoring', 'cnpg', 'rollouts', 'gpu', 'always', 'never'] as const
const EQ_FACTS = ['ingressClass', 'gatewayClass', 'gateway', 'clusterIssuer']

/** A small boolean grammar: fact, fact == value, !, &&, ||, parentheses. */
export function parseCondition(text: string): Cond {
  const tokens = text.match(/\(|\)|&&|\|\||==|!|[\w./:-]+|\S/g) ?? []
  let i = 0
  const peek = () => tokens[i]
  const next = () => tokens[i++]
  const or = (): Cond => { let a = and(); while (peek() === '||') { next(); a = { op: 'or', a, b: and() } } return a }
  const and = (): Cond => { let a = not(); while (peek() === '&&') { next(); a = { op: 'and', a, b: not() } } return a }
  const not = (): Cond => (peek() === '!' ? (next(), { op: 'not', a: not() }) : atom())
  const atom = (): Cond => {
    const t = next()
    if (t === undefined) throw new Error('unexpected end')
    if (t === '(') { const c = or(); if (next() !== ')') throw new Error('missing )'); return c }
    if (!/^[\w./:-]+$/.test(t)) throw new Error(`unexpected "${t}"`)
    if (peek() === '==') {
      next()
      const value = next()
      if (!EQ_FACTS.includes(t)) throw new Error(`"${t}" cannot be compared (only ${EQ_FACTS.join(', ')})`)
      if (!value || !/^[\w./:-]+$/.test(value)) throw new Error(`a value must follow ==`)
      return { op: 'eq', name: t, value }
    }
    if (!(FACTS as readonly string[]).includes(t)) throw new Error(`unknown fact "${t}" (known: ${FACTS.join(', ')}, ingressClass == NAME, gatewayClass == NAME, gateway == NS/NAME, clusterIssuer == NAME)`)
    return { op: 'fact', name: t }
  }
  const c = or()
  if (i < tokens.length) throw new Error(`unexpected "${tokens[i]}"`)
  return c
}

export function evalCondition(text: string, f: RenderFacts): boolean {
  const ev = (c: Cond): boolean => {
    switch (c.op) {
      case 'not': return !ev(c.a)
      case 'and': return ev(c.a) && ev(c.b)
      case 'or': return ev(c.a) || ev(c.b)
      case 'eq': return ({ ingressClass: f.ingressClasses, gatewayClass: f.gatewayClasses, gateway: f.gatewayRefs, clusterIssuer: f.clusterIssuers }[c.name] ?? []).includes(c.value)
      case 'fact':
        switch (c.name) {
          case 'always': return true
          case 'never': return false
          case 'gpu': return f.gpus > 0
          default: return Boolean(f[c.name as 'tls' | 'ingress' | 'gateway' | 'monitoring' | 'cnpg' | 'rollouts'])
        }
    }
  }
  return ev(parseCondition(text))
}

// ---- values, drift, steps ----------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Deep merge (objects merge, everything else is replaced), as Helm merges values files. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? mergeValues(out[k] as Record<string, unknown>, v) : v
  return out
}

export function desiredValues(r: InfraRelease, f: RenderFacts, env: Record<string, string> = {}): Record<string, unknown> {
  let v = r.values ?? {}
  for (const [cond, extra] of Object.entries(r.valuesWhen ?? {})) if (evalCondition(cond, f)) v = mergeValues(v, extra)
  v = mergeValues(v, envValuesOf(r, env).values)
  return env.IMAGE_MIRROR ? mergeValues(v, mirrorValues(r, env.IMAGE_MIRROR)) : v
}

/**
 * The values that make a release pull each of its images from the mirror, under the name
 * make mirror-images copies it to (mirrorName: registry host replaced, path kept; the tag stays
 * the chart's own, which is the tag mirror-images found in the chart's render).
 */
export function mirrorValues(r: InfraRelease, registry: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const prefix = `${registry.replace(/\/+$/, '')}/`
  for (const i of r.images ?? []) {
    const target = mirrorName(registry, i.image)
    if (i.registry) {
      setPath(out, i.registry, prefix.slice(0, -1))
      setPath(out, i.repository, target.slice(prefix.length))
    } else {
      setPath(out, i.repository, target)
    }
  }
  return out
}

/** Images of a release's render (refs with tags) that its `images` list does not name: a mirror deploy would pull them from their own registry. */
export function imagesNotNamed(r: InfraRelease, refs: string[]): string[] {
  const named = new Set((r.images ?? []).map((i) => i.image))
  return refs.filter((ref) => !named.has(imageRepository(ref)))
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let node = obj
  for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>
  node[keys.at(-1)!] = value
}

/** A chart of this repository: ./helm/NAME, resolved against the checkout. */
export const isLocalChart = (chart: string) => chart.startsWith('./')
export const chartRef = (r: InfraRelease) => (r.chart && isLocalChart(r.chart) ? join(ROOT, r.chart) : r.chart!)

/** The values a release takes from .env, and the required variables that are not set. */
export function envValuesOf(r: InfraRelease, env: Record<string, string>): { values: Record<string, unknown>; missing: string[] } {
  const values: Record<string, unknown> = {}
  const missing: string[] = []
  for (const [path, spec] of Object.entries(r.valuesFromEnv ?? {})) {
    const variable = spec.replace(/\?$/, '')
    const value = env[variable]
    if (value === undefined || value === '') {
      if (!spec.endsWith('?')) missing.push(`${variable} (for ${path} of infra release ${r.name})`)
      continue
    }
    setPath(values, path, value)
  }
  return { values, missing }
}

export interface InfraDecision {
  release: InfraRelease
  wanted: boolean
  /** install | upgrade (drifted) | ok (up to date) | skip (condition false or disabled) | unknown (helm list failed, the cluster not reachable: will install) */
  action: 'install' | 'upgrade' | 'ok' | 'skip' | 'unknown'
  reason: string
  values: Record<string, unknown>
}

/** Decide, per release, whether this run installs it: condition, then what the cluster has now. */
export async function decideInfra(ctx: Ctx, h: HelmInfo, releases: InfraRelease[], f: RenderFacts, o: { skip?: string[]; env?: Record<string, string> } = {}): Promise<InfraDecision[]> {
  return Promise.all(releases.map(async (r): Promise<InfraDecision> => {
    const values = desiredValues(r, f, o.env)
    if (r.enabled === false) return { release: r, wanted: false, action: 'skip', reason: 'enabled: false in infra.yaml', values }
    if (o.skip?.includes(r.name)) return { release: r, wanted: false, action: 'skip', reason: 'skipped (--skip-infra)', values }
    if (!evalCondition(r.condition, f)) return { release: r, wanted: false, action: 'skip', reason: `not needed (${r.condition})`, values }
    if (r.manifest) return manifestDecision(ctx, r, values)
    const [listed, current] = await Promise.all([
      ctx.exec(listArgv(h, r.name, r.namespace!), { allowFailure: true, timeout: 30_000 }).catch((e: Error) => e),
      getJson<Record<string, unknown> | null>(ctx, getValuesArgv(h, r.name, r.namespace!), 30_000),
    ])
    if (listed instanceof Error || listed.exitCode !== 0) {
      const why = listed instanceof Error ? oneLine(ctx.secrets.mask(listed.message)) : failureReason(ctx, listed, 1)
      return { release: r, wanted: true, action: 'unknown', reason: `helm list failed (${why}): assuming missing`, values }
    }
    const found = parseList(listed.stdout).find((x) => x.name === r.name)
    if (!found) return { release: r, wanted: true, action: 'install', reason: 'missing', values }
    const want = `${chartName(r)}-${r.version}`
    if (found.chart !== want) return { release: r, wanted: true, action: 'upgrade', reason: `chart ${found.chart}, want ${want}`, values }
    if (found.status !== 'deployed') return { release: r, wanted: true, action: 'upgrade', reason: `status ${found.status}`, values }
    if (!isDeepStrictEqual(normalize(current ?? {}), normalize(values))) return { release: r, wanted: true, action: 'upgrade', reason: 'values drifted', values }
    return { release: r, wanted: false, action: 'ok', reason: `up to date (${want})`, values }
  }))
}

async function manifestDecision(ctx: Ctx, r: InfraRelease, values: Record<string, unknown>): Promise<InfraDecision> {
  const crd = await getJson<{ metadata?: { annotations?: Record<string, string> } }>(ctx, kubectl('get', 'crd', r.versionFrom!.crd, '--output', 'json', '--request-timeout', '10s'))
  if (!crd) return { release: r, wanted: true, action: 'install', reason: `CRD ${r.versionFrom!.crd} missing (or cluster not reachable)`, values }
  const have = crd.metadata?.annotations?.[r.versionFrom!.annotation]
  if (have === r.version) return { release: r, wanted: false, action: 'ok', reason: `up to date (${have})`, values }
  return { release: r, wanted: true, action: 'upgrade', reason: `installed ${have ?? 'unknown version'}, want ${r.version}`, values }
}

function normalize(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? {}))
}

export function chartName(r: InfraRelease): string {
  return (r.chart ?? '').split('/').pop()!
}

/** Where a release's values file is written (deterministic, so --dry-run shows the real path). */
export function valuesPath(stateDir: string, name: string): string {
  return join(stateDir, 'infra-values', `${name}.yaml`)
}

/**
 * The steps of the infra phase: per wanted release, its secrets (manifest on stdin) then its helm
 * upgrade or kubectl apply. `after` only orders releases that are in this run.
 */
export function infraSteps(h: HelmInfo, decisions: InfraDecision[], o: { stateDir: string; timeout: string; historyMax?: number; env: Record<string, string>; dryRun?: boolean; warn?: (m: string) => void }): Step[] {
  const wanted = decisions.filter((d) => d.wanted)
  const inRun = new Set(wanted.map((d) => d.release.name))
  const missing: string[] = []
  const steps: Step[] = []
  for (const { release: r, values, action } of wanted) {
    const after = (r.after ?? []).filter((n) => inRun.has(n)).map((n) => `infra:${n}`)
    if (r.manifest) {
      steps.push({
        id: `infra:${r.name}`, title: `${action === 'upgrade' ? 'upgrade' : 'install'} ${r.name} ${r.version}`, mutates: true, after, timeoutMs: 300_000,
        argv: kubectl('apply', '--server-side', '--force-conflicts', '--field-manager', 'owp-deploy', '--filename', r.manifest),
      })
      continue
    }
    missing.push(...envValuesOf(r, o.env).missing)
    const secretIds: string[] = []
    for (const s of r.secrets ?? []) {
      const data: Record<string, string> = {}
      for (const [key, variable] of Object.entries(s.data)) {
        const value = o.env[variable]
        if (!value) missing.push(`${variable} (for Secret ${s.name} of infra release ${r.name})`)
        else data[key] = value
      }
      const id = `infra:${r.name}:secret:${s.name}`
      secretIds.push(id)
      steps.push({
        id, title: `secret ${r.namespace}/${s.name}`, mutates: true, after, timeoutMs: 60_000,
        argv: kubectl('apply', '--server-side', '--force-conflicts', '--field-manager', 'owp-deploy', '--filename', '-'),
        input: JSON.stringify(secretManifest(r.namespace!, s.name, data)),
      })
    }
    const file = valuesPath(o.stateDir, r.name)
    mkdirSync(join(o.stateDir, 'infra-values'), { recursive: true })
    writeFileSync(file, `# written by the deploy kit from helm/infra.yaml: do not edit\n${stringifyYaml(values)}`)
    steps.push({
      id: `infra:${r.name}`, title: `${action === 'upgrade' ? 'upgrade' : 'install'} ${r.name} ${r.version}`, mutates: true, stream: false,
      after: [...after, ...secretIds],
      timeoutMs: 45 * 60_000,
      // a chart of this repository is installed from the checkout: no --version to resolve
      argv: upgradeArgv(h, { name: r.name, namespace: r.namespace!, chart: chartRef(r), repo: r.repo, version: isLocalChart(r.chart!) ? undefined : r.version, valuesFiles: [file], timeout: o.timeout, historyMax: o.historyMax }),
    })
  }
  if (missing.length && o.dryRun) o.warn?.(`not set, a real run stops here: ${missing.join('; ')}`)
  else if (missing.length) throw new ConfigError(missing.map((m) => `${m} is not set`), 'environment for the infra releases (set it in .env or pass --env-file)')
  return steps
}

/** A Namespace and a Secret in one List: applied together so the namespace exists first. */
export function secretManifest(namespace: string, name: string, data: Record<string, string>): unknown {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      {
        apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'owp-deploy-kit' } },
        stringData: data,
      },
    ],
  }
}

/** `crd:NAME`, `ingressClass:NAME`, `gatewayClass:NAME`, `gateway:NS/NAME`, `clusterIssuer:NAME` the wanted (or already present) releases provide. */
export function provided(decisions: InfraDecision[]): Set<string> {
  return new Set(decisions.filter((d) => d.wanted || d.action === 'ok').flatMap((d) => d.release.provides ?? []))
}
