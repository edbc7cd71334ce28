// make mirror-images against real registries: two Distribution registries (Debian's docker-registry)
// on 127.0.0.1, one standing in for the public registries (docker.io, ghcr.io, quay.io, ... through
// a registries.conf that sends each host there, as a lab or a pull-through cache would), one as the
// private mirror, and the real skopeo copying. Every pinned image of compose, the chart and the
// infra releases ends up in the mirror under the name a deploy with IMAGE_MIRROR pulls, with the
// upstream content (same manifest digest). The infra charts' renders are the recorded ones (no
// chart repository is reachable here), as in mirror.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../helpers/net.ts'
import { startService, type Service } from '../helpers/service.ts'
import { runScript } from '../helpers/run-script.ts'
import { fakeBins, type FakeBins } from '../helpers/fake-bins.ts'
import { renderChart } from '../helpers/k8s-render.ts'
import { podSources } from '../helpers/k8s-policy.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { infraTemplateAnswers } from './helpers.ts'
import { testCtx } from '../helpers/context.ts'
import { TEST_ENV_FILE, testEnv } from '../stack/tools.ts'
import { composeConfig, composeExtraFiles, detectCompose, type ComposeProject } from '../../scripts/lib/tools/compose.ts'
import { COMPOSE_FILE } from '../../scripts/lib/core/paths.ts'

const execFileAsync = promisify(execFile)
const tmp = tmpDir('owp-mirror-registry-')
const tools = ['docker-registry', 'skopeo'].filter((t) => !existsSync(`/usr/bin/${t}`))
let upstream: Service
let mirror: Service
let bins: FakeBins
/** The HOME of the mirror-images run: its ~/.config/containers/registries.conf sends the public hosts upstream. */
let home = ''
let image = { digest: '', layout: '' }

/** A Distribution registry on 127.0.0.1 with its storage in tmp. */
async function registry(name: string): Promise<Service> {
  // the port is free when picked, and may be taken before the registry binds it: the registry then
  // exits, or something else answers; only a Distribution API on /v2/ counts, else a new port
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const config = join(tmp.path, `${name}.yml`)
    writeFileSync(config, [
      'version: 0.1', 'log: {level: warn, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${join(tmp.path, name)}}, delete: {enabled: true}}`,
      `http: {addr: "127.0.0.1:${port}"}`, '',
    ].join('\n'))
    const ready = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => null)
      return r?.status === 200 && r.headers.get('docker-distribution-api-version') === 'registry/2.0'
    }
    try {
      return await startService({ cmd: '/usr/bin/docker-registry', args: ['serve', config], port, ready, timeoutMs: 15_000 })
    } catch (e) {
      if (attempt >= 3) throw e
    }
  }
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** A one-layer OCI image layout written by hand: a stand-in for every upstream image. */
function ociImage(dir: string): { layout: string; digest: string } {
  const blobs = join(dir, 'blobs', 'sha256')
  mkdirSync(blobs, { recursive: true })
  const put = (b: Buffer | string) => { const h = sha(b); writeFileSync(join(blobs, h), b); return { digest: `sha256:${h}`, size: Buffer.byteLength(b) } }
  mkdirSync(join(dir, 'rootfs'))
  writeFileSync(join(dir, 'rootfs', 'stand-in'), 'an upstream image of the mirror test\n')
  const tar = execFileSync('tar', ['-C', join(dir, 'rootfs'), '--owner=0', '--group=0', '--mtime=@0', '-cf', '-', 'stand-in'])
  const gz = execFileSync('gzip', ['-n'], { input: tar })
  const layer = put(gz)
  const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] } }))
  const manifestText = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  })
  const manifest = put(manifestText)
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }))
  return { layout: dir, digest: manifest.digest }
}

/** Where a public reference lives in the stand-in upstream: <upstream>/<host>/<path>:<tag>. */
function upstreamName(ref: string): string {
  const parts = ref.split('/')
  const qualified = parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')
  const host = qualified ? parts[0]! : 'docker.io'
  const path = qualified ? parts.slice(1) : parts
  if (host === 'docker.io' && path.length === 1) path.unshift('library') // as docker.io/traefik is docker.io/library/traefik
  return `127.0.0.1:${upstream.port}/${host}/${path.join('/')}`
}

/** The manifest digest the mirror serves for a name (null: not there). */
async function served(ref: string): Promise<string | null> {
  const m = /^127\.0\.0\.1:(\d+)\/(.+):([^:/]+)$/.exec(ref)
  if (!m) throw new Error(`not a name of a registry on 127.0.0.1: ${ref}`)
  const r = await fetch(`http://127.0.0.1:${m[1]}/v2/${m[2]}/manifests/${m[3]}`, {
    method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json' },
  })
  return r.ok ? r.headers.get('docker-content-digest') : null
}

const mirrorImages = (args: string[]) => runScript('scripts/mirror-images.ts', args, {
  env: { PATH: `${bins.path}:/usr/bin:/bin`, HOME: home }, timeoutMs: 600_000,
})

beforeAll(async () => {
  if (tools.length) throw new Error(`${tools.join(', ')} missing: run make setup`)
  upstream = await registry('upstream')
  mirror = await registry('mirror')
  image = ociImage(join(tmp.path, 'image'))
  // each public registry host resolves to its folder in the stand-in upstream; both are plain HTTP.
  // skopeo reads the user's registries.conf (this skopeo ignores CONTAINERS_REGISTRIES_CONF)
  const hosts = ['docker.io', 'ghcr.io', 'quay.io', 'registry.k8s.io', 'gcr.io', 'mcr.microsoft.com', 'public.ecr.aws', 'nvcr.io']
  home = join(tmp.path, 'home')
  mkdirSync(join(home, '.config', 'containers'), { recursive: true })
  writeFileSync(join(home, '.config', 'containers', 'registries.conf'), [
    ...hosts.flatMap((h) => ['[[registry]]', `prefix = "${h}"`, `location = "127.0.0.1:${upstream.port}/${h}"`, 'insecure = true', '']),
    '[[registry]]', `location = "127.0.0.1:${mirror.port}"`, 'insecure = true', '',
  ].join('\n'))
  // the plan names every image it copies: seed the upstream with each (one small image under every name)
  bins = fakeBins({ helm: infraTemplateAnswers() })
  const plan = await mirrorImages(['--registry', `127.0.0.1:${mirror.port}`, '--tool', 'skopeo', '--dry-run', '--json'])
  expect(plan.code, plan.stderr).toBe(0)
  const sources = (JSON.parse(plan.stdout) as { images: Array<{ source: string }> }).images.map((i) => i.source)
  expect(sources.length).toBeGreaterThan(30)
  // (never a synchronous child here: the registries' output is read by this process's event loop)
  for (const s of sources) {
    await execFileAsync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image.layout}:latest`, `docker://${upstreamName(s)}`], { env: { ...process.env, HOME: home } })
  }
}, 600_000)

afterAll(async () => {
  await upstream?.stop()
  await mirror?.stop()
  bins?.remove()
  tmp.remove()
})

describe('make mirror-images with skopeo between real registries', { timeout: 600_000 }, () => {
  it('copies every pinned image of compose, the chart and the infra releases into the mirror, content unchanged', async () => {
    const r = await mirrorImages(['--registry', `127.0.0.1:${mirror.port}`, '--tool', 'skopeo', '--json'])
    expect(r.code, r.stderr.slice(-4000)).toBe(0)
    const images = (JSON.parse(r.stdout) as { images: Array<{ source: string; target: string }> }).images
    const missing: string[] = []
    for (const i of images) if ((await served(i.target)) !== image.digest) missing.push(`${i.source} -> ${i.target}`)
    expect(missing).toEqual([])
  })

  it('what a deploy with IMAGE_MIRROR pulls is all there: every compose service (merged by the real compose CLI) and every container of the chart', async () => {
    const R = `127.0.0.1:${mirror.port}`
    // a site's checkout: IMAGE_MIRROR in .env adds the generated override beside the compose file
    mkdirSync(join(tmp.path, 'site', 'compose'), { recursive: true })
    const file = join(tmp.path, 'site', 'compose', 'docker-compose.prod.yml')
    copyFileSync(COMPOSE_FILE, file)
    const env = { ...testEnv(), IMAGE_MIRROR: R }
    const ctx = testCtx({ env: { DOCKER_CONFIG: join(tmp.path, 'no-plugins') } })
    const cli = await detectCompose(ctx)
    if (!cli) throw new Error('no compose CLI: make setup installs docker-compose')
    const p: ComposeProject = { cli, file, name: 'owpmirror', envFile: TEST_ENV_FILE, profiles: ['lightllm', 'pgbouncer'], extraFiles: composeExtraFiles(env, file) }
    const merged = await composeConfig(ctx, p, env) as { services: Record<string, { image: string }> }
    const composeImages = Object.values(merged.services).map((s) => s.image)
    expect(composeImages.length).toBeGreaterThan(15)
    const objs = await renderChart('v4', { set: [`global.imageRegistry=${R}`] })
    const chart = podSources(objs).flatMap((x) => [...(x.pod.spec.initContainers ?? []), ...x.pod.spec.containers].map((c: { image: string }) => c.image))
    expect(chart.length).toBeGreaterThan(10)
    const absent: string[] = []
    for (const ref of new Set([...composeImages, ...chart])) {
      if (!ref.startsWith(`${R}/`)) absent.push(`${ref} (not from the mirror)`)
      else if ((await served(ref)) === null) absent.push(`${ref} (not in the mirror)`)
    }
    expect(absent).toEqual([])
  })

  it('an image the upstream does not have fails the run (exit 1) and names it; the others are copied', async () => {
    // a second mirror path, so that nothing of the run above counts
    const R = `127.0.0.1:${mirror.port}/second`
    const gone = upstreamName('redis:7.4.6')
    const del = await fetch(`http://${gone.replace(/^([^/]+)\/(.+):([^:]+)$/, '$1/v2/$2/manifests/')}${image.digest}`, { method: 'DELETE' })
    expect(del.status).toBe(202)
    const r = await mirrorImages(['--registry', R, '--tool', 'skopeo', '--no-infra'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/copy redis:7\.4\.6.*(manifest unknown|not found)/s)
    expect(await served(`${R}/redis:7.4.6`)).toBeNull()
    expect(await served(`${R}/open-webui/open-webui:v0.8.11`)).toBe(image.digest)
  })
})
