// The e2e stand-in images (test/e2e/images): what each is, what it is built FROM, and a cached
// build: an image is rebuilt only when its Dockerfile, its context or a parent image changed.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync, mkdtempSync, cpSync, copyFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { ROOT } from '../../../scripts/lib/core/paths.ts'
import { KitError } from '../../../scripts/lib/core/errors.ts'
import type { EngineLayout } from './engine.ts'
import { BASE_IMAGE } from './base-image.ts'
import type { Ctx } from '../../../scripts/lib/core/context.ts'

export const IMAGES_DIR = join(ROOT, 'test', 'e2e', 'images')
export const HASH_LABEL = 'owp.e2e.hash'
export const TOOLS_IMAGE = 'owp-e2e/debian-tools:bookworm'
export const FAKES_IMAGE = 'owp-e2e/fakes:e2e'
/** The IMAGE_TAG the e2e .env uses for the custom images, and the tag of their broken release. */
export const E2E_TAG = 'e2e'
export const BROKEN_TAG = 'e2e-broken'
/** The tag an upgrade moves to (one schema migration forward), and one that migrates and fails validation. */
export const NEXT_TAG = 'e2e-next'
export const MIGRATES_TAG = 'e2e-migrates'

export interface StandIn {
  ref: string
  /** Directory under test/e2e/images: the build context (unless emptyContext). */
  dir: string
  dockerfile?: string
  target?: string
  /** Images of this list (or the base) it is built FROM. */
  from: string
  /** The host's node binary goes into the context as ./node (npm cannot be reached from builds). */
  node?: boolean
  emptyContext?: boolean
  /**
   * One of the kit's own images, built from its Dockerfile in the repository (not a stand-in of
   * test/e2e/images): the listed files are its context, FROM the e2e base through its
   * DEBIAN_IMAGE argument. The `# syntax=` line goes (BuildKit would pull that frontend image).
   */
  kit?: { dockerfile: string; files: string[]; args: Record<string, string> }
  /** A fake (clearly named fake-*) or the real software from Debian. */
  fake: boolean
  /** Compose services it stands in for. */
  services: string[]
}

const real = (name: string, services: string[] = [name]): StandIn =>
  ({ ref: `owp-e2e/${name}:${E2E_TAG}`, dir: name, from: TOOLS_IMAGE, fake: false, services })
const fake = (target: string, services: string[], ref = `owp-e2e/${target}:${E2E_TAG}`): StandIn =>
  ({ ref, dir: 'fakes', dockerfile: 'services.Dockerfile', target, from: FAKES_IMAGE, emptyContext: true, fake: true, services })

export const STAND_INS: StandIn[] = [
  { ref: TOOLS_IMAGE, dir: 'tools', from: BASE_IMAGE, fake: false, services: [] },
  real('postgres'), real('redis'), real('nginx'), real('prometheus'), real('alertmanager'),
  real('node-exporter'), real('postgres-exporter'), real('redis-exporter'), real('nginx-exporter'), real('blackbox-exporter'),
  { ref: FAKES_IMAGE, dir: 'fakes', from: TOOLS_IMAGE, node: true, fake: true, services: [] },
  fake('fake-openwebui', ['openwebui']),
  fake('fake-openwebui-broken', [], `owp-e2e/fake-openwebui:${BROKEN_TAG}`),
  fake('fake-openwebui-next', [], `owp-e2e/fake-openwebui:${NEXT_TAG}`),
  fake('fake-openwebui-migrates', [], `owp-e2e/fake-openwebui:${MIGRATES_TAG}`),
  fake('fake-lightllm', ['lightllm']),
  fake('fake-graphrag-processor', ['graphrag-processor', 'celery-worker', 'celery-beat']),
  fake('fake-graphrag-processor-broken', [], `owp-e2e/fake-graphrag-processor:${BROKEN_TAG}`),
  fake('fake-mcp-server', ['mcp-server']),
  fake('fake-mcp-server-broken', [], `owp-e2e/fake-mcp-server:${BROKEN_TAG}`),
  fake('fake-graphrag-processor-next', [], `owp-e2e/fake-graphrag-processor:${NEXT_TAG}`),
  fake('fake-graphrag-processor-next', [], `owp-e2e/fake-graphrag-processor:${MIGRATES_TAG}`),
  fake('fake-mcp-server-next', [], `owp-e2e/fake-mcp-server:${NEXT_TAG}`),
  fake('fake-mcp-server-next', [], `owp-e2e/fake-mcp-server:${MIGRATES_TAG}`),
  fake('fake-qdrant', ['qdrant']),
  fake('fake-neo4j', ['neo4j']),
  fake('fake-grafana', ['grafana']),
  fake('fake-otel-collector', ['otel-collector']),
  fake('fake-celery-exporter', ['celery-exporter']),
  // the kit's PgBouncer image itself (Debian's pgbouncer and the kit's entrypoint)
  { ref: `owp-e2e/pgbouncer:${E2E_TAG}`, dir: '', from: BASE_IMAGE, fake: false, services: ['pgbouncer'],
    kit: { dockerfile: 'docker/Dockerfile.pgbouncer', files: ['docker/pgbouncer/entrypoint.sh'], args: { DEBIAN_IMAGE: BASE_IMAGE } } },
]

/** The stand-in image of each compose service. */
export function serviceImages(images = STAND_INS): Record<string, string> {
  return Object.fromEntries(images.flatMap((i) => i.services.map((s) => [s, i.ref])))
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? listFiles(p) : [p]
  })
}

/** What decides whether an image must be rebuilt: its inputs and its parent's image id. */
export function inputHash(img: StandIn, parentId: string, nodeBinary = process.execPath): string {
  const h = createHash('sha256')
  h.update(`${img.ref}\0${img.target ?? ''}\0${parentId}\0`)
  const dir = img.kit ? ROOT : join(IMAGES_DIR, img.dir)
  const files = img.kit ? [img.kit.dockerfile, ...img.kit.files].map((f) => join(ROOT, f))
    : img.emptyContext ? [join(dir, img.dockerfile ?? 'Dockerfile')] : listFiles(dir)
  for (const f of files) {
    h.update(`${relative(dir, f)}\0${(statSync(f).mode & 0o111) ? 'x' : '-'}\0`)
    h.update(readFileSync(f))
  }
  if (img.node) h.update(`node ${process.version} ${statSync(nodeBinary).size}`)
  return h.digest('hex').slice(0, 16)
}

async function inspectImage(ctx: Ctx, env: Record<string, string>, ref: string): Promise<{ id: string; hash: string } | null> {
  const r = await ctx.exec(['docker', 'image', 'inspect', '--format', `{{.Id}} {{if .Config}}{{with .Config.Labels}}{{index . "${HASH_LABEL}"}}{{end}}{{end}}`, ref],
    { env, allowFailure: true, timeout: 30_000 })
  if (r.exitCode !== 0) return null
  const [id, hash] = r.stdout.trim().split(' ')
  return { id: id!, hash: hash ?? '' }
}

export interface BuildResult { ref: string; built: boolean; ms: number; hash: string }

export interface Builder {
  /** The docker CLI that builds: argv prefix. */
  docker: string
  buildkit: boolean
}

/**
 * BuildKit when a CLI can drive it: the buildx plugin, or a CLI older than 23 (BuildKit built in,
 * like Debian's docker.io 20.10). On vfs the classic builder copies the whole image for every
 * instruction (a metadata-only Dockerfile: ~45 s against ~5 s), so it is only the fallback.
 */
export async function chooseBuilder(ctx: Ctx, env: Record<string, string>): Promise<Builder> {
  const major = async (cli: string) => {
    const r = await ctx.exec([cli, 'version', '--format', '{{.Client.Version}}'], { env, allowFailure: true, timeout: 15_000 }).catch(() => null)
    const v = /^(\d+)\./.exec(r?.stdout.trim() ?? '')
    return v ? Number(v[1]) : null
  }
  const buildx = await ctx.exec(['docker', 'buildx', 'version'], { env, allowFailure: true, timeout: 15_000 }).catch(() => null)
  if (buildx?.exitCode === 0) return { docker: 'docker', buildkit: true }
  for (const cli of ['docker', '/usr/bin/docker']) {
    const m = await major(cli)
    if (m !== null && m < 23) return { docker: cli, buildkit: true }
  }
  ctx.log.warn('no docker CLI with BuildKit (no buildx plugin, CLI >= 23): the classic builder is slow on vfs')
  return { docker: 'docker', buildkit: false }
}

/** Build one stand-in unless the image with the same input hash is already there. */
export async function buildStandIn(ctx: Ctx, layout: EngineLayout, env: Record<string, string>, img: StandIn,
  builder: Builder = { docker: 'docker', buildkit: false }): Promise<BuildResult> {
  const started = performance.now()
  const parent = await inspectImage(ctx, env, img.from)
  if (!parent && !ctx.dryRun) throw new KitError(`${img.ref}: its base ${img.from} is missing`)
  const hash = inputHash(img, parent?.id ?? 'dry-run')
  const have = await inspectImage(ctx, env, img.ref)
  if (have?.hash === hash) return { ref: img.ref, built: false, ms: Math.round(performance.now() - started), hash }
  const dir = join(IMAGES_DIR, img.dir)
  let context = dir
  let dockerfile = join(dir, img.dockerfile ?? 'Dockerfile')
  let staged: string | null = null
  if ((img.emptyContext || img.node || img.kit) && !ctx.dryRun) {
    staged = mkdtempSync(join(tmpdir(), 'owp-e2e-build-'))
    context = staged
    if (img.node) {
      cpSync(dir, staged, { recursive: true })
      copyFileSync(process.execPath, join(staged, 'node'))
    }
    if (img.kit) {
      for (const f of img.kit.files) { mkdirSync(join(staged, f, '..'), { recursive: true }); copyFileSync(join(ROOT, f), join(staged, f)) }
      dockerfile = join(staged, 'Dockerfile.kit')
      writeFileSync(dockerfile, readFileSync(join(ROOT, img.kit.dockerfile), 'utf8').replace(/^# syntax=.*\n/m, ''))
    }
  }
  const logDir = join(layout.state, 'builds')
  if (!ctx.dryRun) mkdirSync(logDir, { recursive: true })
  const logFile = join(logDir, `${img.ref.replace(/[/:]/g, '_')}.log`)
  try {
    const argv = [builder.docker, 'build', ...(builder.buildkit ? ['--progress=plain'] : []), '--label', `${HASH_LABEL}=${hash}`, '--tag', img.ref,
      '--file', dockerfile, ...(img.target ? ['--target', img.target] : []),
      ...Object.entries(img.kit?.args ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]), context]
    const r = await ctx.exec(argv, { mutates: true, env: { ...env, DOCKER_BUILDKIT: builder.buildkit ? '1' : '0' }, timeout: 1_800_000, allowFailure: true, title: `build ${img.ref}` })
    if (!ctx.dryRun) writeFileSync(logFile, `${r.stdout}\n${r.stderr}`)
    if (r.exitCode !== 0) {
      const tail = `${r.stdout}\n${r.stderr}`.trimEnd().split('\n').slice(-20).join('\n')
      throw new KitError(`building ${img.ref} failed (exit ${r.exitCode}):\n${tail}`, 1, `full log: ${logFile}`)
    }
  } finally {
    if (staged) rmSync(staged, { recursive: true, force: true })
  }
  return { ref: img.ref, built: true, ms: Math.round(performance.now() - started), hash }
}

/**
 * Build every stand-in in dependency order, `concurrency` at a time (each build is mostly apt
 * downloads and vfs copies; two at once keeps the machine usable for others).
 */
export async function buildStandIns(ctx: Ctx, layout: EngineLayout, env: Record<string, string>,
  o: { images?: StandIn[]; concurrency?: number } = {}): Promise<BuildResult[]> {
  const images = o.images ?? STAND_INS
  const concurrency = o.concurrency ?? 2
  const done = new Set<string>([BASE_IMAGE])
  const results: BuildResult[] = []
  const pending = [...images]
  const running = new Map<string, Promise<void>>()
  let failure: unknown = null
  let builder: Builder | null = null
  while ((pending.length || running.size) && !failure) {
    const ready = pending.filter((i) => done.has(i.from) || !images.some((x) => x.ref === i.from))
    while (ready.length && running.size < concurrency) {
      const img = ready.shift()!
      pending.splice(pending.indexOf(img), 1)
      builder ??= await chooseBuilder(ctx, env)
      const p = buildStandIn(ctx, layout, env, img, builder)
        .then((r) => { results.push(r); done.add(img.ref); ctx.log.info(`${r.built ? 'built' : 'cached'} ${img.ref}${r.built ? ` in ${(r.ms / 1000).toFixed(1)}s` : ''}`) })
        .catch((e) => { failure = e })
        .finally(() => running.delete(img.ref))
      running.set(img.ref, p)
    }
    if (running.size === 0) {
      if (pending.length) throw new KitError(`cannot build ${pending.map((p) => p.ref).join(', ')}: their base is not in the list`)
      break
    }
    await Promise.race(running.values())
  }
  await Promise.all(running.values())
  if (failure) throw failure
  return results
}

/** Remove the untagged leftovers of rebuilt images (only on the suite's own engine). */
export async function pruneDangling(ctx: Ctx, env: Record<string, string>): Promise<void> {
  await ctx.exec(['docker', 'image', 'prune', '--force', '--filter', 'dangling=true'], { mutates: true, env, allowFailure: true, timeout: 300_000 })
}
