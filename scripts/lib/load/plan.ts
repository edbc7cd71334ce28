// Flags (and the default profile's .env) -> the phases to run. Every input problem is a usage
// error here, before a single request is sent.
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import dotenv from 'dotenv'
import type { Ctx } from '../core/context.ts'
import type { Values } from '../core/cli.ts'
import { UsageError, ConfigError } from '../core/errors.ts'
import { loadConfig } from '../core/config.ts'
import { buildRequest, targetOf, type Target } from './rawhttp.ts'
import type { WireRequest } from './http-engine.ts'
import type { LoadShape } from './schedule.ts'
import type { TtftMode, LlmEngineOptions } from './llm-engine.ts'
import { readPrompts, syntheticPrompts } from './prompts.ts'
import { loadScenario } from './scenario.ts'
import { parseSlos, parseGoodput, goodputFromSlos, sloModes, type Slo, type Mode } from './slo.ts'
import type { GoodputCriteria } from './summary.ts'
import { parseCount, parseDuration, parsePositive } from './units.ts'
import type { loadTestOptions } from './options.ts'

export type Flags = Values<typeof loadTestOptions>

export interface HttpPlan {
  mode: 'http'
  name: string
  display: string
  target: Target
  requests: WireRequest[]
  shape: LoadShape
  timeoutMs: number
  keepAlive: boolean
  workers: number
}

/** An llm phase: the engine's options, plus how it is named and reported. */
export interface LlmPlan extends Omit<LlmEngineOptions, 'model'> {
  mode: 'llm'
  name: string
  display: string
  /** null: ask the server's models endpoint. */
  model: string | null
  ttftMode: TtftMode
  goodput: GoodputCriteria | null
}

export type PhasePlan = HttpPlan | LlmPlan

export interface Plan {
  phases: PhasePlan[]
  skipped: { name: string; reason: string }[]
  slos: Slo[]
}

/** What the default profile sends: safe for a production deployment (a few dozen requests/s). */
export const DEFAULT_PROFILE = {
  http: { path: '/health', concurrency: 10, rate: 20, durationMs: 10_000, timeoutMs: 10_000 },
  llm: { path: '/api/chat/completions', concurrency: 2, requests: 8, maxTokens: 64, inputTokens: 128, timeoutMs: 120_000 },
  slos: ['http:p95<1s', 'http:error_rate<1%', 'llm:error_rate<10%'],
} as const

const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token)$/i

function parseUrl(text: string, what: string): URL {
  let url: URL
  try { url = new URL(text) } catch { throw new UsageError(`${what}: "${text}" is not a URL (http://host[:port]/path)`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${what}: only http:// and https:// URLs, got ${url.protocol}`)
  return url
}

function joinUrl(base: string, path: string): URL {
  const b = parseUrl(base, '--base-url')
  if (!path.startsWith('/')) throw new UsageError(`--path must start with /, got "${path}"`)
  return new URL(b.pathname.replace(/\/$/, '') + path, b)
}

function parseHeaders(ctx: Ctx, list: string[] | undefined): [string, string][] {
  return (list ?? []).map((h) => {
    const m = /^([^:\s]+)\s*:\s*(.*)$/.exec(h)
    if (!m) throw new UsageError(`-H "${h}": expected "Name: value"`)
    if (SENSITIVE_HEADER.test(m[1]!)) {
      ctx.secrets.add(m[2]!)
      ctx.secrets.add(m[2]!.replace(/^(Bearer|Basic|Token)\s+/i, ''))
    }
    return [m[1]!, m[2]!]
  })
}

/** "200,204" or "200-299,404" -> the list of statuses. */
export function parseStatusList(text: string): number[] {
  const out: number[] = []
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(part)
    if (!m) throw new UsageError(`--expect-status: "${part}" is not a status or a range (200, 200-399)`)
    const from = Number(m[1])
    const to = m[2] ? Number(m[2]) : from
    if (from < 100 || to > 599 || to < from) throw new UsageError(`--expect-status: "${part}" is not within 100-599`)
    for (let s = from; s <= to; s++) out.push(s)
  }
  if (!out.length) throw new UsageError('--expect-status: no status given')
  return out
}

interface ShapeDefaults { concurrency: number; requests?: number; durationMs?: number; rate?: number; arrival: 'constant' | 'poisson' }

function shapeFrom(flags: Flags, d: ShapeDefaults): LoadShape {
  const requests = parseCount(flags.requests, '-n/--requests')
  const durationMs = flags.duration !== undefined ? parseDuration(flags.duration, '-z/--duration') : undefined
  if (requests !== undefined && durationMs !== undefined) throw new UsageError('give -n (a number of requests) or -z (a duration), not both')
  if (durationMs !== undefined && durationMs <= 0) throw new UsageError('-z/--duration must be more than 0')
  const rate = parsePositive(flags.rate, '--rate') ?? (flags.qps ? undefined : d.rate)
  const qps = parsePositive(flags.qps, '-q/--qps')
  if (flags.rate !== undefined && qps !== undefined) throw new UsageError('-q limits each connection of a closed loop, --rate sets an open-loop arrival rate: choose one')
  if (flags.arrival !== undefined && flags.arrival !== 'constant' && flags.arrival !== 'poisson') throw new UsageError(`--arrival must be constant or poisson, got "${flags.arrival}"`)
  if (flags.arrival !== undefined && !rate) throw new UsageError('--arrival needs --rate (a closed loop has no arrivals)')
  const fromUser = requests !== undefined || durationMs !== undefined
  return {
    concurrency: parseCount(flags.concurrency, '-c/--concurrency') ?? d.concurrency,
    requests: fromUser ? requests : d.requests,
    durationMs: fromUser ? durationMs : d.durationMs,
    rate,
    arrival: (flags.arrival as 'constant' | 'poisson' | undefined) ?? d.arrival,
    qps,
    warmupMs: flags.warmup !== undefined ? parseDuration(flags.warmup, '--warmup') : 0,
    seed: parseCount(flags.seed, '--seed', { min: 0 }) ?? 1,
  }
}

function timeoutFrom(flags: Flags, def: number): number {
  return flags.timeout !== undefined ? parseDuration(flags.timeout, '-t/--timeout') : def
}

function httpPlan(ctx: Ctx, flags: Flags, url: URL | null, d: ShapeDefaults & { timeoutMs: number }): HttpPlan {
  const keepAlive = !flags['disable-keepalive']
  const headers = parseHeaders(ctx, flags.header)
  if (flags['content-type']) headers.push(['Content-Type', flags['content-type']])
  if (flags.auth) {
    const i = flags.auth.indexOf(':')
    if (i < 0) throw new UsageError('-a/--auth must be USER:PASS')
    ctx.secrets.add(flags.auth.slice(i + 1))
    const token = Buffer.from(flags.auth).toString('base64')
    ctx.secrets.add(token)
    headers.push(['Authorization', `Basic ${token}`])
  }
  if (flags.body !== undefined && flags['body-file'] !== undefined) throw new UsageError('give -d (a body) or -D (a body file), not both')
  let body: Buffer | undefined
  if (flags.body !== undefined) body = Buffer.from(flags.body)
  if (flags['body-file'] !== undefined) {
    try { body = readFileSync(flags['body-file']) } catch (e) { throw new UsageError(`-D: cannot read ${flags['body-file']}: ${(e as Error).message}`) }
  }
  const expect = flags['expect-status'] ? parseStatusList(flags['expect-status']) : null
  const wire: WireRequest[] = []
  let target: URL
  let display: string
  if (flags.scenario) {
    const sc = loadScenario(flags.scenario, { baseUrl: url?.href, env: ctx.env, secrets: ctx.secrets })
    target = sc.baseUrl
    for (const r of sc.requests) {
      wire.push({
        name: r.name, noBody: r.method === 'HEAD', weight: r.weight, expect: r.expect ?? expect,
        buf: buildRequest({ method: r.method, url: r.url, headers: [...headers, ...r.headers], body: r.body, keepAlive }),
      })
    }
    display = `scenario ${flags.scenario} (${wire.length} request${wire.length === 1 ? '' : 's'}) at ${sc.baseUrl.origin}`
  } else {
    if (!url) throw new UsageError('no target: give a URL, --base-url, --scenario or --profile default')
    const method = (flags.method ?? 'GET').toUpperCase()
    if (!/^[A-Z]+$/.test(method)) throw new UsageError(`-m: "${flags.method}" is not an HTTP method`)
    target = url
    wire.push({ name: `${method} ${url.pathname}`, noBody: method === 'HEAD', weight: 1, expect, buf: buildRequest({ method, url, headers, body, keepAlive }) })
    display = `${method} ${url.href}`
  }
  const workers = parseCount(flags.workers, '--workers') ?? 1
  const shape = shapeFrom(flags, d)
  if (workers > shape.concurrency) throw new UsageError(`--workers ${workers} needs at least as many connections (-c ${shape.concurrency})`)
  return { mode: 'http', name: 'http', display, target: targetOf(target, Boolean(flags.insecure)), requests: wire, shape, timeoutMs: timeoutFrom(flags, d.timeoutMs), keepAlive, workers }
}

function llmPlan(ctx: Ctx, flags: Flags, url: URL, o: { apiKey?: string; slos: Slo[]; d: ShapeDefaults & { timeoutMs: number; maxTokens: number; inputTokens: number; model?: string } }): LlmPlan {
  if (url.pathname === '/' || url.pathname === '') url = new URL('/v1/chat/completions', url)
  const headers: Record<string, string> = Object.fromEntries(parseHeaders(ctx, flags.header))
  if (o.apiKey) {
    ctx.secrets.add(o.apiKey)
    headers.authorization = `Bearer ${o.apiKey}`
  }
  const shape = shapeFrom(flags, o.d)
  const inputTokens = parseCount(flags['input-tokens'], '--input-tokens') ?? o.d.inputTokens
  const prompts = flags.prompts ? readPrompts(flags.prompts) : syntheticPrompts(Math.min(shape.requests ?? 1000, 1000), inputTokens, shape.seed)
  if (flags.prompts && flags['input-tokens']) throw new UsageError('give --prompts (a file) or --input-tokens (generated prompts), not both')
  let extraBody: Record<string, unknown> = {}
  if (flags['extra-body']) {
    try { extraBody = JSON.parse(flags['extra-body']) as Record<string, unknown> } catch (e) { throw new UsageError(`--extra-body is not JSON: ${(e as Error).message}`) }
    if (typeof extraBody !== 'object' || extraBody === null || Array.isArray(extraBody)) throw new UsageError('--extra-body must be a JSON object')
  }
  const ttft = flags.ttft ?? 'content'
  if (ttft !== 'content' && ttft !== 'first-chunk') throw new UsageError(`--ttft must be content or first-chunk, got "${ttft}"`)
  return {
    mode: 'llm', name: 'llm', display: `POST ${url.href}`, url, headers, model: flags.model ?? o.d.model ?? null, prompts,
    maxTokens: parseCount(flags['max-tokens'], '--max-tokens') ?? o.d.maxTokens, extraBody, shape,
    timeoutMs: timeoutFrom(flags, o.d.timeoutMs), insecure: Boolean(flags.insecure), ttftMode: ttft,
    goodput: parseGoodput(flags.goodput ?? []) ?? goodputFromSlos(o.slos),
  }
}

/**
 * --api-key, else LOADTEST_API_KEY from the environment, else (profile only: the key belongs to the
 * deployment the .env describes, and must not travel to any URL typed on the command line) from the env file.
 */
function apiKeyFrom(ctx: Ctx, flags: Flags, o: { envFile: boolean }): string | undefined {
  if (flags['api-key']) return flags['api-key']
  if (ctx.env.LOADTEST_API_KEY) return ctx.env.LOADTEST_API_KEY
  if (!o.envFile) return undefined
  const file = flags['env-file'] ?? join(ctx.cwd, '.env')
  if (!existsSync(file)) return undefined
  return dotenv.parse(readFileSync(file)).LOADTEST_API_KEY || undefined
}

/** The deployment's .env, with a way forward when there is none. */
function profileConfig(ctx: Ctx, envFile: string | undefined): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(ctx, { envFile })
  } catch (e) {
    if (!(e instanceof ConfigError) || envFile || existsSync(join(ctx.cwd, '.env'))) throw e
    throw new UsageError(`${e.message}\n(no .env in ${ctx.cwd}: the default profile reads the deployment's URL from it)`,
      'cp .env.example .env and fill it in, pass --env-file FILE, or load a URL directly: tsx scripts/load-test.ts https://HOST/health')
  }
}

export function buildPlan(ctx: Ctx, flags: Flags, positionals: string[]): Plan {
  if (positionals.length > 1) throw new UsageError(`one URL at a time, got ${positionals.length}: ${positionals.join(' ')}`)
  const mode = flags.mode
  if (mode !== undefined && mode !== 'http' && mode !== 'llm') throw new UsageError(`--mode must be http or llm, got "${mode}"`)
  if (flags['api-key']) ctx.secrets.add(flags['api-key'])
  const slos = parseSlos(flags.slo ?? [])
  const phases: PhasePlan[] = []
  const skipped: Plan['skipped'] = []

  if (flags.profile !== undefined) {
    if (flags.profile !== 'default') throw new UsageError(`--profile: only "default" exists, got "${flags.profile}"`)
    if (flags.scenario) throw new UsageError('--scenario and --profile do not mix')
    // make load-test ARGS=URL: the URL is the deployment's base, and the .env (and its key) stay out of it
    const typed = positionals[0]
    if (typed !== undefined && flags['base-url']) throw new UsageError('give a URL or --base-url, not both')
    if (typed !== undefined) parseUrl(typed, 'URL')
    const env: Record<string, string | undefined> = typed !== undefined && !flags['env-file'] ? {} : profileConfig(ctx, flags['env-file']).env
    const base = typed ?? flags['base-url'] ?? env.PUBLIC_URL ?? `https://${env.DOMAIN}`
    const P = DEFAULT_PROFILE
    const profileSlos = flags.slo?.length ? slos : parseSlos([...P.slos])
    if (mode !== 'llm') {
      phases.push(httpPlan(ctx, flags, joinUrl(base, flags.path ?? P.http.path), { ...P.http, arrival: 'constant' }))
    }
    if (mode !== 'http') {
      const path = (mode === 'llm' ? flags.path : undefined) ?? flags['llm-path'] ?? P.llm.path
      const apiKey = apiKeyFrom(ctx, flags, { envFile: typed === undefined })
      if (path.startsWith('/api/') && !apiKey) {
        const reason = `Open WebUI's ${path} needs an API key (Settings > Account > API keys): set LOADTEST_API_KEY or --api-key; `
          + 'or load LightLLM directly: --mode llm --base-url http://HOST:8000 --path /v1/chat/completions'
        if (mode === 'llm') throw new UsageError(`llm phase: ${reason}`)
        skipped.push({ name: 'llm', reason })
      } else {
        phases.push(llmPlan(ctx, flags, joinUrl(base, path), { apiKey, slos: profileSlos, d: { ...P.llm, arrival: 'poisson', model: env.LLM_MODEL_NAME } }))
      }
    }
    const modes = phases.map((p) => p.mode)
    const gates = flags.slo?.length ? slos : profileSlos.filter((s) => modes.includes(s.phase ?? 'http'))
    for (const s of gates) sloModes(s, modes)
    return { phases, skipped, slos: gates }
  }

  let url: URL | null = null
  if (positionals[0] !== undefined) {
    if (flags['base-url']) throw new UsageError('give a URL or --base-url, not both')
    url = parseUrl(positionals[0], 'URL')
  } else if (flags['base-url']) {
    url = joinUrl(flags['base-url'], flags.path ?? '/')
  } else if (flags.path) {
    throw new UsageError('--path needs --base-url')
  }
  if (mode === 'llm') {
    if (flags.scenario) throw new UsageError('--scenario is for http mode')
    if (!url) throw new UsageError('llm mode needs a URL (…/v1/chat/completions) or --base-url')
    phases.push(llmPlan(ctx, flags, url, { apiKey: apiKeyFrom(ctx, flags, { envFile: false }), slos, d: { concurrency: 4, requests: 32, arrival: 'poisson', timeoutMs: 300_000, maxTokens: 128, inputTokens: 256 } }))
  } else {
    phases.push(httpPlan(ctx, flags, url, { concurrency: 50, requests: 200, arrival: 'constant', timeoutMs: 20_000 }))
  }
  const modes: Mode[] = phases.map((p) => p.mode)
  for (const s of slos) sloModes(s, modes)
  return { phases, skipped, slos }
}
