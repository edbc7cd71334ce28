// make init: a .env from .env.example with strong random secrets, the domain and the LLM choice.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync, renameSync, copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ENV_EXAMPLE } from '../core/paths.ts'
import { UsageError } from '../core/errors.ts'
import { readSchema, secretNames, loadConfig } from '../core/config.ts'
import type { Ctx } from '../core/context.ts'

export type LlmChoice = 'lightllm' | 'external'

export interface InitAnswers {
  domain: string
  llm: LlmChoice
  /** The OpenAI-compatible endpoint (external only), e.g. https://api.example.com/v1. */
  openaiUrl?: string
  openaiKey?: string
}

export const INIT_DEFAULTS: InitAnswers = { domain: 'localhost', llm: 'lightllm' }

export interface InitResult {
  file: string
  /** Where the replaced .env was kept (--force), if there was one. */
  backup: string | null
  answers: Omit<InitAnswers, 'openaiKey'>
  /** Names of the secrets generated (never their values). */
  generated: string[]
  written: boolean
}

const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i

/** Every problem of the answers at once, before anything is written. */
export function answerProblems(a: InitAnswers): string[] {
  const problems: string[] = []
  if (!HOST.test(a.domain)) problems.push(`--domain must be a host name (got "${a.domain}")`)
  if (a.llm !== 'lightllm' && a.llm !== 'external') problems.push(`--llm must be lightllm or external (got "${a.llm}")`)
  if (a.llm === 'external') {
    if (!a.openaiUrl) problems.push('--llm external needs --openai-url (an OpenAI-compatible endpoint, e.g. https://api.example.com/v1)')
    else if (!/^https?:\/\/[^/\s]+/.test(a.openaiUrl)) problems.push(`--openai-url must be an http(s) URL (got "${a.openaiUrl}")`)
  } else if (a.openaiUrl) problems.push('--openai-url goes with --llm external')
  return problems
}

/** A fresh secret for each key and password of the schema: hex, so it fits URLs and every pattern. */
export function generateSecrets(schemaPath?: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, kind] of secretNames(readSchema(schemaPath))) {
    if (kind === 'key') out[name] = randomBytes(32).toString('hex')
    else if (kind === 'password') out[name] = randomBytes(24).toString('hex')
  }
  return out
}

/** The example's text with the given variables set; comments and order stay as documented. */
export function renderEnv(example: string, values: Record<string, string>): string {
  const seen = new Set<string>()
  const lines = example.split('\n').map((line) => {
    const m = /^([A-Z][A-Z0-9_]*)=/.exec(line)
    if (!m || !(m[1]! in values)) return line
    seen.add(m[1]!)
    return `${m[1]}=${values[m[1]!]}`
  })
  const extra = Object.keys(values).filter((k) => !seen.has(k)).map((k) => `${k}=${values[k]}`)
  return [...lines, ...extra].join('\n').replace(/\n*$/, '\n')
}

export function answerValues(a: InitAnswers): Record<string, string> {
  return {
    DEPLOY_ENV: 'production',
    DOMAIN: a.domain,
    PUBLIC_URL: `https://${a.domain}`,
    LIGHTLLM_ENABLED: a.llm === 'lightllm' ? 'true' : 'false',
    OPENAI_API_BASE_URL: a.llm === 'external' ? a.openaiUrl! : '',
    OPENAI_API_KEY: a.llm === 'external' && a.openaiKey ? a.openaiKey : 'none',
  }
}

export interface InitOptions {
  file: string
  force?: boolean
  answers: InitAnswers
  examplePath?: string
}

/**
 * Write the .env (mode 0600, through a temporary file and a rename: a killed run leaves the old
 * file or the new one, never half of one), then load it through the kit's production validation.
 */
export function writeEnv(ctx: Ctx, o: InitOptions): InitResult {
  const problems = answerProblems(o.answers)
  if (problems.length) throw new UsageError(problems.length === 1 ? problems[0]! : `invalid answers:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  const exists = existsSync(o.file)
  if (exists && !o.force) throw new UsageError(`${o.file} exists: not overwritten`, 'pass --force to replace it (the old one is kept as a .bak copy)')
  if (!existsSync(dirname(o.file))) throw new UsageError(`no such directory: ${dirname(o.file)}`)
  const secrets = generateSecrets()
  for (const v of Object.values(secrets)) ctx.secrets.add(v)
  if (o.answers.openaiKey) ctx.secrets.add(o.answers.openaiKey)
  const text = renderEnv(readFileSync(o.examplePath ?? ENV_EXAMPLE, 'utf8'), { ...answerValues(o.answers), ...secrets })
  const { openaiKey: _key, ...shown } = o.answers
  const result: InitResult = { file: o.file, backup: null, answers: shown, generated: Object.keys(secrets), written: false }
  if (ctx.dryRun) {
    ctx.plan.push(`write ${o.file} (${Object.keys(secrets).length} secrets generated)`)
    return result
  }
  if (exists) {
    result.backup = `${o.file}.${new Date().toISOString().replace(/[:.]/g, '-')}.bak`
    copyFileSync(o.file, result.backup)
  }
  const tmp = join(dirname(o.file), `.${Date.now()}.env.tmp`)
  writeFileSync(tmp, text, { mode: 0o600 })
  renameSync(tmp, o.file)
  result.written = true
  loadConfig(ctx, { envFile: o.file, production: true }) // a written .env the kit would refuse is a bug: say so now
  return result
}
