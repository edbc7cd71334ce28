// make mirror-images: every pinned image of compose, the chart and the infra releases goes to the
// mirror under the name global.imageRegistry makes the chart pull (checked on the real helm render)
// and .env IMAGE_MIRROR makes compose pull (checked on the real compose CLIs' `config`).
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScript } from '../helpers/run-script.ts'
import { fakeBins, fails, ok, on, type FakeBins } from '../helpers/fake-bins.ts'
import { renderChart } from '../helpers/k8s-render.ts'
import { podSources } from '../helpers/k8s-policy.ts'
import { barePath } from './servers.ts'
import { infraTemplateAnswers } from './helpers.ts'
import { mirrorList, mirrorSteps } from '../../scripts/lib/deploy/mirror.ts'
import { REGISTRY_PATTERN, composeServiceImages, mirrorName, mirrorOverridePath } from '../../scripts/lib/stack/registry-mirror.ts'
import { composeConfig, composeExtraFiles, detectCompose, type ComposeProject } from '../../scripts/lib/tools/compose.ts'
import { checkExtraFiles } from '../../scripts/lib/tools/compose-files.ts'
import { readSchema } from '../../scripts/lib/core/config.ts'
import { COMPOSE_FILE } from '../../scripts/lib/core/paths.ts'
import { engineLayout } from '../e2e/harness/engine.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { TEST_ENV_FILE, testEnv } from '../stack/tools.ts'

const R = 'registry.corp.example.com/mirror'
let bins: FakeBins | undefined
afterEach(() => { bins?.remove(); bins = undefined })

function mirror(args: string[], scripts: Parameters<typeof fakeBins>[0] = {}) {
  // each infra chart's helm template answers with its recorded render (test/fixtures/deploy/infra-charts)
  bins = fakeBins({ docker: ok(), helm: infraTemplateAnswers(), ...scripts }, { basePath: barePath() })
  return runScript('scripts/mirror-images.ts', args, { env: { PATH: bins.path } })
}

describe('mirror-images', () => {
  it('--dry-run prints the plan (docker pull, tag, push per image) and changes nothing', async () => {
    const r = await mirror(['--registry', R, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    const plan = r.stdout + r.stderr
    expect(plan).toContain(`docker pull ghcr.io/open-webui/open-webui:v0.8.11`)
    expect(plan).toContain(`docker tag ghcr.io/open-webui/open-webui:v0.8.11 ${R}/open-webui/open-webui:v0.8.11`)
    expect(plan).toContain(`docker push ${R}/openwebui-platform/postgres:0.1.0`)
    expect(plan).toContain(`docker push ${R}/jetstack/cert-manager-controller:v1.21.1`)
    expect(bins!.calls('docker')).toEqual([])
    // the infra charts were rendered (read-only) to find their images
    expect(bins!.calls('helm').some((c) => c[1] === 'template' && c.includes('--repo'))).toBe(true)
  })

  it('copies every image, and the chart rendered with global.imageRegistry pulls only mirrored names', async () => {
    const r = await mirror(['--registry', R, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const pushed = new Set(bins!.calls('docker').filter((c) => c[1] === 'push').map((c) => c[2]))
    const sources = new Set(bins!.calls('docker').filter((c) => c[1] === 'pull').map((c) => c[2]))
    expect(sources).toContain('nginxinc/nginx-unprivileged:1.28.0-alpine')
    expect(sources).toContain('ghcr.io/openwebui-platform/ops:0.1.0')
    expect(sources).toContain('quay.io/jetstack/cert-manager-startupapicheck:v1.21.1')
    const objs = await renderChart('v4', { set: [`global.imageRegistry=${R}`] })
    const pulled = podSources(objs).flatMap((p) => [...(p.pod.spec.initContainers ?? []), ...p.pod.spec.containers].map((c: { image: string }) => c.image))
    expect(pulled.length).toBeGreaterThan(10)
    expect(pulled.filter((i) => !pushed.has(i))).toEqual([])
  })

  it('prefers crane (all platforms in one copy) when it is installed', async () => {
    const r = await mirror(['--registry', R, '--no-infra'], { crane: ok('v0.20.2') })
    expect(r.code, r.stderr).toBe(0)
    expect(bins!.calls('crane')).toContainEqual(['crane', 'copy', 'redis:7.4.6', `${R}/redis:7.4.6`])
    expect(bins!.calls('docker')).toEqual([])
    expect(bins!.calls('helm')).toEqual([])
  })

  it('a push the registry refuses fails the run (exit 1) and names the image', async () => {
    const r = await mirror(['--registry', R, '--no-infra'], { docker: [on('^push .*/redis:7.4.6$', fails(1, 'denied: requested access to the resource is denied')), ok()] })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`push ${R}/redis:7.4.6`)
  })

  it('refuses a missing or malformed --registry before anything runs (exit 2)', async () => {
    expect((await mirror([])).code).toBe(2)
    const bad = await mirror(['--registry', 'https://registry.corp'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('is not host[:port][/path]')
    expect(bins!.allCalls()).toEqual([])
  })

  it('maps names like the chart does, and refuses an image without a pinned tag', () => {
    expect(mirrorName(R, 'postgres:15.14')).toBe(`${R}/postgres:15.14`)
    expect(mirrorName(R, 'localhost:5000/a/b:1')).toBe(`${R}/a/b:1`)
    expect(mirrorName('r.example:5000/', 'ghcr.io/a/b@sha256:' + 'a'.repeat(64))).toBe(`r.example:5000/a/b@sha256:${'a'.repeat(64)}`)
    expect(() => mirrorList(R, { compose: ['redis'] })).toThrow(/redis \(compose\)/)
  })

  it('refuses two sources that would get one mirror name, listing every problem at once; one image under two spellings is one', () => {
    const err = (() => { try { mirrorList(R, { compose: ['ghcr.io/x/y:1', 'quay.io/x/y:1', 'redis'] }); return null } catch (e) { return (e as Error).message } })()
    expect(err).toMatch(/redis \(compose\)/)
    expect(err).toMatch(/ghcr\.io\/x\/y:1 and quay\.io\/x\/y:1 \(both .*\/x\/y:1\)/)
    expect(mirrorList(R, { compose: ['grafana/grafana:13.1.3'], chart: ['docker.io/grafana/grafana:13.1.3'] }).map((m) => m.target)).toEqual([`${R}/grafana/grafana:13.1.3`, `${R}/grafana/grafana:13.1.3`])
  })

  it('copies into one repository of the mirror one after the other (Distribution 2.x races on two pushes of one repository), the others at once', () => {
    const images = mirrorList(R, { compose: ['grafana/grafana:12.1.1', 'redis:7.4.6'], chart: ['docker.io/grafana/grafana:13.1.3'] })
    for (const tool of ['skopeo', 'crane'] as const) {
      const steps = mirrorSteps(images, tool)
      const of = (src: string) => steps.find((s) => s.title === `copy ${src}`)!
      expect(of('grafana/grafana:12.1.1').after).toEqual(['copy docker.io/grafana/grafana:13.1.3'])
      expect(of('docker.io/grafana/grafana:13.1.3').after).toBeUndefined()
      expect(of('redis:7.4.6').after).toBeUndefined()
    }
    expect(mirrorSteps(images, 'skopeo')[0]!.argv).toContain('--retry-times')
    const docker = mirrorSteps(images, 'docker')
    expect(docker.find((s) => s.title === `push ${R}/grafana/grafana:12.1.1`)!.after).toEqual([`tag ${R}/grafana/grafana:12.1.1`, `push ${R}/grafana/grafana:13.1.3`])
    expect(docker.find((s) => s.title === `pull grafana/grafana:12.1.1`)!.after).toBeUndefined() // pulls still at once
  })
})

// Compose deploys of an air-gapped site: IMAGE_MIRROR=R in .env adds an override, generated from the
// compose file with the same mapping mirror-images copies with, so the two can never disagree.
const MIRROR = 'registry.example:5000/owp'
const site = tmpDir('owp-mirror-compose-')
afterAll(() => site.remove())
const SITE_ENV = { IMAGE_REGISTRY: 'registry.test/platform', IMAGE_TAG: '1.2.3', IMAGE_MIRROR: MIRROR, COMPOSE_PROJECT_NAME: 'owpmirror' }
/** The compose file as a site checks it out: the generated override lands beside it, not in this repository. */
function siteCompose(): string {
  mkdirSync(join(site.path, 'compose'), { recursive: true })
  const file = join(site.path, 'compose', 'docker-compose.prod.yml')
  copyFileSync(COMPOSE_FILE, file)
  return file
}

// the compose CLIs of this machine: docker-compose v1 (Debian) and the v2 plugin the e2e setup fetches
const plugin = engineLayout().composePlugin
const clis: Array<[string, Record<string, string>]> = [['docker-compose v1', { DOCKER_CONFIG: join(site.path, 'no-plugins') }]]
if (existsSync(plugin)) clis.push(['docker compose v2', { DOCKER_CONFIG: join(plugin, '..', '..') }])

describe.each(clis)('IMAGE_MIRROR on compose (%s)', (_name, cliEnv) => {
  it('every service of the compose file pulls exactly the name mirror-images copies its image to', async () => {
    const envFile = join(site.path, '.env')
    writeFileSync(envFile, Object.entries(SITE_ENV).map(([k, v]) => `${k}=${v}`).join('\n') + '\n')
    // the mirror's plan, its registry taken from the same .env (no --registry)
    const r = await runScript('scripts/mirror-images.ts', ['--env-file', envFile, '--no-infra', '--dry-run', '--json', '--tool', 'crane'])
    expect(r.code, r.stderr).toBe(0)
    const plan = JSON.parse(r.stdout) as { registry: string; images: Array<{ source: string; target: string; from: string[] }> }
    expect(plan.registry).toBe(MIRROR)
    const targetOf = new Map(plan.images.map((i) => [i.source, i.target]))

    // the deploy's project: every profile on, the override files as every kit command names them
    const file = siteCompose()
    const env = { ...testEnv(), ...SITE_ENV }
    const ctx = testCtx({ env: cliEnv })
    const cli = await detectCompose(ctx)
    if (!cli) throw new Error('no compose CLI: make setup installs docker-compose')
    const p: ComposeProject = { cli, file, name: 'owpmirror', envFile: TEST_ENV_FILE, profiles: ['lightllm', 'pgbouncer'], extraFiles: composeExtraFiles(env, file) }
    expect(p.extraFiles).toEqual([mirrorOverridePath(env, file)])
    const merged = await composeConfig(ctx, p, env) as { services: Record<string, { image: string }> }

    const declared = composeServiceImages(env, file)
    expect(Object.keys(merged.services).sort()).toEqual(declared.map((s) => s.service).sort())
    for (const { service, image } of declared) {
      expect(targetOf.get(image), `${service}: ${image} is not mirrored`).toBeDefined()
      expect(merged.services[service]!.image, service).toBe(targetOf.get(image))
    }
    // the kit's own images (IMAGE_REGISTRY) come from the mirror too
    expect(merged.services['graphrag-processor']!.image).toBe(`${MIRROR}/platform/graphrag-processor:1.2.3`)
    expect(merged.services.redis!.image).toBe(`${MIRROR}/redis:7.4.6`)
    // and the merged project keeps the compose policy (pinned images with a host:port registry)
    await checkExtraFiles(ctx, p, env)
  })
})

describe('IMAGE_MIRROR in .env', () => {
  it('is checked with the pattern --registry is checked with', () => {
    const pattern = String(readSchema().properties.IMAGE_MIRROR!.pattern)
    expect(new RegExp(pattern).source).toBe(REGISTRY_PATTERN.source)
  })

  it('empty: no override file, every image from its own registry', () => {
    const file = siteCompose()
    expect(composeExtraFiles({ ...testEnv(), IMAGE_MIRROR: '' }, file)).toEqual([])
  })

  it('a new IMAGE_TAG rewrites the override (the names follow the .env)', () => {
    const file = siteCompose()
    const path = composeExtraFiles({ ...testEnv(), ...SITE_ENV }, file)[0]!
    expect(readFileSync(path, 'utf8')).toContain(`${MIRROR}/platform/postgres:1.2.3`)
    composeExtraFiles({ ...testEnv(), ...SITE_ENV, IMAGE_TAG: '1.2.4' }, file)
    expect(readFileSync(path, 'utf8')).toContain(`${MIRROR}/platform/postgres:1.2.4`)
    expect(readFileSync(path, 'utf8')).not.toContain(':1.2.3')
  })
})
