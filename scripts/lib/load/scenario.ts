// Scenario files (YAML): weighted requests against one origin, checked against a schema with
// every problem listed. ${VAR} in headers and bodies comes from the environment.
import { readFileSync } from 'node:fs'
import YAML from 'yaml'
import { Ajv } from 'ajv'
import { ConfigError, UsageError } from '../core/errors.ts'
import type { SecretMasker } from '../core/secrets.ts'

export interface ScenarioRequest {
  name: string
  method: string
  /** Absolute URL (base_url + path). */
  url: URL
  headers: [string, string][]
  body?: Buffer
  weight: number
  expect: number[] | null
}

export interface Scenario {
  baseUrl: URL
  requests: ScenarioRequest[]
}

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['requests'],
  properties: {
    base_url: { type: 'string', pattern: '^https?://' },
    headers: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
    requests: {
      type: 'array', minItems: 1, maxItems: 65535,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          name: { type: 'string', minLength: 1 },
          method: { type: 'string', pattern: '^[A-Za-z]+$' },
          path: { type: 'string', pattern: '^/' },
          weight: { type: 'number', exclusiveMinimum: 0 },
          headers: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
          body: { type: 'string' },
          json: {},
          expect: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 100, maximum: 599 } },
        },
        not: { required: ['body', 'json'] },
      },
    },
  },
} as const

interface RawScenario {
  base_url?: string
  headers?: Record<string, string | number>
  requests: { name?: string; method?: string; path: string; weight?: number; headers?: Record<string, string | number>; body?: string; json?: unknown; expect?: number[] }[]
}

const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|AUTH/i

/** ${VAR} from env; values of secret-looking variables are registered with the masker. */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, secrets: SecretMasker, where: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name]
    if (v === undefined) throw new UsageError(`${where}: \${${name}} is not set in the environment`)
    if (SECRET_NAME.test(name)) secrets.add(v)
    return v
  })
}

export function loadScenario(file: string, o: { baseUrl?: string; env: NodeJS.ProcessEnv; secrets: SecretMasker }): Scenario {
  let raw: unknown
  try {
    raw = YAML.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new UsageError(`--scenario ${file}: ${(e as Error).message.split('\n')[0]}`)
  }
  const ajv = new Ajv({ allErrors: true, strict: false })
  const validate = ajv.compile(SCHEMA)
  if (!validate(raw)) {
    throw new ConfigError((validate.errors ?? []).map((e) => `${e.instancePath || '(top)'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : ''}`), `scenario ${file}`)
  }
  const s = raw as RawScenario
  const base = o.baseUrl ?? s.base_url
  if (!base) throw new UsageError(`--scenario ${file}: no base_url in the file and no URL or --base-url given`)
  let baseUrl: URL
  try { baseUrl = new URL(base) } catch { throw new UsageError(`--scenario ${file}: base URL "${base}" is not a URL`) }
  const exp = (t: string, where: string) => expandEnv(t, o.env, o.secrets, `${file}: ${where}`)
  const common = Object.entries(s.headers ?? {}).map(([k, v]): [string, string] => [k, exp(String(v), `header ${k}`)])
  const seen = new Set<string>()
  const requests = s.requests.map((r, i) => {
    const method = (r.method ?? (r.body !== undefined || r.json !== undefined ? 'POST' : 'GET')).toUpperCase()
    const name = r.name ?? `${method} ${r.path}`
    if (seen.has(name)) throw new UsageError(`${file}: two requests named "${name}": give them distinct names`)
    seen.add(name)
    const url = new URL(baseUrl.pathname.replace(/\/$/, '') + r.path, baseUrl)
    const headers: [string, string][] = [...common, ...Object.entries(r.headers ?? {}).map(([k, v]): [string, string] => [k, exp(String(v), `request ${i + 1} header ${k}`)])]
    let body: Buffer | undefined
    if (r.json !== undefined) {
      body = Buffer.from(exp(JSON.stringify(r.json), `request ${i + 1} json`))
      if (!headers.some(([k]) => k.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/json'])
    } else if (r.body !== undefined) {
      body = Buffer.from(exp(r.body, `request ${i + 1} body`))
    }
    return { name, method, url, headers, body, weight: r.weight ?? 1, expect: r.expect ?? null }
  })
  return { baseUrl, requests }
}
