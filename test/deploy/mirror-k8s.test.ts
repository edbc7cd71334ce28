// IMAGE_MIRROR on Kubernetes: with .env IMAGE_MIRROR=R, deploy --kubernetes makes the chart and every
// infra release pull each image under the name make mirror-images copies it to (mirrorName). Checked
// on the real helm render of the chart, and on the infra values as real helm v4 and v3 parse the
// deploy's argv (the infra charts are remote: their images come from recorded renders).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml, stringify } from 'yaml'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import { loadInfra, type InfraRelease } from '../../scripts/lib/deploy/infra.ts'
import { infraImageRefs, type MirrorImage } from '../../scripts/lib/deploy/mirror.ts'
import { imageRepository, mirrorName } from '../../scripts/lib/stack/registry-mirror.ts'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { ConfigError } from '../../scripts/lib/core/errors.ts'
import { fakeBins, ok, on, type FakeBins } from '../helpers/fake-bins.ts'
import { HELM_VERSIONS, parseManifests, renderChart, runHelm, templateArgs, type K8sObject } from '../helpers/k8s-render.ts'
import { runScript } from '../helpers/run-script.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { HISTORY_3, INFRA_CHARTS, helmAnswers, infraTemplateAnswers, k8sOptions, kubectlAnswers, sandbox, writeEnv, type Sandbox } from './helpers.ts'

const R = 'registry.corp.example.com:5000/owp'
const CI = join(CHART_DIR, 'ci')
const READY = { ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com'] }

let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })
const scratch = tmpDir('owp-mirror-k8s-')
afterAll(() => scratch.remove())

/** A deploy sandbox whose helm template answers with `rendered` (the real chart's render). */
function setup(rendered: string, env: Record<string, string> = { IMAGE_MIRROR: R }) {
  bins = fakeBins({ helm: [on('^template owp ', ok(rendered)), ...helmAnswers({ history: HISTORY_3 })], kubectl: kubectlAnswers(READY) })
  box = sandbox(bins, env)
  return { bins, box }
}

const fromEnvValues = (b: Sandbox) => join(b.env.OWP_STATE_DIR, 'values', 'owp-from-env.yaml')

// what make mirror-images copies, from the .env the deploys below read (its registry: IMAGE_MIRROR)
let plan: MirrorImage[]
let defaultRender: string
/** The chart values the deploy maps from that .env (IMAGE_REGISTRY, IMAGE_TAG, IMAGE_MIRROR...). */
let fromEnv: string
beforeAll(async () => {
  const site = join(scratch.path, 'site')
  mkdirSync(site)
  const fakes = fakeBins({ helm: infraTemplateAnswers() })
  try {
    const r = await runScript('scripts/mirror-images.ts', ['--env-file', writeEnv(site, { IMAGE_MIRROR: R }), '--dry-run', '--json', '--tool', 'crane'], { env: { PATH: fakes.path } })
    expect(r.code, r.stderr).toBe(0)
    plan = (JSON.parse(r.stdout) as { images: MirrorImage[] }).images
  } finally {
    fakes.remove()
  }
  defaultRender = (await runHelm('v4', templateArgs())).stdout
  const { box } = setup(defaultRender)
  expect((await deployK8s(box.ctx({ dryRun: true }), k8sOptions({ chart: CHART_DIR, infra: false }))).ok).toBe(true)
  fromEnv = join(scratch.path, 'owp-from-env.yaml')
  writeFileSync(fromEnv, readFileSync(fromEnvValues(box), 'utf8'))
}, 120_000)

// ---- the platform chart ------------------------------------------------------------------------

/**
 * Every image a rendered object makes a node pull (containers and init containers at any depth,
 * CloudNativePG's imageName), each one that is not a name in `copied`; a container without an image
 * (an operator's built-in default, e.g. a Pooler's PgBouncer) counts as not mirrored.
 */
function unmirrored(objects: K8sObject[], copied: Set<string>): string[] {
  const out: string[] = []
  const walk = (n: unknown, where: string) => {
    if (Array.isArray(n)) { n.forEach((x) => walk(x, where)); return }
    if (!n || typeof n !== 'object') return
    const o = n as Record<string, unknown>
    for (const key of ['initContainers', 'containers']) {
      for (const c of (Array.isArray(o[key]) ? o[key] : []) as Array<{ name?: string; image?: string }>) {
        if (!c.image) out.push(`${where} ${key} ${c.name}: no image (the default of the operator, from its own registry)`)
        else if (!copied.has(c.image)) out.push(`${where} ${key} ${c.name}: ${c.image}`)
      }
    }
    if (typeof o.imageName === 'string' && !copied.has(o.imageName)) out.push(`${where} imageName: ${o.imageName}`)
    for (const [k, v] of Object.entries(o)) if (k !== 'containers' && k !== 'initContainers') walk(v, where)
  }
  for (const obj of objects) walk(obj, `${obj.kind}/${obj.metadata.name}`)
  return out
}

/** The ci scenarios that leave global.imageRegistry to the deploy (airgap and extensions set their own). */
const scenarios = readdirSync(CI).filter((f) => f.endsWith('-values.yaml'))
  .filter((f) => !(parseYaml(readFileSync(join(CI, f), 'utf8'))?.global ?? {}).imageRegistry).sort()

describe('IMAGE_MIRROR on Kubernetes: the platform chart', () => {
  it('the deploy sets global.imageRegistry from IMAGE_MIRROR', () => {
    expect(parseYaml(readFileSync(fromEnv, 'utf8')).global).toEqual({ domain: 'chat.test.local', imageRegistry: R })
  })

  it.each(['default', ...scenarios])('every image of every rendered object is the mirror name of one make mirror-images copies (%s)', async (scenario) => {
    const copied = new Set(plan.map((i) => i.target))
    for (const i of plan) expect(i.target).toBe(mirrorName(R, i.source))
    const valuesFiles = [fromEnv, ...(scenario === 'default' ? [] : [join(CI, scenario)])]
    for (const v of scenario === 'default' ? HELM_VERSIONS : (['v4'] as const)) {
      const objects = await renderChart(v, { valuesFiles })
      expect(unmirrored(objects, copied), `${scenario}, helm ${v}`).toEqual([])
      const text = JSON.stringify(objects)
      expect(text.includes(`"${R}/open-webui/open-webui:`), 'Open WebUI from the mirror').toBe(true)
      // the kit's own images (IMAGE_REGISTRY and IMAGE_TAG of the .env) come from the mirror too
      if (scenario === 'default') expect(text.includes(`"${R}/owp/graphrag-processor:1.2.3"`), 'GraphRAG from the mirror').toBe(true)
    }
  }, 60_000)

  it('the check rejects a render that pulls from elsewhere, and a container left to an operator default', async () => {
    const copied = new Set(plan.map((i) => i.target))
    // the same chart without IMAGE_MIRROR: every image is public
    const publicRender = await renderChart('v4', { valuesFiles: [join(CI, 'ha-values.yaml')] })
    const problems = unmirrored(publicRender, copied)
    expect(problems).toContainEqual(expect.stringMatching(/^Deployment\/owp-openwebui containers openwebui: ghcr\.io\/open-webui\/open-webui:/))
    expect(problems).toContainEqual(expect.stringMatching(/^Cluster\/owp-postgres imageName: ghcr\.io\/cloudnative-pg\/postgresql:/))
    const pooler = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Pooler', metadata: { name: 'p' }, spec: { template: { spec: { containers: [{ name: 'pgbouncer' }] } } } }
    expect(unmirrored([pooler], copied)).toEqual(['Pooler/p containers pgbouncer: no image (the default of the operator, from its own registry)'])
  })

  it("the operator's own global.imageRegistry wins; the deploy warns when it is not IMAGE_MIRROR", async () => {
    const { box } = setup(defaultRender)
    const site = join(box.dir, 'site.yaml')
    writeFileSync(site, 'global:\n  imageRegistry: other.example.com/images\n')
    const ctx = box.ctx({ dryRun: true })
    await deployK8s(ctx, k8sOptions({ chart: CHART_DIR, values: [site] }))
    expect(parseYaml(readFileSync(fromEnvValues(box), 'utf8')).global.imageRegistry).toBeUndefined()
    expect(ctx.stderr()).toContain(`images: the chart from other.example.com/images (global.imageRegistry in site.yaml); the infra releases (their image values) from the mirror ${R} (IMAGE_MIRROR)`)
    expect(ctx.stderr()).toContain(`IMAGE_MIRROR=${R}, but global.imageRegistry="other.example.com/images" in ${site}: the chart pulls from other.example.com/images, not from the mirror make mirror-images fills`)
  })

  it('the same registry in the operator\'s values: no warning', async () => {
    const { box } = setup(defaultRender)
    const site = join(box.dir, 'site.yaml')
    writeFileSync(site, `global:\n  imageRegistry: ${R}/\n`)
    const ctx = box.ctx({ dryRun: true })
    await deployK8s(ctx, k8sOptions({ chart: CHART_DIR, values: [site] }))
    expect(ctx.stderr()).not.toContain('but global.imageRegistry')
    expect(ctx.stderr()).toContain(`images: the chart (global.imageRegistry) and the infra releases (their image values) from the mirror ${R} (IMAGE_MIRROR)`)
  })
})

describe('deploy --kubernetes --dry-run says where the images come from', () => {
  it('from the mirror, in one line', async () => {
    const { box } = setup(defaultRender)
    const ctx = box.ctx({ dryRun: true })
    expect((await deployK8s(ctx, k8sOptions({ chart: CHART_DIR }))).ok).toBe(true)
    const lines = ctx.stderr().split('\n').filter((l) => l.includes('images: '))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`images: the chart (global.imageRegistry) and the infra releases (their image values) from the mirror ${R} (IMAGE_MIRROR)`)
  })

  it('without IMAGE_MIRROR: each from its own registry, and no registry in the values', async () => {
    const { box } = setup(defaultRender, {})
    const ctx = box.ctx({ dryRun: true })
    await deployK8s(ctx, k8sOptions({ chart: CHART_DIR }))
    expect(ctx.stderr()).toContain('images: each from its own registry (IMAGE_MIRROR is empty)')
    expect(parseYaml(readFileSync(fromEnvValues(box), 'utf8')).global.imageRegistry).toBeUndefined()
    for (const f of readdirSync(join(box.env.OWP_STATE_DIR, 'infra-values'))) {
      expect(readFileSync(join(box.env.OWP_STATE_DIR, 'infra-values', f), 'utf8')).not.toContain('registry.corp')
    }
  })
})

// ---- the infra releases ------------------------------------------------------------------------

const charts = loadInfra().filter((r) => r.repo)

/** A chart that renders the values helm computed from the flags it was given (nothing of its own). */
function echoChart(): string {
  const dir = join(scratch.path, 'echo')
  mkdirSync(join(dir, 'templates'), { recursive: true })
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: echo\nversion: 0.1.0\n')
  writeFileSync(join(dir, 'templates', 'values.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values\ndata:\n  values.json: {{ toJson .Values | quote }}\n')
  return dir
}

/** The values of an infra `helm upgrade` argv as the real helm parses its --values / --set flags. */
async function parsedValues(v: 'v4' | 'v3', argv: string[], chart: string): Promise<Record<string, unknown>> {
  const flags: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (/^(--values|-f|--set|--set-string|--set-json|--set-file|--set-literal)$/.test(argv[i]!)) flags.push(argv[i]!, argv[++i]!)
    else if (/^--(values|set[\w-]*)=/.test(argv[i]!)) flags.push(argv[i]!)
  }
  const ns = argv[argv.indexOf('--namespace') + 1]!
  const r = await runHelm(v, ['template', argv[3]!, chart, '--namespace', ns, ...flags])
  if (r.code !== 0) throw new Error(`helm ${v} refused the values of ${argv[3]}: ${r.stderr}`)
  return JSON.parse(parseManifests(r.stdout)[0]!.data['values.json'])
}

/** The repositories image values name: `repository`, or `registry`/`repository` (how every infra chart joins them). */
function namedRepositories(values: unknown): Set<string> {
  const out = new Set<string>()
  const walk = (n: unknown) => {
    if (!n || typeof n !== 'object') return
    const o = n as Record<string, unknown>
    if (typeof o.repository === 'string') out.add(typeof o.registry === 'string' && o.registry ? `${o.registry}/${o.repository}` : o.repository)
    Object.values(o).forEach(walk)
  }
  walk(values)
  return out
}

/** Each image mirror-images copies for a release whose mirror name (without the chart's tag) the release's values do not name. */
function unnamedMirrorImages(values: Map<string, Record<string, unknown>>): string[] {
  const out: string[] = []
  for (const i of plan) {
    for (const from of i.from.filter((f) => f.startsWith('infra:'))) {
      const release = from.slice('infra:'.length)
      const named = namedRepositories(values.get(release))
      if (!named.has(imageRepository(i.target))) out.push(`${release}: ${i.source} -> ${imageRepository(i.target)} (the values name ${[...named].join(', ') || 'no image'})`)
    }
  }
  return out
}

/** Deploy the infra releases the real chart asks for (ha + blue-green: all of them) and collect their helm upgrade argv. */
async function infraUpgrades(infraFile?: string): Promise<string[][]> {
  const rendered = await runHelm('v4', templateArgs({ valuesFiles: [join(CI, 'ha-values.yaml'), join(CI, 'rollout-bluegreen-values.yaml')] }))
  const { bins, box } = setup(rendered.stdout)
  const out = await deployK8s(box.ctx(), k8sOptions({ chart: CHART_DIR, app: false, infraFile }))
  expect(out.ok, out.summary).toBe(true)
  return bins.calls('helm').filter((c) => c[1] === 'upgrade' && charts.some((r) => r.name === c[3]))
}

describe('IMAGE_MIRROR on Kubernetes: the infra releases', () => {
  it('make mirror-images copies the images each recorded infra chart render names, the operator arguments included', () => {
    const byRelease = (name: string) => plan.filter((i) => i.from.includes(`infra:${name}`)).map((i) => i.source).sort()
    expect(byRelease('cert-manager')).toContain('quay.io/jetstack/cert-manager-acmesolver:v1.21.1')
    expect(byRelease('kube-prometheus-stack')).toContain('quay.io/prometheus-operator/prometheus-config-reloader:v0.93.0')
    expect(byRelease('traefik')).toEqual(['docker.io/traefik:v3.7.11'])
    for (const r of charts) expect(byRelease(r.name).length, r.name).toBeGreaterThan(0)
  })

  it.each(HELM_VERSIONS)('the values the deploy passes name, for every image mirror-images copies, its mirror name (helm %s parses them)', async (v) => {
    const upgrades = await infraUpgrades()
    expect(upgrades.map((c) => c[3]).sort()).toEqual(charts.map((r) => r.name).sort())
    const chart = echoChart()
    const values = new Map(await Promise.all(upgrades.map(async (argv) => [argv[3]!, await parsedValues(v, argv, chart)] as const)))
    expect(unnamedMirrorImages(values)).toEqual([])
    // the release's own values are kept beside the mirror's
    expect((values.get('cert-manager')!.crds as Record<string, unknown>).keep).toBe(true)
    expect((values.get('traefik')!.image as Record<string, unknown>)).toEqual({ registry: R, repository: 'traefik' })
  }, 60_000)

  it('setting IMAGE_MIRROR is a drift: a release installed from the public registries is upgraded onto the mirror', async () => {
    const cm = charts.find((r) => r.name === 'cert-manager')!
    const installed = { 'cert-manager': { chart: `cert-manager-${cm.version}`, values: cm.values } }
    const run = async (env: Record<string, string>) => {
      bins = fakeBins({ helm: helmAnswers({ history: HISTORY_3, infraInstalled: installed }), kubectl: kubectlAnswers(READY) })
      box = sandbox(bins, env)
      const ctx = box.ctx({ dryRun: true })
      await deployK8s(ctx, k8sOptions({ app: false }))
      bins.remove(); box.remove(); bins = box = undefined
      return ctx.stderr()
    }
    expect(await run({})).toContain('infra cert-manager: up to date')
    expect(await run({ IMAGE_MIRROR: R })).toContain('infra cert-manager: upgrade (values drifted)')
  })

  it('the check rejects a release whose images list misses one (cert-manager without its ACME solver)', async () => {
    const broken = join(scratch.path, 'infra-no-acmesolver.yaml')
    const doc = parseYaml(readFileSync(join(CHART_DIR, '..', 'infra.yaml'), 'utf8')) as { releases: InfraRelease[] }
    const cm = doc.releases.find((r) => r.name === 'cert-manager')!
    cm.images = cm.images!.filter((i) => !i.image.endsWith('acmesolver'))
    writeFileSync(broken, stringify(doc))
    const upgrades = await infraUpgrades(broken)
    const chart = echoChart()
    const values = new Map(await Promise.all(upgrades.map(async (argv) => [argv[3]!, await parsedValues('v4', argv, chart)] as const)))
    expect(unnamedMirrorImages(values)).toEqual([expect.stringMatching(/^cert-manager: quay\.io\/jetstack\/cert-manager-acmesolver:v1\.21\.1 -> registry\.corp\.example\.com:5000\/owp\/jetstack\/cert-manager-acmesolver /)])
    // and make mirror-images refuses to copy for it: the next deploy would pull the solver from quay.io
    const fakes = fakeBins({ helm: infraTemplateAnswers() })
    try {
      const err = await infraImageRefs(testCtx({ path: fakes.path }), loadInfra(broken)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^quay\.io\/jetstack\/cert-manager-acmesolver:v1\.21\.1 \(infra release cert-manager\): no entry of its images list names it/)])
    } finally {
      fakes.remove()
    }
  }, 60_000)
})

// The value keys helm/infra.yaml names must be the charts' own: each one an image block of the
// chart's values.yaml (recorded beside the renders), and each listed image one the chart renders.
const IMAGE_VALUES = parseYaml(readFileSync(join(INFRA_CHARTS, 'image-values.yaml'), 'utf8')) as Record<string, Record<string, Record<string, unknown>>>

function keyProblems(releases: InfraRelease[]): string[] {
  const out: string[] = []
  for (const r of releases.filter((x) => x.repo)) {
    const blocks = IMAGE_VALUES[r.name] ?? {}
    const rendered = new Set(parseManifests(readFileSync(join(INFRA_CHARTS, `${r.name}.rendered.yaml`), 'utf8'))
      .flatMap((o) => JSON.stringify(o).match(/[a-z0-9-]+(\.[a-z0-9-]+)+\/[a-z0-9._/-]+:[\w.-]+/g) ?? []).map(imageRepository))
    for (const i of r.images ?? []) {
      if (!rendered.has(i.image)) out.push(`${r.name}: ${i.image} is not an image the chart renders`)
      for (const [field, path] of Object.entries({ repository: i.repository, registry: i.registry })) {
        if (!path) continue
        const block = path.split('.').slice(0, -1).join('.')
        const key = path.split('.').at(-1)!
        if (key !== field || !blocks[block] || !(key in blocks[block]!)) out.push(`${r.name}: ${path} is not the ${field} of an image block of the chart's values`)
      }
    }
  }
  return out
}

describe("helm/infra.yaml images name the charts' own value keys", () => {
  it('every key is an image block of its chart, every image one the chart renders', () => {
    expect(keyProblems(loadInfra())).toEqual([])
  })

  it('rejects a misspelt key and an image the chart does not render', () => {
    const releases = loadInfra().map((r) => r.name !== 'argo-rollouts' ? r : {
      ...r, images: [{ image: 'quay.io/argoproj/argo-rollouts', registry: 'controller.image.registry', repository: 'controler.image.repository' }, { image: 'quay.io/argoproj/kubectl-argo-rollouts', repository: 'dashboard.image.repository', registry: 'dashboard.image.registry' }],
    })
    expect(keyProblems(releases)).toEqual([
      "argo-rollouts: controler.image.repository is not the repository of an image block of the chart's values",
      'argo-rollouts: quay.io/argoproj/kubectl-argo-rollouts is not an image the chart renders',
    ])
  })
})
