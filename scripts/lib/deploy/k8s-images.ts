// Where a Kubernetes deploy pulls its images from: .env IMAGE_MIRROR moves the chart (its
// global.imageRegistry) and every infra release (their image values, infra.ts mirrorValues) to the
// private registry make mirror-images fills, both through stack/registry-mirror.ts mirrorName.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { Ctx } from '../core/context.ts'

const trim = (r: string) => r.replace(/\/+$/, '')

/** The global.imageRegistry the operator's values files set (the last one that sets it wins, as in helm), or null. */
export function valuesImageRegistry(files: string[]): { registry: string; file: string } | null {
  let found: { registry: string; file: string } | null = null
  for (const file of files) {
    let doc: unknown
    // a file that does not parse is helm template's to report, with its line
    try { doc = parseYaml(readFileSync(file, 'utf8')) } catch { continue }
    const global = (doc as { global?: { imageRegistry?: unknown } } | null)?.global
    if (global && typeof global === 'object' && 'imageRegistry' in global) found = { registry: String(global.imageRegistry ?? ''), file }
  }
  return found
}

export interface ImageSources {
  /** .env IMAGE_MIRROR (empty: none). */
  mirror?: string
  /** global.imageRegistry of the operator's values files, when one sets it. */
  chart: { registry: string; file: string } | null
  app: boolean
  infra: boolean
}

/**
 * The registry the chart pulls from when it is not IMAGE_MIRROR: the operator's own
 * global.imageRegistry wins (their values come after the ones the kit maps from .env).
 */
export function chartRegistryOverride(s: ImageSources): { registry: string; file: string } | null {
  return s.chart && (!s.mirror || trim(s.chart.registry) !== trim(s.mirror)) ? s.chart : null
}

/** One line: where the chart's and the infra releases' images come from. */
export function imageSourcesLine(ctx: Pick<Ctx, 'cwd'>, s: ImageSources): string {
  const override = s.app ? chartRegistryOverride(s) : null
  const chart = override
    ? `the chart ${override.registry ? `from ${override.registry}` : 'with each image from its own registry'} (global.imageRegistry in ${relative(ctx.cwd, override.file) || override.file})`
    : null
  if (s.mirror) {
    const mirrored = [s.app && !override ? 'the chart (global.imageRegistry)' : null, s.infra ? 'the infra releases (their image values)' : null].filter(Boolean)
    return `images: ${[chart, mirrored.length ? `${mirrored.join(' and ')} from the mirror ${s.mirror} (IMAGE_MIRROR)` : null].filter(Boolean).join('; ')}`
  }
  if (!chart) return 'images: each from its own registry (IMAGE_MIRROR is empty)'
  return `images: ${chart}${s.infra ? '; the infra releases each from its own registry (IMAGE_MIRROR is empty)' : ''}`
}

/** Say where the images come from; warn when the operator's values take the chart away from IMAGE_MIRROR. */
export function showImageSources(ctx: Ctx, s: ImageSources): void {
  ctx.log.info(imageSourcesLine(ctx, s))
  const override = s.app ? chartRegistryOverride(s) : null
  if (s.mirror && override) {
    ctx.log.warn(`IMAGE_MIRROR=${s.mirror}, but global.imageRegistry=${JSON.stringify(override.registry)} in ${override.file}: the chart pulls ${override.registry ? `from ${override.registry}` : 'each image from its own registry'}, not from the mirror make mirror-images fills (drop the key, or make the two the same)`)
  }
}
