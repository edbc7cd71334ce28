// NGINX's side of a blue-green upgrade on compose: the switch file names the containers each
// application goes to; `nginx -t`, then a graceful reload (`nginx -s reload`: new workers take new
// requests, old ones finish theirs, streams included); the switch is done when every old worker
// stopped taking requests, the drain when they all exited.
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { KitError } from '../core/errors.ts'
import { composeArgv, type ComposeProject } from '../tools/compose.ts'
import { backendSwitchConf, parseNginxWorkers, NGINX_MAIN_CONF, NGINX_PS_SCRIPT, type NginxWorker } from '../stack/nginx.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason } from '../core/exec.ts'

export const NGINX_SERVICE = 'nginx'

export const reloadArgv = (p: ComposeProject): string[] => composeArgv(p, 'exec', '-T', NGINX_SERVICE, 'nginx', '-s', 'reload', '-c', NGINX_MAIN_CONF)
export const configTestArgv = (p: ComposeProject): string[] => composeArgv(p, 'exec', '-T', NGINX_SERVICE, 'nginx', '-t', '-q', '-c', NGINX_MAIN_CONF)

/** The worker processes of the running NGINX. */
export async function nginxWorkers(ctx: Ctx, p: ComposeProject): Promise<NginxWorker[]> {
  const r = await ctx.exec(composeArgv(p, 'exec', '-T', NGINX_SERVICE, 'sh', '-c', NGINX_PS_SCRIPT), { timeout: 30_000 })
  return parseNginxWorkers(r.stdout)
}

/** fn, tried up to `times` times 200 ms apart; the last failure is thrown. */
async function retried<T>(fn: () => Promise<T>, times: number): Promise<T> {
  for (let i = 1; ; i++) {
    try { return await fn() } catch (e) {
      if (i >= times) throw e
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

/** Write a file so that a reader (NGINX) sees the old or the new content, never half of it. */
function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 })
  writeFileSync(`${file}.tmp`, text, { mode: 0o644 })
  renameSync(`${file}.tmp`, file)
}

export interface SwitchResult {
  /** From the reload until every old worker stopped taking new requests. */
  ms: number
  /** The old workers now finishing their requests. */
  draining: number[]
}

/**
 * Point NGINX at `hosts` (service -> container name; {} = the service names) and reload it
 * gracefully. A configuration NGINX refuses puts the previous file back before anything reloads.
 */
export async function switchBackends(ctx: Ctx, p: ComposeProject, switchFile: string, hosts: Record<string, string>, why: string, timeoutMs = 30_000): Promise<SwitchResult> {
  // the workers serving now, read before the file changes: a switch that stops here leaves nothing
  // written that a later start of NGINX would pick up; a failed look (a busy host) is tried again
  const before = (await retried(() => nginxWorkers(ctx, p), 3)).filter((w) => !w.shuttingDown).map((w) => w.pid)
  const previous = existsSync(switchFile) ? readFileSync(switchFile, 'utf8') : null
  writeAtomic(switchFile, backendSwitchConf(hosts, why))
  const test = await ctx.exec(configTestArgv(p), { allowFailure: true, timeout: 30_000 })
  if (test.exitCode !== 0) {
    if (previous === null) writeAtomic(switchFile, backendSwitchConf({}, 'service names (the switch NGINX refused was taken back)'))
    else writeAtomic(switchFile, previous)
    throw new KitError(`nginx refused the switch (nothing was reloaded): ${failureReason(ctx, test)}`)
  }
  const t0 = performance.now()
  await ctx.exec(reloadArgv(p), { mutates: true, timeout: 30_000, title: 'nginx -s reload' }).catch((e: unknown) => {
    // not signalled (or not known to be): the file goes back to what NGINX was last told to serve, so
    // that a later start of NGINX does not pick up a switch this run did not finish
    writeAtomic(switchFile, previous ?? backendSwitchConf({}, 'service names (a switch whose reload failed was taken back)'))
    throw e
  })
  // `-s reload` only signals the master: the switch is real once no old worker takes requests
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // the reload is done: a failed look is no answer, look again until the deadline
    const now = await nginxWorkers(ctx, p).catch((e: Error) => {
      if (Date.now() > deadline) throw e
      ctx.log.debug(`nginx workers: ${e.message}`)
      return null
    })
    if (!now) { await new Promise((r) => setTimeout(r, 100)); continue }
    const active = new Set(now.filter((w) => !w.shuttingDown).map((w) => w.pid))
    if (before.every((pid) => !active.has(pid)) && active.size > 0) {
      return { ms: Math.round(performance.now() - t0), draining: before.filter((pid) => now.some((w) => w.pid === pid)) }
    }
    if (Date.now() > deadline) throw new KitError(`nginx did not replace its workers within ${timeoutMs / 1000}s of the reload (see docker compose logs nginx)`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Wait until the old workers exited (their requests done), up to timeoutMs. Returns the ones still busy. */
export async function waitDrained(ctx: Ctx, p: ComposeProject, pids: number[], timeoutMs: number): Promise<{ ms: number; busy: number[] }> {
  const t0 = performance.now()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // one failed look (an exec that timed out on a busy host) is no answer: look again until the deadline
    const seen = await nginxWorkers(ctx, p).catch((e: Error) => { ctx.log.debug(`nginx workers: ${e.message}`); return null })
    const alive = new Set((seen ?? []).map((w) => w.pid))
    const busy = seen ? pids.filter((pid) => alive.has(pid)) : pids
    if (!seen && Date.now() >= deadline) return { ms: Math.round(performance.now() - t0), busy }
    if (!seen) { await new Promise((r) => setTimeout(r, 500)); continue }
    if (!busy.length || Date.now() >= deadline || ctx.signal.aborted) return { ms: Math.round(performance.now() - t0), busy }
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Ask from NGINX's network namespace: is this container's /health answering (the smoke test, not through the proxy)? */
export async function smokeFromNginx(ctx: Ctx, p: ComposeProject, host: string, port: number, path = '/health'): Promise<{ ok: boolean; detail: string }> {
  const r = await ctx.exec(composeArgv(p, 'exec', '-T', NGINX_SERVICE, 'wget', '-q', '-O', '/dev/null', '-T', '5', `http://${host}:${port}${path}`), { allowFailure: true, timeout: 20_000 })
  return { ok: r.exitCode === 0, detail: r.exitCode === 0 ? (r.stderr || r.stdout).trim().slice(0, 200) : failureReason(ctx, r).slice(0, 200) }
}
