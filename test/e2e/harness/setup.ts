// Prepare (and time) what the e2e suite needs: a Docker engine, Compose v2, the Debian base image
// and the stand-in images. Idempotent; the second run is the warm path.
import { run } from '../../../scripts/lib/core/cli.ts'
import { acquireLock } from '../../../scripts/lib/core/lock.ts'
import { table, formatDuration } from '../../../scripts/lib/core/log.ts'
import { UsageError } from '../../../scripts/lib/core/errors.ts'
import { engineLayout, stopEngine, stopPid, pidAlive } from './engine.ts'
import { prepareE2E } from './prepare.ts'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { exitOnBadLane } from './stack.ts'

exitOnBadLane() // before a flag is read or anything starts, as every e2e entry point does

const layout = engineLayout()

export const usage = `Usage: tsx test/e2e/harness/setup.ts [--keep | --stop] [--concurrency N] [--json]

Starts a Docker engine for the e2e suite when none answers (dockerd, overlay2 storage where
the kernel mounts overlayfs there, else vfs; OWP_E2E_STORAGE_DRIVER decides instead; data root and
socket under ${layout.state}; OWP_E2E_STATE moves it; DOCKER_HOST uses yours instead), installs
Compose v2 as a CLI plugin from Debian trixie, builds the Debian base image with debootstrap and
the stand-in images of test/e2e/images, and prints how long each phase took. Everything is cached
under the state directory: a second run only checks.

  --keep            leave the engine running and print the variables to use it
  --stop            stop an engine a --keep run left running (by its PID) and exit
  --concurrency N   image builds at once (default 2)`

await run(usage, {
  keep: { type: 'boolean' },
  stop: { type: 'boolean' },
  concurrency: { type: 'string' },
}, async (ctx, flags) => {
  if (flags.stop) {
    let pid: number | null = null
    try { pid = Number(readFileSync(layout.pidFile, 'utf8').trim()) || null } catch { /* none */ }
    if (!pid || !pidAlive(pid)) return { text: 'no e2e engine is running', data: { stopped: false } }
    if (!ctx.dryRun) {
      await stopPid(pid)
      for (const f of [layout.socket, layout.pidFile, layout.keptFile]) rmSync(f, { force: true })
    }
    return { text: `stopped the e2e engine (pid ${pid})`, data: { stopped: true, pid } }
  }
  const concurrency = flags.concurrency === undefined ? 2 : Number(flags.concurrency)
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer, got "${flags.concurrency}"`)
  if (!ctx.dryRun) acquireLock(ctx, layout.lockFile, 'e2e setup or suite')
  const p = await prepareE2E(ctx, { layout, concurrency })
  if (!flags.keep) await stopEngine(ctx, layout, p.engine)
  else if (p.engine.pid && !ctx.dryRun) writeFileSync(layout.keptFile, `${p.engine.pid}\n`)
  const t = p.timings
  ctx.log.raw(table(['phase', 'time', 'what'], [
    ['engine', formatDuration(t.engine), `${p.engine.source} ${p.engine.version}`],
    ['compose', formatDuration(t.compose), p.compose.installed ? `installed ${p.compose.version}` : `cached ${p.compose.version}`],
    ['base image', formatDuration(t.base), p.base.debootstrapped ? 'debootstrap + import' : p.base.imported ? 'import' : 'cached'],
    ['images', formatDuration(t.images), `${p.images.filter((i) => i.built).length} built, ${p.images.filter((i) => !i.built).length} cached`],
    ['total', formatDuration(t.total), ''],
  ]))
  const exports = `export DOCKER_HOST=${p.env.DOCKER_HOST} DOCKER_CONFIG=${p.env.DOCKER_CONFIG}`
  return {
    data: { engine: { ...p.engine, running: Boolean(flags.keep) || !p.engine.owned }, env: p.env, compose: p.compose, base: p.base, images: p.images, timings: t },
    text: flags.keep && p.engine.owned ? `${exports}\n# stop it with: make e2e-setup ARGS=--stop` : undefined,
  }
}, { examples: ['make e2e-setup', 'make e2e-setup ARGS=--keep', 'make e2e-setup ARGS=--stop'],
  exitCodes: { 75: 'another e2e setup or suite holds the engine lock' } })
