// A Docker engine for the e2e suite: our own dockerd (overlay2 where the kernel mounts overlayfs in
// its data root, else vfs; own data root and socket), Compose v2
// as a CLI plugin from Debian trixie, and a debootstrap Debian base image. State lives outside the
// repository (default /var/lib/owp-e2e) so every clone on the machine reuses it.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { KitError } from '../../../scripts/lib/core/errors.ts'
import { probe, probeWhy } from '../../../scripts/lib/core/exec.ts'
import type { Ctx } from '../../../scripts/lib/core/context.ts'

/** Where the e2e engine keeps its state; OWP_E2E_STATE moves it (e.g. to a bigger disk). */
export const DEFAULT_E2E_STATE = '/var/lib/owp-e2e'

export interface EngineLayout {
  state: string
  dataRoot: string
  execRoot: string
  socket: string
  pidFile: string
  logFile: string
  /** DOCKER_CONFIG: holds cli-plugins/docker-compose. */
  dockerConfig: string
  composePlugin: string
  aptDir: string
  rootfsTar: string
  lockFile: string
  /** The PID of an engine `e2e-setup --keep` left running on purpose: adopted, never stopped. */
  keptFile: string
}

export function engineLayout(state = process.env.OWP_E2E_STATE || DEFAULT_E2E_STATE): EngineLayout {
  const dockerConfig = join(state, 'docker-config')
  return {
    state,
    dataRoot: join(state, 'docker'),
    execRoot: join(state, 'exec'),
    socket: join(state, 'docker.sock'),
    pidFile: join(state, 'dockerd.pid'),
    logFile: join(state, 'dockerd.log'),
    dockerConfig,
    composePlugin: join(dockerConfig, 'cli-plugins', 'docker-compose'),
    aptDir: join(state, 'apt'),
    rootfsTar: join(state, 'rootfs', 'debian-bookworm-minbase.tar'),
    lockFile: join(state, 'e2e.lock'),
    keptFile: join(state, 'dockerd.kept'),
  }
}

export interface Engine {
  /** DOCKER_HOST value, e.g. unix:///var/lib/owp-e2e/docker.sock */
  host: string
  /** dockerd's PID when this run owns the engine (it stops it), else null. */
  pid: number | null
  owned: boolean
  /** Server version, e.g. 20.10.24+dfsg1 */
  version: string
  /** How the engine was obtained. */
  source: 'DOCKER_HOST' | 'started' | 'adopted'
}

/** The variables every docker/compose call of the suite runs with. */
export function engineEnv(layout: EngineLayout, engine: Pick<Engine, 'host'>): Record<string, string> {
  return { DOCKER_HOST: engine.host, DOCKER_CONFIG: layout.dockerConfig }
}

/** The engine's server version, or null when nothing answers at host. */
export async function engineVersion(ctx: Ctx, host: string, timeout = 5_000): Promise<string | null> {
  const out = await probe(ctx, ['docker', '--host', host, 'version', '--format', '{{.Server.Version}}'], timeout)
  return out ? out.split('\n').pop()!.trim() || null : null
}

export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch { return null }
}

function logTail(file: string, lines = 15): string {
  try { return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') } catch { return '(no log)' }
}

export interface StartOptions {
  /** How long dockerd may take to answer before the run gives up. */
  timeoutMs?: number
  /** dockerd binary (tests point it at a fake). */
  dockerd?: string
}

export type StorageDriver = 'overlay2' | 'vfs'
export const STORAGE_DRIVERS: StorageDriver[] = ['overlay2', 'vfs']

/** OWP_E2E_STORAGE_DRIVER, checked (a usage error, exit 2, names what it accepts); undefined when unset. */
export function forcedStorageDriver(env: Record<string, string | undefined>): StorageDriver | undefined {
  const forced = env.OWP_E2E_STORAGE_DRIVER
  if (!forced) return undefined
  if (!STORAGE_DRIVERS.includes(forced as StorageDriver)) throw new KitError(`OWP_E2E_STORAGE_DRIVER must be ${STORAGE_DRIVERS.join(' or ')}, got "${forced}"`, 2)
  return forced as StorageDriver
}

/**
 * overlay2 when an overlay mount works in the state dir (root, a kernel with overlayfs, a data root
 * on ext4 or xfs): containers share their image's layers. Else vfs, which copies the whole image
 * for every container and every build step: several times the CPU and disk of a stack's deploy.
 * OWP_E2E_STORAGE_DRIVER=overlay2|vfs decides instead of the probe.
 */
export async function chooseStorageDriver(ctx: Ctx, layout: EngineLayout): Promise<{ driver: StorageDriver; why: string }> {
  const forced = forcedStorageDriver(ctx.env)
  if (forced) return { driver: forced, why: 'OWP_E2E_STORAGE_DRIVER' }
  const dir = join(layout.state, 'overlay-probe')
  // an earlier probe killed at its time-out can have mounted after all. Lazy: an overlay unmount
  // syncs the whole upper filesystem, which on a busy disk takes longer than any probe should
  const unmount = () => probe(ctx, ['umount', '-l', join(dir, 'merged')])
  const clear = () => { try { rmSync(dir, { recursive: true, force: true }) } catch { /* still busy: the next probe clears it */ } }
  if (existsSync(join(dir, 'merged'))) await unmount()
  clear()
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(dir, d), { recursive: true })
  try {
    const argv = ['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${join(dir, 'lower')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, join(dir, 'merged')]
    // a busy kernel (a killed engine's mounts going away) can take long to mount: slow is not "no
    // overlayfs", and vfs would throw the image cache away
    const mounted = await probeWhy(ctx, argv, 120_000)
    if (mounted.why?.includes('timed out')) throw new KitError(`the overlayfs probe did not finish (${mounted.why})`, 1, 'the machine is overloaded; run again, or set OWP_E2E_STORAGE_DRIVER')
    if (mounted.why !== null) return { driver: 'vfs', why: `no overlay mount in ${layout.state}: ${mounted.why}` }
    return { driver: 'overlay2', why: `overlayfs mounts in ${layout.state}` }
  } finally {
    await unmount()
    clear()
  }
}


/**
 * An engine that answers: DOCKER_HOST when the caller set one, else our own dockerd (adopted when a
 * previous run left it running, else started in the background). Never hangs: a dockerd that exits
 * or does not answer within timeoutMs is a KitError with its log tail.
 */
export async function startEngine(ctx: Ctx, layout: EngineLayout, o: StartOptions = {}): Promise<Engine> {
  forcedStorageDriver(ctx.env) // bad input fails before anything, a dry run too
  const given = ctx.env.DOCKER_HOST
  if (given) {
    const version = await engineVersion(ctx, given)
    if (!version) {
      throw new KitError(`DOCKER_HOST=${given} does not answer`,
        1, 'unset DOCKER_HOST to let the suite start its own engine, or start that engine')
    }
    return { host: given, pid: null, owned: false, version, source: 'DOCKER_HOST' }
  }
  const host = `unix://${layout.socket}`
  const leftover = readPid(layout.pidFile)
  if (leftover && pidAlive(leftover)) {
    const version = await engineVersion(ctx, host)
    if (version) {
      const kept = readPid(layout.keptFile) === leftover
      ctx.log.info(kept ? `using the e2e engine kept running by e2e-setup --keep (pid ${leftover}); it stays up`
        : `adopting the e2e engine a previous run left running (pid ${leftover})`)
      return { host, pid: leftover, owned: !kept, version, source: 'adopted' }
    }
    throw new KitError(`a dockerd (pid ${leftover}, from ${layout.pidFile}) runs but does not answer on ${layout.socket}`,
      1, `stop it (kill ${leftover}) and run again; its log: ${layout.logFile}`)
  }
  if (ctx.dryRun) {
    ctx.out(`[dry-run] ${dockerdArgv(layout, o.dockerd).join(' ')} &`)
    return { host, pid: null, owned: false, version: 'dry-run', source: 'started' }
  }
  const dockerdBin = o.dockerd ?? 'dockerd'
  if (!dockerdBin.includes('/') && !onPath(dockerdBin, pathEnv(ctx).PATH ?? ctx.env.PATH ?? '')) {
    throw new KitError('dockerd is not installed: the e2e suite starts its own Docker engine', 1,
      'make setup (installs Debian docker.io), or apt-get install docker.io; or point DOCKER_HOST at a running engine')
  }
  if (process.getuid?.() !== 0) {
    throw new KitError('starting the e2e Docker engine needs root (dockerd, iptables, mounts)', 1,
      'run the suite as root, or point DOCKER_HOST at an engine you started')
  }
  for (const dir of [layout.dataRoot, layout.execRoot]) mkdirSync(dir, { recursive: true, mode: 0o711 })
  rmSync(layout.socket, { force: true })
  rmSync(layout.pidFile, { force: true })
  const storage = await chooseStorageDriver(ctx, layout)
  ctx.log.info(`e2e engine storage: ${storage.driver} (${storage.why})`)
  const [cmd, ...args] = dockerdArgv(layout, o.dockerd, storage.driver)
  const log = openSync(layout.logFile, 'w', 0o600)
  let exitCode: number | null | undefined
  let spawnError: Error | undefined
  const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', log, log], env: { ...ctx.env, ...pathEnv(ctx) } })
  closeSync(log)
  child.on('error', (e) => { spawnError = e })
  child.on('exit', (code, signal) => { exitCode = code ?? (signal ? 128 : 1) })
  child.unref()
  const pid = child.pid
  // seconds normally; minutes after a killed engine, whose containers dockerd cleans up first
  const timeoutMs = o.timeoutMs ?? 300_000
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (spawnError) {
      throw new KitError(`cannot start dockerd: ${spawnError.message}`, 1,
        'install Debian docker.io (make setup does), or point DOCKER_HOST at a running engine')
    }
    if (exitCode !== undefined) {
      throw new KitError(`the e2e Docker engine could not start: dockerd exited with code ${exitCode}\n${logTail(layout.logFile)}`,
        1, `full log: ${layout.logFile}`)
    }
    const version = existsSync(layout.socket) ? await engineVersion(ctx, host, 3_000) : null
    if (version && pid) {
      ctx.log.debug(`dockerd pid ${pid} answers on ${layout.socket}`)
      return { host, pid, owned: true, version, source: 'started' }
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  if (pid) await stopPid(pid, 10_000)
  throw new KitError(`the e2e Docker engine did not answer within ${Math.round(timeoutMs / 1000)}s; stopped it\n${logTail(layout.logFile)}`,
    1, `full log: ${layout.logFile}`)
}

/**
 * dockerd in a mount namespace of its own whose mounts are shared, as / is under systemd: bind
 * mounts with rslave propagation (node-exporter's /:/host) need that, and a VM's private root
 * would refuse them. Stand-in for the GPU runtime: a runtime named `nvidia` that is plain runc,
 * so the deploy's NVIDIA preflight passes; the GPU reservation itself is dropped by the override.
 */
export function dockerdArgv(layout: EngineLayout, dockerd = 'dockerd', driver: StorageDriver = 'vfs'): string[] {
  return [
    'unshare', '--mount', '--propagation', 'shared', '--',
    dockerd, `--storage-driver=${driver}`,
    '--data-root', layout.dataRoot,
    '--exec-root', layout.execRoot,
    '--pidfile', layout.pidFile,
    '--host', `unix://${layout.socket}`,
    '--add-runtime', 'nvidia=runc',
  ]
}

export function onPath(name: string, path: string): boolean {
  return path.split(':').filter(Boolean).some((d) => existsSync(join(d, name)))
}

/** dockerd and debootstrap live in /usr/sbin, which a non-login PATH may lack. */
export function pathEnv(ctx: Ctx): Record<string, string> {
  const path = ctx.env.PATH ?? ''
  const extra = ['/usr/sbin', '/sbin'].filter((d) => !path.split(':').includes(d))
  return extra.length ? { PATH: [path, ...extra].filter(Boolean).join(':') } : {}
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
export async function stopPid(pid: number, graceMs = 30_000): Promise<void> {
  try { process.kill(pid, 'SIGTERM') } catch { return }
  const deadline = Date.now() + graceMs
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  if (pidAlive(pid)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    while (pidAlive(pid)) await new Promise((r) => setTimeout(r, 50))
  }
}

/** Stop the engine this run owns, by PID; an engine it did not start is left alone. */
export async function stopEngine(ctx: Ctx, layout: EngineLayout, engine: Engine): Promise<void> {
  if (!engine.owned || !engine.pid) return
  if (ctx.dryRun) { ctx.out(`[dry-run] kill ${engine.pid}`); return }
  await stopPid(engine.pid)
  for (const f of [layout.socket, layout.pidFile, layout.keptFile]) rmSync(f, { force: true })
}
