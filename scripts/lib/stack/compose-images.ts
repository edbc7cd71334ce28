// The custom images of the stack (docker/Dockerfile.*): how each is built, as argv, with the
// service sources checked before docker runs. build-images turns these into steps.
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { ROOT } from '../core/paths.ts'
import { ConfigError } from '../core/errors.ts'

export type CustomImage = 'graphrag-processor' | 'mcp-server' | 'ops' | 'postgres'

export interface ImageBuild {
  image: CustomImage
  /** registry/name:tag */
  ref: string
  dockerfile: string
  /** The build context: the repository root (each Dockerfile has its own .dockerignore). */
  context: string
  /** BuildKit named contexts: the service sources, which live in their own repositories. */
  namedContexts: Record<string, string>
  buildArgs: Record<string, string>
}

interface ImageSpec { dockerfile: string; source?: { variable: 'GRAPHRAG_SRC' | 'MCP_SRC'; context: string; repository: string } }

export const IMAGE_SPECS: Record<CustomImage, ImageSpec> = {
  'graphrag-processor': { dockerfile: 'docker/Dockerfile.graphrag', source: { variable: 'GRAPHRAG_SRC', context: 'graphrag-src', repository: 'graphrag-processor' } },
  'mcp-server': { dockerfile: 'docker/Dockerfile.mcp', source: { variable: 'MCP_SRC', context: 'mcp-src', repository: 'mcp-server' } },
  ops: { dockerfile: 'docker/Dockerfile.ops' },
  postgres: { dockerfile: 'docker/Dockerfile.postgres' },
}

export interface BuildOptions {
  /** Images to build (default: all of them). */
  only?: CustomImage[]
  revision?: string
  created?: string
  source?: string
  /** Where relative GRAPHRAG_SRC / MCP_SRC resolve from (default: the repository root). */
  base?: string
}

/**
 * The builds for IMAGE_REGISTRY/IMAGE_TAG. A missing or wrong GRAPHRAG_SRC / MCP_SRC is a
 * ConfigError naming the variable, before any docker command runs.
 */
export function imageBuilds(env: Record<string, string | undefined>, o: BuildOptions = {}): ImageBuild[] {
  const registry = (env.IMAGE_REGISTRY || 'ghcr.io/openwebui-platform').replace(/\/+$/, '')
  const tag = env.IMAGE_TAG || '0.1.0'
  const problems: string[] = []
  const builds: ImageBuild[] = []
  for (const image of o.only ?? (Object.keys(IMAGE_SPECS) as CustomImage[])) {
    const spec = IMAGE_SPECS[image]
    if (!spec) { problems.push(`unknown image ${image} (one of ${Object.keys(IMAGE_SPECS).join(', ')})`); continue }
    const namedContexts: Record<string, string> = {}
    if (spec.source) {
      const { variable, context, repository } = spec.source
      const value = env[variable]
      const dir = value ? (isAbsolute(value) ? value : resolve(o.base ?? ROOT, value)) : ''
      if (!value) problems.push(`${variable} is not set: point it at a checkout of the ${repository} repository (the ${image} image is built from it)`)
      else if (!existsSync(dir) || !statSync(dir).isDirectory()) problems.push(`${variable}=${value}: ${dir} does not exist (clone the ${repository} repository there, or set ${variable})`)
      else if (!existsSync(join(dir, 'pyproject.toml')) && !existsSync(join(dir, 'setup.py'))) problems.push(`${variable}=${value}: ${dir} has no pyproject.toml or setup.py: is it the ${repository} repository?`)
      else namedContexts[context] = dir
    }
    builds.push({
      image,
      ref: `${registry}/${image}:${tag}`,
      dockerfile: join(ROOT, spec.dockerfile),
      context: ROOT,
      namedContexts,
      buildArgs: {
        VERSION: tag,
        REVISION: o.revision ?? 'unknown',
        CREATED: o.created ?? new Date().toISOString(),
        SOURCE: o.source ?? 'unknown',
      },
    })
  }
  if (problems.length) throw new ConfigError(problems, 'image sources')
  return builds
}

/** `docker build` argv of one image (BuildKit: named contexts need it; Docker >= 23 has it by default). */
export function buildArgv(b: ImageBuild, extra: string[] = []): string[] {
  return [
    'docker', 'build', '--file', b.dockerfile,
    ...Object.entries(b.namedContexts).flatMap(([name, dir]) => ['--build-context', `${name}=${dir}`]),
    ...Object.entries(b.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    '--tag', b.ref, ...extra, b.context,
  ]
}
