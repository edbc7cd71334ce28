// docker buildx: the build argv of a custom image, and the plan that builds them in parallel.
import { join } from 'node:path'
import { probe } from '../core/exec.ts'
import { KitError, UsageError } from '../core/errors.ts'
import { ROOT } from '../core/paths.ts'
import { imageTags, gitRevision, type CustomImage, type ImageSettings, type BuiltImage, type Revision } from '../stack/images.ts'
import type { Step } from '../core/plan.ts'
import type { Ctx } from '../core/context.ts'

export type CacheMode = 'local' | 'registry' | 'none'

export interface BuildOptions {
  push: boolean
  platforms: string[]
  cache: CacheMode
  /** The kit's git revision (REVISION/CREATED of the ops image). */
  kit: Revision | null
}

export const BUILDX_HINT = 'install the buildx plugin (apt-get install docker-buildx-plugin, or Docker Desktop): BuildKit builds the named source contexts'

export async function detectBuildx(ctx: Ctx): Promise<string | null> {
  return probe(ctx, ['docker', 'buildx', 'version'])
}

export function checkBuildOptions(o: { push: boolean; platforms: string[]; cache: string }): void {
  if (!['local', 'registry', 'none'].includes(o.cache)) throw new UsageError(`--cache must be local, registry or none (got "${o.cache}")`)
  for (const p of o.platforms) if (!/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/.test(p)) throw new UsageError(`--platform "${p}" is not os/arch (e.g. linux/amd64)`)
  // the docker image store takes one platform: several can only go to a registry
  if (o.platforms.length > 1 && !o.push) throw new UsageError(`a build for ${o.platforms.length} platforms can only be pushed: add --push (or build one --platform)`)
}

/**
 * One image's `docker buildx build`: from the kit's root with the image's Dockerfile, the service
 * source as a named build context, OCI label args, both tags, then --push or --load.
 */
export function buildArgv(img: CustomImage, s: ImageSettings, rev: Revision | null, o: BuildOptions): string[] {
  const tags = imageTags(s, img.name, rev)
  const source = img.srcVar ? s.sources[img.srcVar] : undefined
  const cacheRef = `${s.registry}/${img.name}:buildcache`
  return [
    'docker', 'buildx', 'build',
    '--file', join(ROOT, img.dockerfile),
    ...(img.contextName && source ? ['--build-context', `${img.contextName}=${source}`] : []),
    '--build-arg', `VERSION=${s.tag}`,
    '--build-arg', `REVISION=${rev ? `${rev.sha}${rev.dirty ? '-dirty' : ''}` : 'unknown'}`,
    '--build-arg', `CREATED=${rev?.created || 'unknown'}`,
    ...tags.flatMap((t) => ['--tag', t]),
    ...(o.platforms.length ? ['--platform', o.platforms.join(',')] : []),
    ...(o.cache === 'registry' ? ['--cache-from', `type=registry,ref=${cacheRef}`, '--cache-to', `type=registry,ref=${cacheRef},mode=max`] : []),
    ...(o.cache === 'none' ? ['--no-cache', '--pull'] : []),
    o.push ? '--push' : '--load',
    ROOT,
  ]
}

/** The build steps (independent: they run in parallel) and what they will have produced. */
export async function buildSteps(ctx: Ctx, images: CustomImage[], s: ImageSettings, o: BuildOptions): Promise<{ steps: Step[]; built: BuiltImage[] }> {
  const revs = await Promise.all(images.map(async (img) => {
    const src = img.srcVar ? s.sources[img.srcVar] : undefined
    // the sha tag names the code inside: the service repository's commit, the kit's for ops
    return src ? await gitRevision(ctx, src) : o.kit
  }))
  const steps: Step[] = images.map((img, i) => ({
    id: img.name,
    title: `build ${img.name}${o.push ? ' and push' : ''}`,
    argv: buildArgv(img, s, revs[i] ?? null, o),
    mutates: true,
    stream: ctx.verbose,
    timeoutMs: 90 * 60_000,
  }))
  const built = images.map((img, i) => ({
    name: img.name, tags: imageTags(s, img.name, revs[i] ?? null), revision: revs[i] ? revs[i]!.sha : null, platforms: o.platforms, pushed: o.push,
  }))
  return { steps, built }
}

export async function requireBuildx(ctx: Ctx): Promise<void> {
  if (await detectBuildx(ctx)) return
  if (ctx.dryRun) { ctx.log.warn(`docker buildx not found: ${BUILDX_HINT}`); return }
  throw new KitError('docker buildx not found', 1, BUILDX_HINT)
}
