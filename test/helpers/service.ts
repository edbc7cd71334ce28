// Start a real local service (postgres, redis, nginx, prometheus...) and stop it by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { waitForPort } from './net.ts'

export interface Service {
  pid: number
  port: number
  /** Output so far, for failure messages. */
  output(): string
  stop(): Promise<void>
}

export interface ServiceOptions {
  cmd: string
  args: string[]
  port: number
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Extra readiness test after the port opens. */
  ready?: () => Promise<boolean>
  timeoutMs?: number
  /** uid/gid to run as (postgres refuses root). */
  uid?: number
  gid?: number
}

export async function startService(o: ServiceOptions): Promise<Service> {
  const child: ChildProcess = spawn(o.cmd, o.args, {
    env: o.env ?? process.env, cwd: o.cwd, uid: o.uid, gid: o.gid,
    stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  })
  let out = ''
  child.stdout?.on('data', (d) => { out += d })
  child.stderr?.on('data', (d) => { out += d })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let dead = false
  void exited.then(() => { dead = true })
  const svc: Service = {
    pid: child.pid!,
    port: o.port,
    output: () => out,
    async stop() {
      if (dead) return
      try { process.kill(-child.pid!, 'SIGTERM') } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, 10_000)
      await exited
      clearTimeout(timer)
    },
  }
  try {
    await Promise.race([
      waitForPort(o.port, o.timeoutMs ?? 30_000),
      exited.then(() => { throw new Error(`${o.cmd} exited before listening:\n${out}`) }),
    ])
    if (o.ready) {
      const deadline = Date.now() + (o.timeoutMs ?? 30_000)
      while (!(await o.ready())) {
        if (dead) throw new Error(`${o.cmd} exited:\n${out}`)
        if (Date.now() > deadline) throw new Error(`${o.cmd} not ready:\n${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (e) {
    await svc.stop()
    throw e
  }
  return svc
}
