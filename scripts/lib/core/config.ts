// .env loading and validation against config/env.schema.json: every problem in one message.
import { readFileSync, existsSync } from 'node:fs'
import dotenv from 'dotenv'
import { Ajv, type ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { ConfigError } from './errors.ts'
import { ENV_SCHEMA, ENV_EXAMPLE } from './paths.ts'
import type { Ctx } from './context.ts'

// ajv-formats ships CJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** How a secret is judged in production: keys need length, passwords need not be weak. */
export type SecretKind = 'key' | 'password' | 'credential'

export interface EnvSchema {
  type: 'object'
  required?: string[]
  properties: Record<string, { type?: string; default?: unknown; description?: string; 'x-secret'?: SecretKind; [k: string]: unknown }>
  [k: string]: unknown
}

export interface LoadedConfig {
  /** Validated variables (schema defaults applied), as strings: ready for an env. */
  env: Record<string, string>
  production: boolean
  file: string | null
}

export const WEAK_SECRETS = new Set(['changeme', 'change-me', 'password', 'passw0rd', 'secret', 'admin', 'default', 'example', '123456', '12345678', 'qwerty', 'letmein'])
export const MIN_KEY_LENGTH = 32
export const MIN_PASSWORD_LENGTH = 12

export function readSchema(path = ENV_SCHEMA): EnvSchema {
  return JSON.parse(readFileSync(path, 'utf8')) as EnvSchema
}

/** The variables the schema marks as secrets, with their kind. */
export function secretNames(schema: EnvSchema): Map<string, SecretKind> {
  const out = new Map<string, SecretKind>()
  for (const [name, prop] of Object.entries(schema.properties)) if (prop['x-secret']) out.set(name, prop['x-secret'])
  return out
}

/** The values shipped in .env.example: a production secret equal to one is a placeholder. */
export function placeholderValues(examplePath = ENV_EXAMPLE): Set<string> {
  if (!existsSync(examplePath)) return new Set()
  return new Set(Object.values(dotenv.parse(readFileSync(examplePath))).filter((v) => v.length > 0))
}

export interface LoadOptions {
  envFile?: string
  schemaPath?: string
  examplePath?: string
  /** Overrides DEPLOY_ENV=production detection. */
  production?: boolean
}

/**
 * Load the env file (quietly; variables already in the environment win, as with compose),
 * validate it, and register every secret with the masker before anything is printed.
 */
export function loadConfig(ctx: Ctx, o: LoadOptions = {}): LoadedConfig {
  const schema = readSchema(o.schemaPath)
  const file = o.envFile ?? (existsSync(`${ctx.cwd}/.env`) ? `${ctx.cwd}/.env` : null)
  const problems: string[] = []
  let fromFile: Record<string, string> = {}
  if (file) {
    if (!existsSync(file)) throw new ConfigError([`env file not found: ${file}`], 'configuration')
    fromFile = dotenv.parse(readFileSync(file))
  }
  const raw: Record<string, string> = {}
  for (const name of Object.keys(schema.properties)) {
    const value = ctx.env[name] ?? fromFile[name]
    if (value !== undefined && value !== '') raw[name] = value
  }
  const secrets = secretNames(schema)
  for (const name of secrets.keys()) ctx.secrets.add(raw[name])

  const production = o.production ?? (raw.DEPLOY_ENV ?? String(schema.properties.DEPLOY_ENV?.default ?? '')) === 'production'
  problems.push(...validateEnv(schema, raw), ...chatProblems(raw))
  if (production) problems.push(...weakSecrets(raw, secrets, placeholderValues(o.examplePath)))
  if (problems.length) throw new ConfigError(problems, `configuration${file ? ` in ${file}` : ''}`)

  const env: Record<string, string> = {}
  for (const [name, prop] of Object.entries(schema.properties)) {
    const value = raw[name] ?? (prop.default !== undefined ? String(prop.default) : undefined)
    if (value !== undefined) env[name] = value
  }
  return { env, production, file }
}

/** A deployment nothing answers chats on is no deployment: LightLLM off needs an external endpoint. */
export function chatProblems(raw: Record<string, string>): string[] {
  const lightllm = !/^(false|0|no|off)$/i.test(raw.LIGHTLLM_ENABLED ?? 'true')
  if (lightllm || raw.OPENAI_API_BASE_URL) return []
  return ['LIGHTLLM_ENABLED=false and no OPENAI_API_BASE_URL: nothing would answer chats (set OPENAI_API_BASE_URL to an OpenAI-compatible endpoint, or enable LightLLM)']
}

/** Schema problems, one readable line each, naming the variable. */
export function validateEnv(schema: EnvSchema, raw: Record<string, string>): string[] {
  // strictRequired off: the rules in allOf require variables that `properties` declares at the root
  const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: false, strict: true, strictRequired: false })
  addFormats(ajv)
  ajv.addKeyword({ keyword: 'x-secret' })
  ajv.addKeyword({ keyword: 'x-when' })
  ajv.addKeyword({ keyword: 'x-message' })
  const validate = ajv.compile(schema)
  const copy: Record<string, unknown> = { ...raw }
  if (validate(copy)) return []
  const secrets = secretNames(schema)
  const lines = (validate.errors ?? []).map((e) => describeRule(e, schema) ?? describe(e, raw, secrets)).filter((l): l is string => l !== '')
  return [...new Set(lines)]
}

/** A rule between variables (schema allOf: if/then with x-when or x-message), in its own words; '' hides ajv's "must match then". */
function describeRule(e: ErrorObject, schema: EnvSchema): string | undefined {
  const m = /^#\/allOf\/(\d+)\//.exec(e.schemaPath)
  if (!m) return undefined
  if (e.keyword === 'if') return ''
  const rule = (schema.allOf as { 'x-when'?: string; 'x-message'?: string }[] | undefined)?.[Number(m[1])]
  if (e.keyword === 'required' && rule?.['x-when']) return `${(e.params as { missingProperty: string }).missingProperty} is required when ${rule['x-when']}`
  return rule?.['x-message']
}

// A secret's value is never quoted back, masked or not: a short one would not even be masked.
function describe(e: ErrorObject, raw: Record<string, string>, secrets: Map<string, SecretKind>): string {
  if (e.keyword === 'required') return `${(e.params as { missingProperty: string }).missingProperty} is required`
  const name = e.instancePath.replace(/^\//, '')
  const secret = secrets.has(name) || /PASSWORD|PASSWD|SECRET|KEY|TOKEN|AUTH|CREDENTIAL/.test(name)
  const shown = name in raw && !secret ? ` (got "${raw[name]}")` : ''
  if (e.keyword === 'enum') return `${name} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}${shown}`
  return `${name} ${e.message}${shown}`
}

function weakSecrets(raw: Record<string, string>, secrets: Map<string, SecretKind>, placeholders: Set<string>): string[] {
  const problems: string[] = []
  for (const [name, kind] of secrets) {
    const value = raw[name]
    if (!value || kind === 'credential') continue
    if (placeholders.has(value)) problems.push(`${name} still has the placeholder from .env.example: generate one (openssl rand -hex 32)`)
    else if (WEAK_SECRETS.has(value.toLowerCase())) problems.push(`${name} is a well-known weak value: generate one (openssl rand -hex 32)`)
    else if (kind === 'key' && value.length < MIN_KEY_LENGTH) problems.push(`${name} is shorter than ${MIN_KEY_LENGTH} characters (production needs a strong key: openssl rand -hex 32)`)
    else if (kind === 'password' && value.length < MIN_PASSWORD_LENGTH) problems.push(`${name} is shorter than ${MIN_PASSWORD_LENGTH} characters`)
  }
  return problems
}
