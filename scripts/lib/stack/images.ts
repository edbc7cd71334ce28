// The custom images (docker/): their Dockerfiles, source build contexts, tags and the record
// build-images leaves for scan.
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import dotenv from 'dotenv'
import { ConfigError, UsageError } from '../core/errors.ts'
import { probe } from '../core/exec.ts'
import type { Ctx } from '../core/context.ts'

export interface CustomImage {
  name: 'graphrag-processor' | 'mcp-server' | 'ops' | 'postgres' | 'pgbouncer'
  dockerfile: string
  /** The variable naming the service's source repository, passed as a named build context. */
  srcVar?: 'GRAPHRAG_SRC' | 'MCP_SRC'
  /** Name of the build context in the Dockerfile (FROM scratch AS <name>). */
  contextName?: string
}

export const CUSTOM_IMAGES: CustomImage[] = [
  { name: 'graphrag-processor', dockerfile: 'docker/Dockerfile.graphrag', srcVar: 'GRAPHRAG_SRC', contextName: 'graphrag-src' },
  { name: 'mcp-server', dockerfile: 'docker/Dockerfile.mcp', srcVar: 'MCP_SRC', contextName: 'mcp-src' },
  { name: 'ops', dockerfile: 'docker/Dockerfile.ops' },
  // the official PostgreSQL image plus pgBackRest (WAL archiving, point-in-time recovery)
  { name: 'postgres', dockerfile: 'docker/Dockerfile.postgres' },
  // Debian's pgbouncer configured from the environment (compose profile pgbouncer)
  { name: 'pgbouncer', dockerfile: 'docker/Dockerfile.pgbouncer' },
]

export interface ImageSettings {
  registry: string
  tag: string
  /** IMAGE_MIRROR: the private registry every image is pulled from (empty: none). */
  mirror?: string
  sources: Partial<Record<'GRAPHRAG_SRC' | 'MCP_SRC', string>>
}

/**
 * IMAGE_REGISTRY, IMAGE_TAG, IMAGE_MIRROR, GRAPHRAG_SRC and MCP_SRC from flags, the environment, then the .env
 * file (only these: building images needs no secrets). Relative source paths are relative to the .env.
 */
export function imageSettings(ctx: Ctx, o: { envFile?: string; registry?: string; tag?: string; graphragSrc?: string; mcpSrc?: string }): ImageSettings {
  const file = o.envFile ?? join(ctx.cwd, '.env')
  if (o.envFile && !existsSync(o.envFile)) throw new UsageError(`env file not found: ${o.envFile}`)
  const fromFile = existsSync(file) ? dotenv.parse(readFileSync(file)) : {}
  const get = (name: string) => ctx.env[name] || fromFile[name] || undefined
  const base = existsSync(file) ? dirname(resolve(file)) : ctx.cwd
  const path = (flag: string | undefined, name: string) => {
    if (flag) return resolve(ctx.cwd, flag)
    const v = get(name)
    return v ? resolve(base, v) : undefined
  }
  const tag = o.tag ?? get('IMAGE_TAG') ?? '0.1.0'
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag) || tag === 'latest') throw new UsageError(`image tag "${tag}" is not a pinned tag (letters, digits, . _ -; never latest)`)
  return {
    registry: (o.registry ?? get('IMAGE_REGISTRY') ?? 'ghcr.io/openwebui-platform').replace(/\/+$/, ''),
    tag,
    mirror: get('IMAGE_MIRROR'),
    sources: { GRAPHRAG_SRC: path(o.graphragSrc, 'GRAPHRAG_SRC'), MCP_SRC: path(o.mcpSrc, 'MCP_SRC') },
  }
}

export function selectImages(only?: string[]): CustomImage[] {
  if (!only?.length) return CUSTOM_IMAGES
  const names = only.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)
  const unknown = names.filter((n) => !CUSTOM_IMAGES.some((i) => i.name === n))
  if (unknown.length) throw new UsageError(`unknown image ${unknown.join(', ')} (known: ${CUSTOM_IMAGES.map((i) => i.name).join(', ')})`)
  return CUSTOM_IMAGES.filter((i) => names.includes(i.name))
}

/** Every selected image's source repository must be a directory with a Python project: all problems at once. */
export function checkSources(images: CustomImage[], s: ImageSettings): void {
  const problems: string[] = []
  for (const img of images) {
    if (!img.srcVar) continue
    const dir = s.sources[img.srcVar]
    const flag = img.srcVar === 'GRAPHRAG_SRC' ? '--graphrag-src' : '--mcp-src'
    if (!dir) problems.push(`${img.srcVar} is not set: the ${img.name} source lives in its own repository (set ${img.srcVar} in .env or pass ${flag})`)
    else if (!existsSync(dir) || !statSync(dir).isDirectory()) problems.push(`${img.srcVar}=${dir}: no such directory (the ${img.name} source repository)`)
    else if (!existsSync(join(dir, 'pyproject.toml')) && !existsSync(join(dir, 'setup.py'))) problems.push(`${img.srcVar}=${dir}: no pyproject.toml or setup.py (is it the ${img.name} repository?)`)
  }
  if (problems.length) throw new ConfigError(problems, 'image sources')
}

export interface Revision { sha: string; dirty: boolean; created: string }

/** The git commit of a directory (short sha, -dirty on uncommitted changes), or null outside git. */
export async function gitRevision(ctx: Ctx, dir: string): Promise<Revision | null> {
  const sha = await probe(ctx, ['git', '-C', dir, 'rev-parse', '--short=12', 'HEAD'])
  if (!sha) return null
  const [status, created] = await Promise.all([
    probe(ctx, ['git', '-C', dir, 'status', '--porcelain', '--untracked-files=no']),
    probe(ctx, ['git', '-C', dir, 'log', '-1', '--format=%cI']),
  ])
  return { sha, dirty: Boolean(status), created: created ?? '' }
}

export function imageRef(s: ImageSettings, name: string, tag = s.tag): string {
  return `${s.registry}/${name}:${tag}`
}

/** The two tags: the version, and sha-<commit> of the code inside (-dirty when uncommitted). */
export function imageTags(s: ImageSettings, name: string, rev: Revision | null): string[] {
  return [imageRef(s, name), ...(rev ? [imageRef(s, name, `sha-${rev.sha}${rev.dirty ? '-dirty' : ''}`)] : [])]
}

export interface BuiltImage { name: string; tags: string[]; revision: string | null; platforms: string[]; pushed: boolean }

/** Where build-images records what it built (scan reads it). */
export function builtRecord(stateDir: string): string {
  return join(stateDir, 'images.json')
}

export function writeBuilt(stateDir: string, built: BuiltImage[]): void {
  mkdirSync(stateDir, { recursive: true })
  writeFileSync(builtRecord(stateDir), JSON.stringify({ builtAt: new Date().toISOString(), images: built }, null, 2))
}

export function readBuilt(stateDir: string): BuiltImage[] | null {
  try {
    return (JSON.parse(readFileSync(builtRecord(stateDir), 'utf8')) as { images: BuiltImage[] }).images
  } catch {
    return null
  }
}

