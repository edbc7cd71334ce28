// The house rules of the compose stack, as a checker: one readable problem per broken rule.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseCompose, type ComposeDoc, type ComposeService, type VarRef } from './env.ts'

export interface PolicyProblem {
  service?: string
  rule: string
  message: string
}

/** Rules a service may waive in `x-waivers: { rule: reason }`, because some images cannot comply. */
export const WAIVABLE = ['healthcheck', 'user', 'read_only', 'cap_drop'] as const
export type Waivable = (typeof WAIVABLE)[number]

export const DATA_STORES = ['postgres', 'redis', 'qdrant', 'neo4j']

export interface PolicyOptions {
  /** Services allowed to publish host ports. */
  publishers?: string[]
  /** Services that must not publish any port, named as such in the message. */
  dataStores?: string[]
}

// A version tag (v1.2.3, 15.14, 1.28.0-alpine, 5.26.12-community) or a digest; never latest or a bare major.
const PINNED_TAG = /^v?\d+\.\d+(\.\d+)*([-_+.][A-Za-z0-9._-]+)?$/
const RESTARTS = /^(always|unless-stopped|on-failure(:\d+)?)$/

export function checkComposePolicy(doc: ComposeDoc, o: PolicyOptions = {}): PolicyProblem[] {
  const publishers = o.publishers ?? ['nginx']
  const dataStores = o.dataStores ?? DATA_STORES
  const problems: PolicyProblem[] = []
  const networks = new Set(Object.keys(doc.networks ?? {}))
  const volumes = new Set(Object.keys(doc.volumes ?? {}))

  for (const [name, svc] of Object.entries(doc.services)) {
    const add = (rule: string, message: string) => problems.push({ service: name, rule, message: `${name}: ${message}` })
    const waivers = waiversOf(svc)
    for (const [rule, reason] of Object.entries(waivers)) {
      if (!(WAIVABLE as readonly string[]).includes(rule)) add('waiver', `x-waivers.${rule} is not a waivable rule (${WAIVABLE.join(', ')})`)
      else if (typeof reason !== 'string' || reason.trim().length < 10) add('waiver', `x-waivers.${rule} needs the reason in words`)
    }
    const waived = (rule: Waivable, complies: boolean, message: string) => {
      if (complies && waivers[rule]) add('waiver', `x-waivers.${rule} waives a rule the service already keeps: remove the waiver`)
      if (!complies && !waivers[rule]) add(rule, message)
    }

    // Pinned image
    const image = svc.image
    if (!image) add('image', 'has no image')
    else {
      const { tag, digest } = imageRef(image)
      if (!digest && !tag) add('image', `image ${image} has no tag (pin a version)`)
      else if (!digest && (tag === 'latest' || !PINNED_TAG.test(tag!))) add('image', `image ${image} is not pinned to a version (tag "${tag}")`)
    }

    // Healthcheck
    const hc = svc.healthcheck as { test?: unknown; disable?: boolean } | undefined
    const hasHealthcheck = Boolean(hc && !hc.disable && hc.test && !(Array.isArray(hc.test) && (hc.test.length === 0 || hc.test[0] === 'NONE')))
    waived('healthcheck', hasHealthcheck, 'has no healthcheck')

    // Restart policy
    if (typeof svc.restart !== 'string' || !RESTARTS.test(svc.restart)) add('restart', `restart policy is ${svc.restart ?? 'missing'} (use unless-stopped, always or on-failure)`)

    // Resources
    const res = (svc.deploy as { resources?: { limits?: Record<string, unknown>; reservations?: Record<string, unknown> } } | undefined)?.resources
    for (const kind of ['limits', 'reservations'] as const) {
      for (const key of ['cpus', 'memory'] as const) {
        if (res?.[kind]?.[key] === undefined || res[kind]![key] === '') add('resources', `deploy.resources.${kind}.${key} is missing`)
      }
    }
    if (res?.limits && res.reservations) {
      const lc = Number(res.limits.cpus); const rc = Number(res.reservations.cpus)
      if (lc && rc && rc > lc) add('resources', `cpu reservation ${rc} exceeds the limit ${lc}`)
      const lm = bytes(res.limits.memory); const rm = bytes(res.reservations.memory)
      if (lm && rm && rm > lm) add('resources', `memory reservation ${res.reservations.memory} exceeds the limit ${res.limits.memory}`)
    }

    // Log rotation
    const logging = svc.logging as { driver?: string; options?: Record<string, unknown> } | undefined
    if (logging?.driver !== 'local' && !(logging?.driver === 'json-file' && logging.options?.['max-size'] && logging.options?.['max-file'])) {
      add('logging', 'logs are not rotated (json-file with max-size and max-file, or the local driver)')
    }

    // Privileges
    const secOpt = (svc.security_opt as string[] | undefined) ?? []
    if (!secOpt.some((s) => /^no-new-privileges(:true)?$/.test(s))) add('no-new-privileges', 'security_opt lacks no-new-privileges:true')
    if (svc.privileged === true) add('privileged', 'runs privileged')
    waived('cap_drop', ((svc.cap_drop as string[] | undefined) ?? []).includes('ALL'), 'does not drop all capabilities (cap_drop: [ALL], then cap_add what it needs)')
    waived('read_only', svc.read_only === true, 'root filesystem is writable (read_only: true plus tmpfs for scratch paths)')
    waived('user', isNonRootUser(svc.user), `runs as ${svc.user === undefined ? 'the image default user' : `user ${String(svc.user)}`} (set a non-root user:)`)

    // Ports
    const ports = (svc.ports as unknown[] | undefined) ?? []
    if (ports.length && dataStores.includes(name)) add('ports', 'is a data store and publishes a host port')
    else if (ports.length && !publishers.includes(name)) add('ports', `publishes host ports; only ${publishers.join(', ')} may`)

    // depends_on waits for health
    const dependsOn = svc.depends_on
    if (Array.isArray(dependsOn)) add('depends_on', 'depends_on is a list: use the map form with condition: service_healthy')
    else if (dependsOn && typeof dependsOn === 'object') {
      for (const [dep, spec] of Object.entries(dependsOn as Record<string, { condition?: string }>)) {
        const target = doc.services[dep]
        if (!target) add('depends_on', `depends on ${dep}, which is not a service`)
        else if (spec?.condition !== 'service_healthy') add('depends_on', `depends on ${dep} with condition ${spec?.condition ?? 'none'} (use service_healthy)`)
        else if (!(target.healthcheck as { test?: unknown } | undefined)?.test) add('depends_on', `waits for ${dep} to be healthy, but ${dep} has no healthcheck`)
        else if (target.profiles?.length && !(svc.profiles ?? []).some((p) => target.profiles!.includes(p))) add('depends_on', `depends on ${dep}, which only runs with profile ${target.profiles.join(', ')}`)
      }
    }

    // Storage: data on named volumes; bind mounts only read-only (configuration, certificates)
    for (const mount of (svc.volumes as unknown[] | undefined) ?? []) {
      const m = parseMount(mount)
      if (m.type === 'volume' && m.source && !volumes.has(m.source)) add('volumes', `mounts volume ${m.source}, which is not declared under volumes:`)
      if (m.type === 'volume' && !m.source) add('volumes', `has an anonymous volume at ${m.target}: name it`)
      if (m.type === 'bind' && !m.readOnly) add('volumes', `bind-mounts ${m.source} writable at ${m.target}: data belongs in a named volume`)
    }

    // Networks
    if (svc.network_mode) add('networks', `uses network_mode ${String(svc.network_mode)}`)
    const svcNetworks = Array.isArray(svc.networks) ? svc.networks as string[] : Object.keys((svc.networks as object | undefined) ?? {})
    if (!svc.network_mode && svcNetworks.length === 0) add('networks', 'is on no declared network (the default network is not used)')
    for (const n of svcNetworks) if (!networks.has(n)) add('networks', `is on network ${n}, which is not declared`)
  }
  return problems
}

/**
 * The policy on the project as compose merged it (`config --format json` of the main file and the
 * site's override files). Compose leaves `x-waivers` out of that output: they are read from the
 * files themselves, a later file's waivers adding to an earlier one's.
 */
export function checkMergedComposePolicy(merged: ComposeDoc, files: string[], o: PolicyOptions = {}): PolicyProblem[] {
  const doc = structuredClone(merged)
  for (const f of files) {
    const raw = parseCompose(readFileSync(f, 'utf8'))
    for (const [name, svc] of Object.entries(raw.services)) {
      const w = waiversOf(svc)
      if (doc.services[name] && Object.keys(w).length) doc.services[name]['x-waivers'] = { ...waiversOf(doc.services[name]!), ...w }
    }
  }
  return checkComposePolicy(doc, o)
}

function waiversOf(svc: ComposeService): Record<string, unknown> {
  const w = svc['x-waivers']
  return w && typeof w === 'object' ? w as Record<string, unknown> : {}
}

export function imageRef(image: string): { repository: string; tag?: string; digest?: string } {
  const [nameTag, digest] = image.split('@')
  const slash = nameTag!.lastIndexOf('/')
  const colon = nameTag!.lastIndexOf(':')
  if (colon > slash) return { repository: nameTag!.slice(0, colon), tag: nameTag!.slice(colon + 1), digest }
  return { repository: nameTag!, digest }
}

function isNonRootUser(user: unknown): boolean {
  if (user === undefined || user === null || user === '') return false
  const uid = String(user).split(':')[0]!
  return uid !== '0' && uid !== 'root'
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 }
function bytes(v: unknown): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?b?)$/i.exec(String(v ?? ''))
  return m ? Number(m[1]) * (UNITS[m[2]!.toLowerCase()] ?? 1) : null
}

interface Mount { type: 'volume' | 'bind' | 'tmpfs' | 'other'; source?: string; target: string; readOnly: boolean }

/** Short (`src:dst:ro`) or long (`{type, source, target, read_only}`) volume syntax. */
export function parseMount(mount: unknown): Mount {
  if (typeof mount === 'string') {
    const parts = mount.split(':')
    if (parts.length === 1) return { type: 'volume', target: parts[0]!, readOnly: false }
    const [source, target, mode = ''] = parts as [string, string, string?]
    const bind = /^[./~]/.test(source)
    return { type: bind ? 'bind' : 'volume', source, target, readOnly: mode.split(',').includes('ro') }
  }
  const m = mount as { type?: string; source?: string; target: string; read_only?: boolean }
  const type = m.type === 'volume' || m.type === 'bind' || m.type === 'tmpfs' ? m.type : 'other'
  return { type, source: m.source, target: m.target, readOnly: m.read_only === true }
}

export interface EnvContract {
  /** Variable names declared in config/env.schema.json. */
  schema: Set<string>
  /** Variable names listed in .env.example. */
  example: Set<string>
}

/**
 * The .env contract against the compose file: every variable the compose file uses is declared
 * in both the schema and .env.example; both list the same names; every declared variable is used
 * by the compose file or referenced elsewhere in the kit (usedElsewhere).
 */
export function checkEnvContract(refs: VarRef[], contract: EnvContract, usedElsewhere: Set<string>): PolicyProblem[] {
  const problems: PolicyProblem[] = []
  const add = (message: string) => problems.push({ rule: 'env', message })
  const used = new Set(refs.map((r) => r.name))
  for (const name of [...used].sort()) {
    if (!contract.schema.has(name)) add(`compose uses \${${name}}, which config/env.schema.json does not declare`)
    if (!contract.example.has(name)) add(`compose uses \${${name}}, which .env.example does not list`)
  }
  for (const name of [...contract.schema].sort()) if (!contract.example.has(name)) add(`${name} is in config/env.schema.json but not in .env.example`)
  for (const name of [...contract.example].sort()) if (!contract.schema.has(name)) add(`${name} is in .env.example but not in config/env.schema.json`)
  for (const name of [...new Set([...contract.schema, ...contract.example])].sort()) {
    if (!used.has(name) && !usedElsewhere.has(name)) add(`${name} is declared but used by neither the compose file nor any script or config`)
  }
  // A default must be spelled the same everywhere the variable appears, or the stack drifts.
  const fallbacks = new Map<string, Set<string>>()
  for (const r of refs) if (r.fallback !== undefined) fallbacks.set(r.name, (fallbacks.get(r.name) ?? new Set()).add(r.fallback))
  for (const [name, values] of fallbacks) if (values.size > 1) add(`\${${name}} has different defaults in the compose file: ${[...values].join(' | ')}`)
  return problems
}

/** Names from `names` that occur (as whole words) in text files under roots, minus skipped files. */
export function referencedNames(names: Iterable<string>, roots: string[], o: { skip?: (path: string) => boolean; base?: string } = {}): Set<string> {
  const wanted = [...names]
  const found = new Set<string>()
  const visit = (path: string) => {
    if (found.size === wanted.length) return
    const st = statSync(path, { throwIfNoEntry: false })
    if (!st) return
    if (o.skip?.(o.base ? relative(o.base, path) : path)) return
    if (st.isDirectory()) {
      if (/(^|\/)(node_modules|\.git|\.tools|\.cache)$/.test(path)) return
      for (const e of readdirSync(path)) visit(join(path, e))
      return
    }
    if (!st.isFile() || st.size > 2_000_000) return
    const text = readFileSync(path, 'utf8')
    for (const name of wanted) if (!found.has(name) && new RegExp(`\\b${name}\\b`).test(text)) found.add(name)
  }
  for (const root of roots) visit(root)
  return found
}
