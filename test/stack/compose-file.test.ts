// The compose file as two real parsers see it: the compose-spec JSON schema (ajv) and
// docker-compose v1.29 `config`, with a test .env.
import { describe, it, expect, beforeAll } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { loadCompose, parseCompose, activeServices, type ComposeDoc } from '../../scripts/lib/stack/env.ts'
import { parseMount } from '../../scripts/lib/stack/compose-policy.ts'
import { COMPOSE_FILE, ROOT } from '../../scripts/lib/core/paths.ts'
import { GENERATED_DIR, writeMonitoringConfig } from '../../scripts/lib/monitoring/config.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { FIXTURES, TEST_ENV_FILE, requireTool, testEnv } from './tools.ts'

const run = promisify(execFile)

const SERVICES = ['openwebui', 'lightllm', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server',
  'postgres', 'redis', 'qdrant', 'neo4j', 'nginx', 'prometheus', 'alertmanager', 'grafana', 'node-exporter',
  'postgres-exporter', 'redis-exporter', 'nginx-exporter', 'celery-exporter', 'blackbox-exporter', 'otel-collector', 'pgbouncer']

function schemaValidator() {
  const schema = JSON.parse(readFileSync(join(import.meta.dirname, 'schema', 'compose-spec.schema.json'), 'utf8'))
  // The vendored copy names its meta-schema by an https URL ajv does not register; it is draft-07.
  const ajv = new Ajv({ allErrors: true, strict: false })
  return ajv.compile({ ...schema, $schema: 'http://json-schema.org/draft-07/schema#' })
}

async function composeV1(args: string[], env: Record<string, string> = {}) {
  const bin = requireTool('docker-compose')
  try {
    const r = await run(bin, args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    return { code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

describe('compose file: the compose-spec schema', () => {
  const validate = schemaValidator()

  it('accepts the file, interpolated with a complete .env and as written', () => {
    const c = loadCompose(testEnv())
    expect(validate(c.doc), JSON.stringify(validate.errors, null, 2)).toBe(true)
    expect(validate(c.raw), JSON.stringify(validate.errors, null, 2)).toBe(true)
  })

  it('declares exactly the services of the shared contract', () => {
    expect(Object.keys(loadCompose(testEnv()).doc.services).sort()).toEqual([...SERVICES].sort())
  })

  it('rejects a misspelled key and a wrong type (the checker can fail)', () => {
    const doc = structuredClone(loadCompose(testEnv()).doc) as ComposeDoc
    ;(doc.services.redis as Record<string, unknown>).helthcheck = { test: ['CMD', 'true'] }
    ;(doc.services.nginx as Record<string, unknown>).ports = 8443
    expect(validate(doc)).toBe(false)
    const messages = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)
    expect(messages.join('\n')).toContain('helthcheck')
    expect(messages.join('\n')).toContain('/services/nginx/ports must be array')
  })

  it('names every missing required variable at once', () => {
    const env = testEnv()
    delete env.POSTGRES_PASSWORD
    delete env.DOMAIN
    expect(() => loadCompose(env)).toThrow(/POSTGRES_PASSWORD: set POSTGRES_PASSWORD in \.env[\s\S]*DOMAIN: set DOMAIN in \.env|DOMAIN: set DOMAIN in \.env[\s\S]*POSTGRES_PASSWORD/)
  })
})

describe('compose file: docker-compose v1.29 config as a second parser', () => {
  let withGpu: ComposeDoc
  let withoutGpu: ComposeDoc

  beforeAll(async () => {
    const [a, b] = await Promise.all([
      composeV1(['--env-file', TEST_ENV_FILE, '-f', COMPOSE_FILE, '--profile', 'lightllm', 'config']),
      composeV1(['--env-file', TEST_ENV_FILE, '-f', COMPOSE_FILE, 'config']),
    ])
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    withGpu = parse(a.stdout) as ComposeDoc
    withoutGpu = parse(b.stdout) as ComposeDoc
  })

  it('parses the file; LightLLM and PgBouncer sit behind their profiles', () => {
    expect(Object.keys(withGpu.services).sort()).toEqual([...SERVICES].sort())
    // v1 `config` prints every service with its profiles; `up` then starts the active ones.
    const profiled = Object.entries(withoutGpu.services).filter(([, s]) => s.profiles?.length).map(([n, s]) => [n, s.profiles])
    expect(profiled).toEqual([['lightllm', ['lightllm']], ['pgbouncer', ['pgbouncer']]])
    const doc = loadCompose(testEnv()).doc
    expect(activeServices(doc, [])).not.toContain('lightllm')
    expect(activeServices(doc, [])).not.toContain('pgbouncer')
    expect(activeServices(doc, ['lightllm', 'pgbouncer']).sort()).toEqual([...SERVICES].sort())
  })

  it('reserves the GPUs, shared memory and a model cache volume for LightLLM', () => {
    const llm = withGpu.services.lightllm as Record<string, any>
    expect(llm.deploy.resources.reservations.devices).toEqual([{ driver: 'nvidia', count: '1', capabilities: ['gpu'] }])
    expect(llm.shm_size).toBe('16g')
    expect(llm.volumes.some((v: unknown) => parseMount(v).source === 'lightllm_cache')).toBe(true)
  })

  it('points Open WebUI at LightLLM by default and at OPENAI_API_BASE_URL when set', async () => {
    expect((withoutGpu.services.openwebui as any).environment.OPENAI_API_BASE_URL).toBe('http://lightllm:8000/v1')
    const r = await composeV1(['--env-file', TEST_ENV_FILE, '-f', COMPOSE_FILE, 'config'], { OPENAI_API_BASE_URL: 'https://llm.example.net/v1' })
    expect(r.code, r.stderr).toBe(0)
    expect((parse(r.stdout) as any).services.openwebui.environment.OPENAI_API_BASE_URL).toBe('https://llm.example.net/v1')
  })

  it('agrees with the kit\'s own interpolation on every environment value', () => {
    const ours = loadCompose(testEnv()).doc
    for (const [name, svc] of Object.entries(withGpu.services)) {
      const theirs = (svc as any).environment ?? {}
      const mine = Object.fromEntries(Object.entries((ours.services[name] as any).environment ?? {}).map(([k, v]) => [k, String(v)]))
      expect(Object.fromEntries(Object.entries(theirs).map(([k, v]) => [k, String(v)])), name).toEqual(mine)
    }
  })

  it('mounts repository files that exist, resolved from compose/', () => {
    const generated = /\/compose\/(\.generated|nginx\/certs)\/|\/models$/ // rendered or made at deploy time
    const missing: string[] = []
    for (const [name, svc] of Object.entries(withGpu.services)) {
      for (const v of ((svc as any).volumes ?? []) as unknown[]) {
        const m = parseMount(v)
        if (m.type !== 'bind' || !m.source!.startsWith(ROOT) || generated.test(m.source!)) continue
        if (!existsSync(m.source!)) missing.push(`${name}: ${relative(ROOT, m.source!)}`)
      }
    }
    expect(missing).toEqual([])
    const nginx = (withGpu.services.nginx as any).volumes.map((v: unknown) => parseMount(v).source)
    expect(nginx).toContain(join(ROOT, 'compose', 'nginx', 'certs', 'tls.crt'))
    expect(nginx).toContain(join(ROOT, 'compose', 'nginx', 'templates'))
  })

  it('mounts from compose/.generated exactly what the deploy renders there', () => {
    expect(GENERATED_DIR).toBe(join(ROOT, 'compose', '.generated'))
    const mounted = Object.values(withGpu.services).flatMap((s) => ((s as any).volumes ?? []).map((v: unknown) => parseMount(v).source!))
      .filter((src: string) => src.startsWith(`${GENERATED_DIR}/`)).map((src: string) => relative(GENERATED_DIR, src)).sort()
    // nginx: the switch directory of blue-green upgrades, one per compose project (the deploy
    // creates it, the kit writes switch.conf): a drill's or a second stack's NGINX never sees it
    expect(mounted).toEqual(['alertmanager.yml', 'nginx/owp', 'prometheus.yml', 'textfile'])
    const tmp = tmpDir()
    try {
      const written = writeMonitoringConfig(testCtx(), testEnv(), tmp.path).map((w) => relative(tmp.path, w.path)).sort()
      expect(written).toEqual(['alertmanager.yml', 'prometheus.yml'])
      // The Prometheus config compose runs carries the credentials file the prometheus entrypoint writes.
      expect(readFileSync(join(tmp.path, 'prometheus.yml'), 'utf8')).toContain('/run/secrets/qdrant_api_key')
    } finally {
      tmp.remove()
    }
  })

  it('stops with the compose file\'s own message when a required variable is missing', async () => {
    const tmp = tmpDir()
    try {
      const envFile = join(tmp.path, 'partial.env')
      writeFileSync(envFile, readFileSync(TEST_ENV_FILE, 'utf8').replace(/^POSTGRES_PASSWORD=.*$/m, ''))
      const r = await composeV1(['--env-file', envFile, '-f', COMPOSE_FILE, 'config'])
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain('set POSTGRES_PASSWORD in .env')
    } finally {
      tmp.remove()
    }
  })

  it('rejects a compose file with a misspelled key (the parser can fail)', async () => {
    const tmp = tmpDir()
    try {
      const file = join(tmp.path, 'docker-compose.yml')
      writeFileSync(file, readFileSync(COMPOSE_FILE, 'utf8').replace('    read_only: true\n', '    readonly: true\n'))
      const r = await composeV1(['--env-file', TEST_ENV_FILE, '-f', file, 'config'])
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(/readonly/)
    } finally {
      tmp.remove()
    }
  })
})

describe('compose file: YAML', () => {
  it('parses with merge keys the way compose does', () => {
    const doc = parseCompose(readFileSync(COMPOSE_FILE, 'utf8'))
    expect(doc.services.postgres!.restart).toBe('unless-stopped')
    expect(readFileSync(join(FIXTURES, 'test.env'), 'utf8')).toContain('DOMAIN=')
  })
})
