// The compose file as data: Compose's variable interpolation, loading, and the env a deploy passes.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parse } from 'yaml'
import { ConfigError } from '../core/errors.ts'
import { COMPOSE_FILE } from '../core/paths.ts'

/** One `${...}` reference in the compose file. */
export interface VarRef {
  name: string
  /** `${VAR:?message}` / `${VAR?message}`: compose refuses to run without it. */
  required: boolean
  /** `${VAR:-default}` / `${VAR-default}`. */
  fallback?: string
}

// $$ | ${NAME[op word]} | $NAME   (op: :- - :? ? :+ +)
const REF = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g

/**
 * Interpolate one string the way Compose does (`$$` escapes, `:-`/`-` defaults, `:?`/`?` errors,
 * `:+`/`+` alternatives). Missing required variables are collected in `errors`, not thrown.
 */
export function interpolate(text: string, env: Record<string, string | undefined>, errors: string[] = []): string {
  return text.replace(REF, (_m, dollar: string | undefined, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
    if (dollar) return '$'
    const name = (braced ?? bare)!
    const value = env[name]
    const unset = value === undefined
    const empty = unset || value === ''
    switch (op) {
      case ':-': return empty ? word! : value!
      case '-': return unset ? word! : value!
      case ':?': if (empty) errors.push(`${name}: ${word || 'required variable is missing a value'}`); return value ?? ''
      case '?': if (unset) errors.push(`${name}: ${word || 'required variable is missing a value'}`); return value ?? ''
      case ':+': return empty ? '' : word!
      case '+': return unset ? '' : word!
      default: return value ?? ''
    }
  })
}

/** Every variable reference in a string (`$$` is not one). */
export function variableRefs(text: string): VarRef[] {
  const refs: VarRef[] = []
  for (const m of text.matchAll(REF)) {
    if (m[1]) continue
    const op = m[3]
    refs.push({
      name: (m[2] ?? m[5])!,
      required: op === ':?' || op === '?',
      fallback: op === ':-' || op === '-' ? m[4] : undefined,
    })
  }
  return refs
}

/** Apply fn to every string value (not keys) of a parsed YAML tree. */
export function mapStrings(node: unknown, fn: (s: string) => string): unknown {
  if (typeof node === 'string') return fn(node)
  if (Array.isArray(node)) return node.map((n) => mapStrings(n, fn))
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, mapStrings(v, fn)]))
  }
  return node
}

export type ComposeDoc = {
  services: Record<string, ComposeService>
  networks?: Record<string, unknown>
  volumes?: Record<string, unknown>
  [k: string]: unknown
}

export interface ComposeService {
  image?: string
  profiles?: string[]
  [k: string]: unknown
}

/** Parse compose YAML with merge keys (`<<: *anchor`), as Compose does. */
export function parseCompose(text: string): ComposeDoc {
  const doc = parse(text, { merge: true, maxAliasCount: -1 }) as ComposeDoc | null
  if (!doc || typeof doc !== 'object' || !doc.services) throw new ConfigError(['the compose file has no services'], 'compose file')
  return doc
}

export interface LoadedCompose {
  file: string
  text: string
  /** As written (variables not interpolated, merge keys resolved). */
  raw: ComposeDoc
  /** Interpolated with env. */
  doc: ComposeDoc
  /** Every variable reference, in order of appearance (repeats included). */
  refs: VarRef[]
}

/** Read and interpolate the compose file; a missing required variable is a ConfigError naming all of them. */
export function loadCompose(env: Record<string, string | undefined>, file = COMPOSE_FILE): LoadedCompose {
  const text = readFileSync(file, 'utf8')
  const raw = parseCompose(text)
  const refs: VarRef[] = []
  mapStrings(raw, (s) => { refs.push(...variableRefs(s)); return s })
  const errors: string[] = []
  const doc = mapStrings(raw, (s) => interpolate(s, env, errors)) as ComposeDoc
  if (errors.length) throw new ConfigError([...new Set(errors)], `environment for ${file}`)
  return { file, text, raw, doc, refs }
}

/** Names of the variables the compose file references. */
export function composeVariables(refs: VarRef[]): Set<string> {
  return new Set(refs.map((r) => r.name))
}

/** Services active with these profiles (a service without profiles is always active). */
export function activeServices(doc: ComposeDoc, profiles: string[] = []): string[] {
  return Object.entries(doc.services)
    .filter(([, s]) => !s.profiles?.length || s.profiles.some((p) => profiles.includes(p)))
    .map(([name]) => name)
}

/**
 * The environment a deploy hands to `docker compose` (on top of the validated .env): the values
 * the compose file cannot derive itself. PUBLIC_URL defaults to https://DOMAIN (plus the port when
 * HTTPS_PORT is not 443), LIGHTLLM_ENABLED=true turns on the `lightllm` profile, PGBOUNCER_ENABLED=true
 * the `pgbouncer` profile and POSTGRES_ENDPOINT=pgbouncer:6432, and the OIDC
 * client is blanked unless SSO_OIDC_ENABLED=true.
 */
export function composeEnvironment(env: Record<string, string>): Record<string, string> {
  const out = { ...env }
  if (!out.PUBLIC_URL && out.DOMAIN) {
    const port = out.HTTPS_PORT && out.HTTPS_PORT !== '443' ? `:${out.HTTPS_PORT}` : ''
    out.PUBLIC_URL = `https://${out.DOMAIN}${port}`
  }
  out.PUBLIC_URL = out.PUBLIC_URL?.replace(/\/+$/, '')
  const profiles = new Set((out.COMPOSE_PROFILES ?? '').split(',').map((p) => p.trim()).filter(Boolean))
  if (/^(true|1|yes)$/i.test(out.LIGHTLLM_ENABLED ?? 'true')) profiles.add('lightllm')
  else profiles.delete('lightllm')
  // PgBouncer: its profile, and the applications' database endpoint through it (unless set)
  if (/^(true|1|yes)$/i.test(out.PGBOUNCER_ENABLED ?? 'false')) {
    profiles.add('pgbouncer')
    out.POSTGRES_ENDPOINT ||= 'pgbouncer:6432'
  }
  if (profiles.size) out.COMPOSE_PROFILES = [...profiles].join(',')
  else delete out.COMPOSE_PROFILES
  out.COMPOSE_PROJECT_NAME ||= 'owp'
  // the stack's own names never go through a proxy; .env's NO_PROXY adds to them
  out.NO_PROXY = [...STACK_NO_PROXY, ...(out.NO_PROXY ?? '').split(',').map((s) => s.trim()).filter(Boolean)].join(',')
  // OIDC is on only when asked for: a half-filled client must not register a login button
  if (!/^(true|1|yes)$/i.test(out.SSO_OIDC_ENABLED ?? 'false')) {
    for (const name of OIDC_CLIENT_VARIABLES) out[name] = ''
    out.SSO_OIDC_SIGNUP = 'false'
  }
  return out
}

/** Host names inside the compose stack (and loopback) that NO_PROXY always holds. */
export const STACK_NO_PROXY = ['localhost', '127.0.0.1', 'openwebui', 'lightllm', 'graphrag-processor', 'mcp-server', 'postgres', 'redis', 'qdrant', 'neo4j', 'otel-collector']

/** The variables that register an OIDC client with Open WebUI (blanked unless SSO_OIDC_ENABLED). */
export const OIDC_CLIENT_VARIABLES = ['SSO_OIDC_PROVIDER_URL', 'SSO_OIDC_CLIENT_ID', 'SSO_OIDC_CLIENT_SECRET']

/**
 * Where a host path from .env lands: compose resolves relative paths from the compose file's
 * directory (the project directory), not from where the command runs.
 */
export function resolveHostPath(value: string, composeFile = COMPOSE_FILE): string {
  return isAbsolute(value) ? value : resolve(dirname(composeFile), value)
}
