// The rule of test/e2e/compose.e2e.yml: it replaces images, nothing else a user runs, except the
// hardware this machine lacks (LightLLM's GPU, CPUs and memlock), named here one by one.
import { STAND_INS, E2E_TAG } from './images.ts'

/** Dotted paths an override may set besides `image`, per service, with the reason. */
export const HARDWARE_EXCEPTIONS: Record<string, Record<string, string>> = {
  lightllm: {
    'deploy.resources.limits.cpus': 'the compose file asks for 8 CPUs; Docker refuses more than the host has',
    'deploy.resources.reservations.cpus': 'the reservation must fit under the lowered limit',
    'deploy.resources.reservations.devices': 'no GPU on this machine',
    'ulimits.memlock': 'an unlimited memlock needs CAP_SYS_RESOURCE, which root lacks on these VMs',
  },
}

type Doc = { services?: Record<string, Record<string, unknown> | null> }

function leaves(value: unknown, prefix: string): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k))
  }
  return [prefix]
}

/** The profiles the e2e stack turns on (its .env: LIGHTLLM_ENABLED=true). */
export const E2E_PROFILES = ['lightllm', 'pgbouncer']

/** Whether the e2e stack starts this service: no profile, or one of E2E_PROFILES. */
export function runsInE2E(prod: Doc, name: string): boolean {
  const profiles = (prod.services?.[name] as { profiles?: string[] } | undefined)?.profiles ?? []
  return !profiles.length || profiles.some((p) => E2E_PROFILES.includes(p))
}

/** Every way the override strays from "images only"; empty when it keeps to the rule. */
export function overrideProblems(prod: Doc, override: Doc, tag = E2E_TAG): string[] {
  const problems: string[] = []
  const prodServices = Object.keys(prod.services ?? {})
  const refs = new Set(STAND_INS.map((i) => i.ref))
  const ours = override.services ?? {}
  for (const name of Object.keys(ours)) {
    if (!prodServices.includes(name)) problems.push(`${name}: not a service of the compose file`)
  }
  for (const name of prodServices) {
    const o = ours[name]
    // a service behind a profile the e2e stack never turns on is never pulled or started
    if (!o && !runsInE2E(prod, name)) continue
    if (!o) { problems.push(`${name}: no stand-in image (every image of the compose file must be replaced)`); continue }
    const image = typeof o.image === 'string' ? o.image.replace(/\$\{IMAGE_TAG(:[?-][^}]*)?\}/, tag) : ''
    if (!image) problems.push(`${name}: sets no image`)
    else if (!refs.has(image)) problems.push(`${name}: ${image} is not a stand-in built by test/e2e/harness/images.ts`)
    const allowed = HARDWARE_EXCEPTIONS[name] ?? {}
    for (const path of leaves(Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'image')), '')) {
      if (path && !(path in allowed)) problems.push(`${name}: changes ${path}; the override may only replace images`)
    }
  }
  return problems
}
