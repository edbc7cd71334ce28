// Blue-green upgrades of the stateless services on one host, as steps (data): per service, the new
// container starts beside the old (`up --no-deps --no-recreate --scale svc=N+1`), passes its own
// healthcheck and a smoke test from NGINX's network; then NGINX switches to the new containers
// (one graceful reload), the old workers drain, the old containers stop. Each step carries its
// undo: before the switch, a failure removes the new containers (users saw nothing); after it,
// validation failing starts the old ones again and switches back. The old containers are removed
// only once validation passed.
import { KitError } from '../core/errors.ts'
import { composeArgv, inspectContainers, containers, isHealthy, runHealthcheck, type ComposeProject, type ContainerState } from '../tools/compose.ts'
import { NGINX_BACKENDS } from '../stack/nginx.ts'
import { switchBackends, waitDrained, smokeFromNginx, reloadArgv } from './switch.ts'
import type { Phase, Step } from '../core/plan.ts'
import type { BlueGreenService, UpgradeReport } from './strategies.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason } from '../core/exec.ts'

export interface BlueGreenPlan {
  project: ComposeProject
  services: BlueGreenService[]
  /** compose/.generated/nginx/<project>/switch.conf on the host (NGINX_BACKENDS_DIR in the container). */
  switchFile: string
  drainMs: number
  /** How long a new container may take to report healthy. */
  healthTimeoutMs: number
  report: UpgradeReport
  /** Steps that run before a service's new container starts / once it is healthy (Open WebUI's migration guard). */
  beforeStart?: Partial<Record<string, Step[]>>
  afterHealthy?: Partial<Record<string, Step[]>>
  /** Runs before an old container starts again in a rollback (Open WebUI: restore the database the new version migrated). */
  beforeStartOld?: Partial<Record<string, { note: string; run: (ctx: Ctx) => Promise<void> }>>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const ids = (cs: ContainerState[]) => cs.map((c) => c.id)
const names = (cs: ContainerState[], fallback: string) => (cs.length ? cs.map((c) => c.name ?? c.id.slice(0, 12)) : [fallback])

/** The new containers of a service: those compose lists now that were not there before. */
async function freshOf(ctx: Ctx, b: BlueGreenPlan, s: BlueGreenService): Promise<ContainerState[]> {
  const known = new Set([...ids(s.old), ...ids(s.stale)])
  return ((await containers(ctx, b.project)) ?? []).filter((c) => c.service === s.name && !known.has(c.id))
}

/**
 * Until every new container is healthy. Docker runs a healthcheck first one interval after the
 * start (30 to 60 s for these services) and a container says "starting" until then: meanwhile the
 * kit runs the same healthcheck itself (`docker exec`, as Docker does) every 2 s, and a container
 * whose check passed counts as healthy, as Docker would count it on its first pass. A container
 * Docker finds unhealthy, or one that exited, fails the wait.
 */
async function waitHealthy(ctx: Ctx, s: BlueGreenService, timeoutMs: number, probeEveryMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const passed = new Set<string>()
  let probed = 0
  for (;;) {
    const now = (await inspectContainers(ctx, ids(s.fresh))) ?? []
    const ready = (c: ContainerState) => isHealthy(c) || (c.state === 'running' && c.health === 'starting' && passed.has(c.id))
    if (now.length === s.fresh.length && now.every(ready)) { s.fresh = now; return }
    const dead = now.find((c) => c.state === 'exited' || c.state === 'dead' || c.health === 'unhealthy')
    if (dead) throw new KitError(`the new ${s.name} (${dead.name}) is ${dead.health || dead.state}${dead.healthLog ? `: ${dead.healthLog}` : ''}`)
    if (Date.now() > deadline) throw new KitError(`the new ${s.name} was not healthy after ${Math.round(timeoutMs / 1000)}s (${now.map((c) => c.health || c.state).join(', ')})`)
    if (ctx.signal.aborted) throw new KitError('interrupted')
    const starting = now.filter((c) => c.state === 'running' && c.health === 'starting' && !passed.has(c.id))
    if (starting.length && Date.now() - probed >= probeEveryMs) {
      probed = Date.now()
      await Promise.all(starting.map(async (c) => { if (await runHealthcheck(ctx, c)) passed.add(c.id) }))
      if (now.length === s.fresh.length && now.every(ready)) { s.fresh = now; return }
    }
    await sleep(1000)
  }
}

async function smoke(ctx: Ctx, b: BlueGreenPlan, s: BlueGreenService, cs: ContainerState[], attempts: number): Promise<void> {
  const port = NGINX_BACKENDS[s.name]!.port
  for (const c of cs) {
    let last = { ok: false, detail: '' }
    for (let i = 0; i < attempts && !last.ok; i++) {
      if (i) await sleep(1000)
      last = await smokeFromNginx(ctx, b.project, c.name ?? c.id.slice(0, 12), port)
    }
    if (!last.ok) throw new KitError(`smoke test of ${s.name} (${c.name}) from NGINX failed: ${last.detail}`)
  }
}

/** Service -> the first container name of each routed service (what NGINX is switched to). */
const hostsOf = (services: BlueGreenService[], pick: (s: BlueGreenService) => ContainerState[]) =>
  Object.fromEntries(services.filter((s) => s.routed && pick(s).length).map((s) => [s.name, pick(s)[0]!.name ?? pick(s)[0]!.id.slice(0, 12)]))

/** The phases of the upgrade before validation, and the finish after it. */
export function blueGreenPhases(b: BlueGreenPlan): { upgrade: Phase[]; finish: Phase[] } {
  const P = b.project
  const startSteps: Step[] = []
  for (const s of b.services) {
    // as many new containers as the compose file asks for (OPENWEBUI_REPLICAS), beside the old ones
    const scale = s.old.length + (s.replicas ?? 1)
    const argv = composeArgv(P, 'up', '--detach', '--no-deps', '--no-recreate', '--no-build', '--scale', `${s.name}=${scale}`, s.name)
    const pre = b.beforeStart?.[s.name] ?? []
    startSteps.push(...pre)
    startSteps.push({
      id: `start-new:${s.name}`,
      title: `start the new ${s.name}${(s.replicas ?? 1) > 1 ? ` (${s.replicas} replicas)` : ''} beside the old (${s.old.length} running)`,
      argv, mutates: true, timeoutMs: 300_000,
      after: pre.length ? [pre.at(-1)!.id!] : undefined,
      action: async (c) => {
        try {
          await c.exec(argv, { mutates: true, timeout: 300_000, title: `up --scale ${s.name}=${scale}` })
        } finally {
          s.fresh = await freshOf(c, b, s) // even a failed `up` may have created one: its undo removes it
        }
        if (!s.fresh.length) throw new KitError(`compose started no new ${s.name} container`)
      },
      undo: {
        id: `remove-new:${s.name}`, title: `remove the new ${s.name}`,
        argv: ['docker', 'rm', '--force', ...names(s.fresh, `<new ${s.name}>`)], mutates: true,
        action: async (c) => {
          const fresh = s.fresh.length ? s.fresh : await freshOf(c, b, s)
          if (fresh.length) await c.exec(['docker', 'rm', '--force', ...ids(fresh)], { mutates: true, timeout: 120_000 })
        },
      },
    })
    startSteps.push({
      id: `healthy:${s.name}`, title: `wait for the new ${s.name}'s own healthcheck`,
      argv: ['docker', 'inspect', '--format', '{{.State.Health.Status}}', `<new ${s.name}>`], mutates: true, after: [`start-new:${s.name}`],
      action: (c) => waitHealthy(c, s, b.healthTimeoutMs),
    })
    let last = `healthy:${s.name}`
    if (s.routed) {
      startSteps.push({
        id: `smoke:${s.name}`, title: `smoke the new ${s.name} directly from NGINX's network (not through the proxy)`,
        argv: composeArgv(P, 'exec', '-T', 'nginx', 'wget', '-q', '-O', '/dev/null', '-T', '5', `http://<new ${s.name}>:${NGINX_BACKENDS[s.name]!.port}/health`),
        mutates: true, after: [last],
        action: (c) => smoke(c, b, s, s.fresh, 3),
      })
      last = `smoke:${s.name}`
    }
    for (const step of b.afterHealthy?.[s.name] ?? []) {
      startSteps.push({ ...step, after: [last] })
      last = step.id!
    }
  }
  const routed = b.services.filter((s) => s.routed)
  let draining: number[] = []
  const phases: Phase[] = []
  if (routed.length) {
    // a new container joins its service's DNS name as it starts, before its healthcheck and smoke
    // test: NGINX goes by the names of the running containers until the switch
    phases.push({
      title: 'pin NGINX to the running containers',
      steps: [{
        id: 'pin', title: `pin NGINX to the running ${routed.map((s) => s.name).join(', ')} (a new container must not get requests before its switch)`,
        argv: reloadArgv(P), mutates: true,
        action: async (c) => {
          await switchBackends(c, P, b.switchFile, hostsOf(routed, (s) => s.old), 'blue-green upgrade: the containers serving before it (written by the deploy kit)')
        },
        undo: {
          id: 'unpin', title: 'NGINX back to the service names',
          argv: reloadArgv(P), mutates: true,
          action: async (c) => {
            await switchBackends(c, P, b.switchFile, {}, 'service names (written by the deploy kit: the upgrade was undone)')
          },
        },
      }],
    })
  }
  phases.push({ title: `blue-green: the new ${b.services.map((s) => s.name).join(', ')} beside the old`, parallel: true, steps: startSteps })
  if (routed.length) {
    phases.push({
      title: 'switch NGINX (graceful reload)',
      steps: [{
        id: 'switch', title: `switch NGINX to the new ${routed.map((s) => s.name).join(', ')}`,
        argv: reloadArgv(P), mutates: true,
        action: async (c) => {
          const r = await switchBackends(c, P, b.switchFile, hostsOf(routed, (s) => s.fresh), 'blue-green upgrade: the new containers (written by the deploy kit)')
          b.report.switchMs = r.ms
          b.report.switchedAt = new Date().toISOString()
          draining = r.draining
          c.log.info(`NGINX switched in ${r.ms} ms; ${r.draining.length} old worker(s) finish their requests`)
        },
        undo: {
          id: 'switch-back', title: `switch NGINX back to the old ${routed.map((s) => s.name).join(', ')}`,
          argv: reloadArgv(P), mutates: true,
          action: async (c) => {
            await switchBackends(c, P, b.switchFile, hostsOf(routed, (s) => s.old), 'rolled back: the containers that ran before (written by the deploy kit)')
          },
        },
      }],
    })
  }
  const drainSecs = Math.round(b.drainMs / 1000)
  const stopSteps: Step[] = []
  if (routed.length) {
    stopSteps.push({
      id: 'drain', title: `drain: the old NGINX workers finish their requests, streams included (up to ${drainSecs}s)`,
      argv: ['nginx-drain', '--timeout', `${drainSecs}s`], mutates: true,
      action: async (c) => {
        const d = await waitDrained(c, P, draining, b.drainMs)
        b.report.drainMs = d.ms
        b.report.cutWorkers = d.busy.length
        if (d.busy.length) c.log.warn(`drain timeout (${drainSecs}s): ${d.busy.length} old NGINX worker(s) still had open requests; stopping the old containers cuts them`)
      },
    })
  }
  for (const s of b.services) {
    stopSteps.push({
      id: `stop-old:${s.name}`, title: `stop the old ${s.name} (kept until validation passes)`,
      argv: ['docker', 'stop', '--time', String(Math.max(10, drainSecs)), ...names(s.old, `<old ${s.name}>`)], mutates: true,
      after: routed.length ? ['drain'] : undefined, timeoutMs: (Math.max(10, drainSecs) + 60) * 1000,
      undo: {
        id: `start-old:${s.name}`, title: `start the old ${s.name} again${b.beforeStartOld?.[s.name] ? ` (${b.beforeStartOld[s.name]!.note})` : ''}`,
        argv: ['docker', 'start', ...names(s.old, `<old ${s.name}>`)], mutates: true,
        action: async (c) => {
          await b.beforeStartOld?.[s.name]?.run(c)
          await c.exec(['docker', 'start', ...ids(s.old)], { mutates: true, timeout: 120_000 })
          // it served a minute ago: answering its /health again is enough to route to it
          if (s.routed) await smoke(c, b, s, s.old, Math.max(5, Math.round(b.healthTimeoutMs / 1000)))
        },
      },
    })
  }
  phases.push({ title: 'drain and stop the old containers', parallel: true, steps: stopSteps })

  const leftovers = b.services.flatMap((s) => [...s.old, ...s.stale])
  const finish: Phase[] = [{
    title: 'finish the upgrade',
    steps: [
      {
        id: 'remove-old', title: 'remove the old containers',
        argv: ['docker', 'rm', '--force', ...names(leftovers, '<old containers>')], mutates: true,
        action: async (c) => {
          // a leftover is harmless (stopped): warn, the next deploy removes it as stale
          const r = await c.exec(['docker', 'rm', '--force', ...ids(leftovers)], { mutates: true, allowFailure: true, timeout: 120_000 })
          if (r.exitCode !== 0) c.log.warn(`could not remove every old container: ${failureReason(c, r)}`)
        },
      },
      ...(routed.length ? [{
        id: 'unswitch', title: 'NGINX back to the service names (one container each now)',
        argv: reloadArgv(P), mutates: true,
        action: async (c: Ctx) => {
          await switchBackends(c, P, b.switchFile, {}, 'service names (written by the deploy kit after the upgrade)').catch((e: Error) =>
            c.log.warn(`NGINX keeps the container names of the upgrade (still valid): ${e.message}`))
        },
      } satisfies Step] : []),
    ],
  }]
  return { upgrade: phases, finish }
}
