// The drill's scratch deployment on compose: the production project as `compose config` resolves
// it, cut down to the application and its stores, under its own project name with its own volumes
// and networks, no published port, no host path it could write, no fixed subnet (docker picks a
// free one). Anything that could reach production (an external volume or network, a writable bind
// mount, host networking) stops the drill before it starts.
import { KitError } from '../core/errors.ts'

/** What the drill runs: the stores and the application on them (no edge, no monitoring). */
export const DRILL_SERVICES = ['postgres', 'redis', 'qdrant', 'neo4j', 'openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server']
export const DRILL_STORE_SERVICES = ['postgres', 'redis', 'qdrant', 'neo4j']

type Obj = Record<string, any>

export interface DrillCompose { doc: Obj; services: string[]; dropped: string[] }

/** The scratch project's compose document from the production project's resolved config. */
export function drillCompose(config: Obj, project: string, o: { withLlm?: boolean } = {}): DrillCompose {
  const wanted = new Set([...DRILL_SERVICES, ...(o.withLlm ? ['lightllm'] : [])])
  const all = Object.keys(config.services ?? {})
  const services = all.filter((s) => wanted.has(s))
  const problems: string[] = []
  const out: Obj = { name: project, services: {}, volumes: {}, networks: {} }
  for (const name of services) {
    const s: Obj = structuredClone(config.services[name])
    delete s.ports
    delete s.container_name
    delete s.profiles
    // the scratch server never archives WAL: its archive is production's destination
    if (name === 'postgres' && Array.isArray(s.command)) s.command = (s.command as string[]).map((a) => (/^archive_mode=/.test(a) ? 'archive_mode=off' : a))
    if (s.network_mode) problems.push(`${name}: network_mode ${s.network_mode} would share a network with production`)
    if (s.depends_on) {
      s.depends_on = Object.fromEntries(Object.entries(s.depends_on as Obj).filter(([d]) => services.includes(d)))
      if (!Object.keys(s.depends_on).length) delete s.depends_on
    }
    if (s.networks) {
      s.networks = Object.fromEntries(Object.entries(s.networks as Obj).filter(([n]) => n === 'app'))
      for (const n of Object.keys(s.networks)) out.networks[n] = {}
    }
    for (const v of (s.volumes ?? []) as Obj[]) {
      if (v.type === 'volume' && v.source) {
        const top = config.volumes?.[v.source] ?? {}
        if (top.external) problems.push(`${name}: volume ${v.source} is external (it could be production's)`)
        out.volumes[v.source] = { name: `${project}_${v.source}` }
      } else if (v.type === 'volume') {
        // an anonymous volume: the project's own
      } else if (v.type === 'bind' && !v.read_only) {
        problems.push(`${name}: bind mount ${v.source} -> ${v.target} is writable (the drill never writes to the host)`)
      }
    }
    out.services[name] = s
  }
  for (const [n, net] of Object.entries((config.networks ?? {}) as Obj)) {
    if (!(n in out.networks)) continue
    if (net.external) problems.push(`network ${n} is external (it could be production's)`)
    out.networks[n] = { name: `${project}_${n}`, driver: net.driver ?? 'bridge' }
  }
  const missing = DRILL_STORE_SERVICES.filter((s) => !services.includes(s))
  if (missing.length) problems.push(`the compose project has no ${missing.join(', ')} service`)
  if (problems.length) throw new KitError(`the drill cannot run beside production safely:\n  ${problems.join('\n  ')}`)
  return { doc: out, services, dropped: all.filter((s) => !services.includes(s)) }
}
