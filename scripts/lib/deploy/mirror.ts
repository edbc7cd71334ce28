// make mirror-images: every pinned image of the compose file, the chart and the infra releases,
// copied into a private registry, under the names global.imageRegistry makes the chart pull and
// IMAGE_MIRROR makes compose pull (stack/registry-mirror.ts maps both).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { UsageError } from '../core/errors.ts'
import { probe } from '../core/exec.ts'
import { CHART_DIR } from '../core/paths.ts'
import type { Ctx } from '../core/context.ts'
import type { Step } from '../core/plan.ts'
import { mirrorName } from '../stack/registry-mirror.ts'
import { loadInfra, type InfraRelease } from './infra.ts'

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

/** Images of the infra charts, from `helm template` of each pinned chart (read-only: runs under --dry-run too). */
export async function infraImageRefs(ctx: Ctx, releases: InfraRelease[] = loadInfra()): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  await Promise.all(releases.filter((r) => r.chart && r.repo && r.enabled !== false).map(async (r) => {
    const res = await ctx.exec(['helm', 'template', r.name, r.chart!, '--repo', r.repo!, '--version', r.version, '--namespace', r.namespace ?? r.name],
      { timeout: 120_000, title: `helm template ${r.name}` })
    out.set(r.name, imagesOfManifests(res.stdout))
  }))
  return out
}

/** `image:` fields of rendered manifests (containers and init containers of any workload kind). */
export function imagesOfManifests(text: string): string[] {
  const found = new Set<string>()
  const walk = (n: unknown) => {
    if (Array.isArray(n)) { n.forEach(walk); return }
    if (!n || typeof n !== 'object') return
    for (const [k, v] of Object.entries(n)) {
      if (k === 'image' && typeof v === 'string') found.add(v)
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
  if (floating.length) throw new UsageError(`images without a pinned tag or digest cannot be mirrored: ${floating.join(', ')}`)
  return [...byRef.values()].sort((a, b) => a.source.localeCompare(b.source))
}

/** The copy steps: one crane/skopeo copy per image (all platforms), or docker pull, tag, push. */
export function mirrorSteps(images: MirrorImage[], tool: MirrorTool): Step[] {
  return images.flatMap((m): Step[] => {
    if (tool === 'crane') return [{ title: `copy ${m.source}`, argv: ['crane', 'copy', m.source, m.target], mutates: true, timeoutMs: 1_800_000 }]
    if (tool === 'skopeo') return [{ title: `copy ${m.source}`, argv: ['skopeo', 'copy', '--all', `docker://${m.source}`, `docker://${m.target}`], mutates: true, timeoutMs: 1_800_000 }]
    const pull = `pull ${m.source}`
    const tag = `tag ${m.target}`
    return [
      { title: pull, argv: ['docker', 'pull', m.source], mutates: true, timeoutMs: 1_800_000 },
      { title: tag, argv: ['docker', 'tag', m.source, m.target], mutates: true, after: [pull] },
      { title: `push ${m.target}`, argv: ['docker', 'push', m.target], mutates: true, timeoutMs: 1_800_000, after: [tag] },
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

