// Everything the e2e suite needs before a stack can start, timed: the engine, Compose v2, the
// Debian base image and the stand-in images. Used by test/e2e/harness/setup.ts and the suite's globalSetup.
import { KitError } from '../../../scripts/lib/core/errors.ts'
import { engineLayout, startEngine, stopEngine, engineEnv, type Engine, type EngineLayout } from './engine.ts'
import { installCompose } from './compose-plugin.ts'
import { buildBaseImage } from './base-image.ts'
import { buildStandIns, pruneDangling, type BuildResult, type StandIn } from './images.ts'
import type { Ctx } from '../../../scripts/lib/core/context.ts'

export interface Prepared {
  layout: EngineLayout
  engine: Engine
  /** DOCKER_HOST and DOCKER_CONFIG for every docker/compose call. */
  env: Record<string, string>
  compose: { version: string; installed: boolean }
  base: { image: string; debootstrapped: boolean; imported: boolean }
  images: BuildResult[]
  /** Milliseconds per phase. */
  timings: { engine: number; compose: number; base: number; images: number; total: number }
}

export interface PrepareOptions {
  layout?: EngineLayout
  images?: StandIn[]
  concurrency?: number
  engineTimeoutMs?: number
}

/** Start (or adopt) the engine and bring Compose, the base image and the stand-ins up to date. */
export async function prepareE2E(ctx: Ctx, o: PrepareOptions = {}): Promise<Prepared> {
  const layout = o.layout ?? engineLayout()
  const t0 = performance.now()
  const lap = (() => { let last = t0; return () => { const now = performance.now(); const ms = Math.round(now - last); last = now; return ms } })()

  const s1 = ctx.log.step('e2e: Docker engine')
  const engine = await startEngine(ctx, layout, { timeoutMs: o.engineTimeoutMs }).catch((e) => { s1.fail(); throw e })
  const tEngine = lap()
  s1.ok(`${engine.source === 'DOCKER_HOST' ? 'DOCKER_HOST' : engine.source} ${engine.host} (engine ${engine.version}${engine.pid ? `, pid ${engine.pid}` : ''})`)
  const env = engineEnv(layout, engine)
  try {
    const s2 = ctx.log.step('e2e: Compose v2 plugin')
    const compose = await installCompose(ctx, layout)
    const tCompose = lap()
    s2.ok(`${compose.version}${compose.installed ? ' (installed from Debian trixie)' : ' (cached)'}`)

    const s3 = ctx.log.step('e2e: Debian base image')
    const base = await buildBaseImage(ctx, layout, env)
    const tBase = lap()
    s3.ok(base.debootstrapped ? 'debootstrap + import' : base.imported ? 'imported the cached rootfs' : 'cached')

    const s4 = ctx.log.step('e2e: stand-in images')
    const images = await buildStandIns(ctx, layout, env, { images: o.images, concurrency: o.concurrency })
    const built = images.filter((i) => i.built)
    if (built.length && engine.source !== 'DOCKER_HOST') await pruneDangling(ctx, env)
    const tImages = lap()
    s4.ok(built.length ? `built ${built.length}, ${images.length - built.length} cached` : `${images.length} cached`)
    return {
      layout, engine, env, compose, base, images,
      timings: { engine: tEngine, compose: tCompose, base: tBase, images: tImages, total: Math.round(performance.now() - t0) },
    }
  } catch (e) {
    await stopEngine(ctx, layout, engine).catch(() => {})
    if (e instanceof KitError) throw e
    throw new KitError(`e2e setup failed: ${(e as Error).message}`)
  }
}
