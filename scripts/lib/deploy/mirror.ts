// make mirror-images: every pinned image of the compose file, the chart and the infra releases,
// copied into a private registry, under the names global.imageRegistry makes the chart pull and
// IMAGE_MIRROR makes compose pull (stack/registry-mirror.ts maps both).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { ConfigError, UsageError } from '../core/errors.ts'
import { probe } from '../core/exec.ts'
import { CHART_DIR } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'
import type { Step } from '../core/plan.ts'
import { imageRepository, mirrorName, normalizeRef } from '../stack/registry-mirror.ts'
import { imagesNotNamed, loadInfra, type InfraRelease } from './infra.ts'

export type MirrorTool = 'crane' | 'skopeo' | 'docker'

export interface MirrorImage {
  source: string
  target: string
  /** where the kit pins it: compose, chart, infra:<release> */
  from: string[]
}

const pinned = (ref: string) => /@sha256:[a-f0-9]{64}$/.test(ref) || /:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(ref.split('/').pop()!)

/** Every image values.yaml pins ({repository, tag, digest}), plus the CloudNativePG imageName. */
export function chartImageRefs(valuesFile = join(CHART_DIR, 'values.yaml')): string[] {
  const values = parse(readFileSync(valuesFile, 'utf8'))
  const out: string[] = []
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return
    const o = node as Record<string, unknown>
    if (typeof o.repository === 'string' && 'tag' in o) out.push(o.digest ? `${o.repository}:${o.tag}@${o.digest}` : `${o.repository}:${o.tag}`)
    if (typeof o.imageName === 'string') out.push(o.imageName)
    for (const v of Object.values(o)) walk(v)
  }
  walk(values)
  return out
}

/**
 * Images of the infra charts, from `helm template` of each pinned chart (read-only: runs under
 * --dry-run too). Each must be one the release's `images` list in helm/infra.yaml names: those are
 * what a deploy with IMAGE_MIRROR moves to the mirror, so an image the list misses (a chart bump)
 * stops the copy here instead of being pulled from the internet by the next deploy.
 */
export async function infraImageRefs(ctx: Ctx, releases: InfraRelease[] = loadInfra()): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  await Promise.all(releases.filter((r) => r.chart && r.repo && r.enabled !== false).map(async (r) => {
    const res = await ctx.exec(['helm', 'template', r.name, r.chart!, '--repo', r.repo!, '--version', r.version, '--namespace', r.namespace ?? r.name],
      { timeout: 120_000, title: `helm template ${r.name}` })
    out.set(r.name, imagesOfManifests(res.stdout))
  }))
  const unnamed = releases.flatMap((r) => imagesNotNamed(r, out.get(r.name) ?? []).map((ref) => `${ref} (infra release ${r.name})`))
  if (unnamed.length) {
    throw new ConfigError(unnamed.map((u) => `${u}: no entry of its images list names it, so a deploy with IMAGE_MIRROR would pull it from its own registry (add the chart value that names it)`), 'helm/infra.yaml images')
  }
  return out
}

/** An image reference with a registry host and a tag or digest, alone or as the value of a --flag=. */
const ARG_IMAGE = /^(?:--?[\w.-]+=)?([a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?(?:\/[a-z0-9._-]+)+(?::[\w][\w.-]*)?(?:@sha256:[a-f0-9]{64})?)$/

/**
 * Images of rendered manifests: `image:` fields (containers and init containers of any workload
 * kind, operator objects), plus images a container passes to its operator in an argument or an
 * *IMAGE* variable (cert-manager's --acme-http01-solver-image, the Prometheus Operator's
 * --prometheus-config-reloader): the operator starts pods with them later.
 */
export function imagesOfManifests(text: string): string[] {
  const found = new Set<string>()
  const named = (s: string) => {
    const m = ARG_IMAGE.exec(s)
    if (m && /[:@]/.test(m[1]!.split('/').pop()!)) found.add(m[1]!)
  }
  const walk = (n: unknown) => {
    if (Array.isArray(n)) { n.forEach(walk); return }
    if (!n || typeof n !== 'object') return
    const o = n as Record<string, unknown>
    for (const [k, v] of Object.entries(o)) {
      if (k === 'image' && typeof v === 'string') found.add(v)
      else if ((k === 'args' || k === 'command') && Array.isArray(v)) v.forEach((a) => typeof a === 'string' && named(a))
      else if (k === 'env' && Array.isArray(v)) v.forEach((e) => /IMAGE/.test(String(e?.name)) && typeof e?.value === 'string' && named(e.value))
      else walk(v)
    }
  }
  for (const d of parseAllDocuments(text, { version: '1.1' })) walk(d.toJS())
  return [...found]
}

/** Sources -> mirror names, each once, every source pinned (a floating tag cannot be mirrored reproducibly). */
export function mirrorList(registry: string, sources: Record<string, string[]>): MirrorImage[] {
  const byRef = new Map<string, MirrorImage>()
  const floating: string[] = []
  for (const [from, refs] of Object.entries(sources)) {
    for (const ref of refs) {
      if (!pinned(ref)) floating.push(`${ref} (${from})`)
      const m = byRef.get(ref) ?? { source: ref, target: mirrorName(registry, ref), from: [] }
      if (!m.from.includes(from)) m.from.push(from)
      byRef.set(ref, m)
    }
  }
  // the mirror name drops the source registry: ghcr.io/x/y:1 and quay.io/x/y:1 would both be
  // <mirror>/x/y:1, and the copy that ends last would win
  const byTarget = new Map<string, string[]>()
  for (const m of byRef.values()) byTarget.set(m.target, [...(byTarget.get(m.target) ?? []), m.source])
  const clashes = [...byTarget].filter(([, srcs]) => new Set(srcs.map(normalizeRef)).size > 1).map(([target, srcs]) => `${srcs.sort().join(' and ')} (both ${target})`)
  const problems = [
    ...(floating.length ? [`images without a pinned tag or digest cannot be mirrored: ${floating.join(', ')}`] : []),
    ...(clashes.length ? [`images of different sources would get one mirror name: ${clashes.join('; ')}`] : []),
  ]
  if (problems.length) throw new UsageError(problems.join('\n'))
  return [...byRef.values()].sort((a, b) => a.source.localeCompare(b.source))
}

/**
 * crane and docker push retry a transient registry error (a reset connection, a 5xx) on their own;
 * skopeo only with --retry-times (the whole copy again, 1 s, 2 s, 4 s later). It does not retry what
 * says the image is missing or the push is refused (manifest unknown, denied, unauthorized).
 */
const SKOPEO_RETRIES = '3'

/**
 * The copy steps: one crane/skopeo copy per image (all platforms), or docker pull, tag, push.
 * They run in parallel, except that pushes into one repository of the mirror (grafana/grafana:12 and
 * :13) run one after the other: two pushes of one repository at once race in the registry. Distribution
 * 2.x (Debian's docker-registry, a usual private mirror) rewrites the repository's blob links in place,
 * so the push that reads a link while the other rewrites it fails: a blob HEAD answers "500 invalid
 * checksum digest format", or the manifest PUT "digest invalid / manifest blob unknown".
 */
export function mirrorSteps(images: MirrorImage[], tool: MirrorTool): Step[] {
  /** Per repository of the mirror, the step that pushes into it last so far. */
  const lastPush = new Map<string, string>()
  const afterPrevious = (m: MirrorImage, push: string, own: string[] = []): string[] | undefined => {
    const repo = imageRepository(m.target)
    const previous = lastPush.get(repo)
    lastPush.set(repo, push)
    const after = previous ? [...own, previous] : own
    return after.length ? after : undefined
  }
  return images.flatMap((m): Step[] => {
    if (tool === 'crane' || tool === 'skopeo') {
      const title = `copy ${m.source}`
      const argv = tool === 'crane'
        ? ['crane', 'copy', m.source, m.target]
        : ['skopeo', 'copy', '--all', '--retry-times', SKOPEO_RETRIES, `docker://${m.source}`, `docker://${m.target}`]
      return [{ title, argv, mutates: true, timeoutMs: 1_800_000, after: afterPrevious(m, title) }]
    }
    const pull = `pull ${m.source}`
    const tag = `tag ${m.target}`
    const push = `push ${m.target}`
    return [
      { title: pull, argv: ['docker', 'pull', m.source], mutates: true, timeoutMs: 1_800_000 },
      { title: tag, argv: ['docker', 'tag', m.source, m.target], mutates: true, after: [pull] },
      { title: push, argv: ['docker', 'push', m.target], mutates: true, timeoutMs: 1_800_000, after: afterPrevious(m, push, [tag]) },
    ]
  })
}

/** crane, else skopeo, else docker: the first one installed (crane and skopeo copy every platform). */
export async function pickMirrorTool(ctx: Ctx, wanted?: string): Promise<MirrorTool> {
  if (wanted) {
    if (!['crane', 'skopeo', 'docker'].includes(wanted)) throw new UsageError(`--tool must be crane, skopeo or docker (got "${wanted}")`)
    return wanted as MirrorTool
  }
  if (await probe(ctx, ['crane', 'version'])) return 'crane'
  if (await probe(ctx, ['skopeo', '--version'])) return 'skopeo'
  return 'docker'
}

