// Image names in a private registry mirror: the one mapping `make mirror-images` copies to and a
// compose deploy with .env IMAGE_MIRROR pulls from (and the chart's global.imageRegistry renders).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { stringify } from 'yaml'
import { COMPOSE_FILE } from '../core/paths.ts'
import { interpolate, parseCompose } from './env.ts'

/** A mirror: host[:port][/path] (no scheme, no tag). config/env.schema.json's IMAGE_MIRROR has the same pattern. */
export const REGISTRY_PATTERN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9._-]+)*$/

/**
 * The name of an image in the mirror: the registry host is replaced, the path and tag or digest
 * kept (postgres:15 -> R/postgres:15, ghcr.io/a/b:1 -> R/a/b:1). The chart's owp.repository helper
 * maps the same way, so global.imageRegistry=R pulls exactly these names.
 */
export function mirrorName(registry: string, ref: string): string {
  const parts = ref.split('/')
  const host = parts[0]!
  const path = parts.length > 1 && (host.includes('.') || host.includes(':') || host === 'localhost') ? parts.slice(1) : parts
  return `${registry.replace(/\/+$/, '')}/${path.join('/')}`
}

/** An image reference without its tag or digest (ghcr.io/a/b:1@sha256:... -> ghcr.io/a/b; a registry port stays). */
/** docker.io/library/postgres:15 and postgres:15 are the same image. */
export function normalizeRef(ref: string): string {
  return ref.replace(/^docker\.io\/(library\/)?/, '').replace(/^index\.docker\.io\/(library\/)?/, '')
}

export function imageRepository(ref: string): string {
  const name = ref.replace(/@.*$/, '')
  const slash = name.lastIndexOf('/')
  const colon = name.lastIndexOf(':')
  return colon > slash ? name.slice(0, colon) : name
}

export interface ServiceImage { service: string; image: string }

/**
 * Every service of the compose file with its image, under every profile. Only the image lines are
 * interpolated (the env fills IMAGE_REGISTRY/IMAGE_TAG): the secrets compose requires elsewhere are not needed.
 */
export function composeServiceImages(env: Record<string, string | undefined>, file = COMPOSE_FILE): ServiceImage[] {
  const doc = parseCompose(readFileSync(file, 'utf8'))
  return Object.entries(doc.services).filter(([, s]) => Boolean(s.image)).map(([service, s]) => ({ service, image: interpolate(s.image!, env) }))
}

/** The images of the compose file (what mirror-images copies from it). */
export function composeImageRefs(env: Record<string, string | undefined>, file = COMPOSE_FILE): string[] {
  return composeServiceImages(env, file).map((s) => s.image)
}

/** The compose override that points every service of the compose file at its name in the mirror. */
export function mirrorOverride(registry: string, env: Record<string, string | undefined>, file = COMPOSE_FILE): { services: Record<string, { image: string }> } {
  return { services: Object.fromEntries(composeServiceImages(env, file).map((s) => [s.service, { image: mirrorName(registry, s.image) }])) }
}

/** Where the mirror override of a project lives: compose/.generated/images/<project>.yml beside the compose file. */
export function mirrorOverridePath(env: Record<string, string | undefined>, file = COMPOSE_FILE): string {
  return join(dirname(file), '.generated', 'images', `${env.COMPOSE_PROJECT_NAME || 'owp'}.yml`)
}

/**
 * Write the mirror override of .env IMAGE_MIRROR (when its content changed; atomically, so a
 * concurrent compose command never reads half a file) and return its path. Written under --dry-run
 * too: the read-only `compose config` a dry run asks reads it.
 */
export function writeMirrorOverride(env: Record<string, string | undefined>, file = COMPOSE_FILE): string {
  const registry = env.IMAGE_MIRROR!
  const path = mirrorOverridePath(env, file)
  const text = `# Every image of ${file} from the mirror IMAGE_MIRROR=${registry}, under the names\n`
    + `# make mirror-images ARGS="--registry ${registry}" copies them to (written by the deploy kit).\n${stringify(mirrorOverride(registry, env, file))}`
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return path
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
  return path
}

/** The services whose image does not come from the mirror (a site override naming its own image). */
export function imagesOutsideMirror(registry: string, images: ServiceImage[]): ServiceImage[] {
  const prefix = `${registry.replace(/\/+$/, '')}/`
  return images.filter((s) => !s.image.startsWith(prefix))
}
