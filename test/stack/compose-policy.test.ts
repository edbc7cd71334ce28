// The house rules of the compose stack (scripts/lib/stack/compose-policy.ts) and the .env contract.
import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import dotenv from 'dotenv'
import { loadCompose, parseCompose, composeEnvironment, interpolate, variableRefs } from '../../scripts/lib/stack/env.ts'
import { checkComposePolicy, checkEnvContract, referencedNames, WAIVABLE } from '../../scripts/lib/stack/compose-policy.ts'
import { loadConfig, readSchema } from '../../scripts/lib/core/config.ts'
import { ENV_EXAMPLE, ROOT } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { FIXTURES, testEnv } from './tools.ts'

describe('compose policy', () => {
  it('the production file keeps every rule', () => {
    expect(checkComposePolicy(loadCompose(testEnv()).doc)).toEqual([])
  })

  it('rejects the broken fixture, naming each service and rule', () => {
    const problems = checkComposePolicy(parseCompose(readFileSync(join(FIXTURES, 'docker-compose.broken.yml'), 'utf8')))
    const got = problems.map((p) => `${p.rule} ${p.message}`)
    const expected = [
      /^image postgres: image postgres:latest is not pinned/,
      /^healthcheck postgres: has no healthcheck/,
      /^restart postgres: restart policy is no/,
      /^resources postgres: deploy.resources.limits.cpus is missing/,
      /^logging postgres: logs are not rotated/,
      /^no-new-privileges postgres:/,
      /^cap_drop postgres:/,
      /^read_only postgres:/,
      /^user postgres: runs as the image default user/,
      /^ports postgres: is a data store and publishes a host port/,
      /^volumes postgres: bind-mounts \.\/pgdata writable/,
      /^volumes postgres: has an anonymous volume at \/var\/lib\/anonymous/,
      /^networks postgres: is on no declared network/,
      /^waiver webapp: x-waivers.read_only needs the reason in words/,
      /^waiver webapp: x-waivers.ports is not a waivable rule/,
      /^image webapp: image example\/webapp:15 is not pinned/,
      /^privileged webapp: runs privileged/,
      /^user webapp: runs as user root/,
      /^ports webapp: publishes host ports; only nginx may/,
      /^depends_on webapp: depends_on is a list/,
      /^volumes webapp: mounts volume undeclared, which is not declared/,
      /^networks webapp: is on network elsewhere, which is not declared/,
      /^logging webapp:/,
      /^resources webapp: cpu reservation 2 exceeds the limit 1/,
      /^resources webapp: memory reservation 1G exceeds the limit 256M/,
      /^waiver worker: x-waivers.cap_drop waives a rule the service already keeps/,
      /^networks worker: uses network_mode host/,
      /^depends_on worker: depends on webapp with condition service_started/,
      /^depends_on worker: depends on cache, which is not a service/,
    ]
    for (const re of expected) expect(got.some((g) => re.test(g)), `${re} in\n${got.join('\n')}`).toBe(true)
  })

  it('keeps waivers few, explained, and only where an image cannot comply', () => {
    const doc = loadCompose(testEnv()).doc
    const waivers = Object.fromEntries(Object.entries(doc.services)
      .filter(([, s]) => s['x-waivers'])
      .map(([n, s]) => [n, Object.keys(s['x-waivers'] as object).sort()]))
    expect(waivers).toEqual({
      openwebui: ['user'],
      lightllm: ['read_only', 'user'],
      qdrant: ['user'],
      neo4j: ['read_only'],
      // scratch images: nothing inside to run a check with
      'redis-exporter': ['healthcheck'],
      'nginx-exporter': ['healthcheck'],
      'otel-collector': ['healthcheck'],
    })
    for (const s of Object.values(doc.services)) for (const k of Object.keys((s['x-waivers'] ?? {}) as object)) expect(WAIVABLE).toContain(k)
  })

  it('publishes only the NGINX ports, from HTTP_PORT and HTTPS_PORT', () => {
    const doc = loadCompose({ ...testEnv(), HTTP_PORT: '8081', HTTPS_PORT: '8443' }).doc
    const publishing = Object.entries(doc.services).filter(([, s]) => (s.ports as unknown[] | undefined)?.length)
    expect(publishing.map(([n, s]) => [n, s.ports])).toEqual([['nginx', ['8081:8080', '8443:8443']]])
  })

  it('puts the two networks on the configured subnets', () => {
    const doc = loadCompose({ ...testEnv(), APP_SUBNET: '10.30.0.0/16', MONITORING_SUBNET: '10.31.0.0/16' }).doc
    expect(doc.networks).toMatchObject({
      app: { ipam: { config: [{ subnet: '10.30.0.0/16' }] } },
      monitoring: { ipam: { config: [{ subnet: '10.31.0.0/16' }] } },
    })
    expect((doc.services.nginx!.environment as Record<string, string>).NGINX_STATUS_ALLOW).toBe('10.31.0.0/16')
  })

  it('passes Prometheus its retention from PROMETHEUS_RETENTION_TIME and _SIZE', () => {
    const doc = loadCompose({ ...testEnv(), PROMETHEUS_RETENTION_TIME: '15d', PROMETHEUS_RETENTION_SIZE: '5GB' }).doc
    expect(doc.services.prometheus!.command).toEqual(expect.arrayContaining(['--storage.tsdb.retention.time=15d', '--storage.tsdb.retention.size=5GB']))
  })
})

describe('the .env contract', () => {
  const schema = readSchema()
  const example = new Set(Object.keys(dotenv.parse(readFileSync(ENV_EXAMPLE))))
  const refs = loadCompose(testEnv()).refs

  it('every variable the compose file uses is declared, and every declared one is used', () => {
    const declared = new Set([...Object.keys(schema.properties), ...example])
    const elsewhere = referencedNames(declared, ['scripts', 'config', 'docker', 'helm'].map((d) => join(ROOT, d)), {
      base: ROOT,
      skip: (p) => p === 'config/env.schema.json',
    })
    expect(checkEnvContract(refs, { schema: new Set(Object.keys(schema.properties)), example }, elsewhere).map((p) => p.message)).toEqual([])
  })

  it('the checker reports undeclared, unlisted and unused variables (it can fail)', () => {
    const problems = checkEnvContract(
      [...variableRefs('${DOMAIN} ${NOT_DECLARED:-x} ${NOT_DECLARED:-y}')],
      { schema: new Set(['DOMAIN', 'ONLY_IN_SCHEMA', 'UNUSED']), example: new Set(['DOMAIN', 'UNUSED']) },
      new Set(),
    ).map((p) => p.message)
    expect(problems).toEqual([
      'compose uses ${NOT_DECLARED}, which config/env.schema.json does not declare',
      'compose uses ${NOT_DECLARED}, which .env.example does not list',
      'ONLY_IN_SCHEMA is in config/env.schema.json but not in .env.example',
      'ONLY_IN_SCHEMA is declared but used by neither the compose file nor any script or config',
      'UNUSED is declared but used by neither the compose file nor any script or config',
      '${NOT_DECLARED} has different defaults in the compose file: x | y',
    ])
  })

  it('a config that passes validation, plus composeEnvironment, satisfies every variable compose requires', () => {
    // What compose insists on (${VAR:?...}) must come from the schema (required or a default) or
    // from composeEnvironment.
    const requiredByCompose = [...new Set(refs.filter((r) => r.required).map((r) => r.name))]
    const derived = ['PUBLIC_URL']
    const gap = requiredByCompose.filter((n) => !(schema.required ?? []).includes(n) && schema.properties[n]?.default === undefined && !derived.includes(n))
    expect(gap).toEqual([])

    const given = Object.fromEntries([...(schema.required ?? []), ...gap].map((n) => [n, testEnv()[n]!]))
    const cfg = loadConfig(testCtx({ env: { PATH: process.env.PATH, ...given } }), { envFile: '/dev/null', production: false })
    const composeEnv = composeEnvironment(cfg.env)
    expect(composeEnv.PUBLIC_URL).toBe('https://chat.test')
    expect(composeEnv.COMPOSE_PROFILES).toBe('lightllm')
    expect(() => loadCompose(composeEnv)).not.toThrow()
  })
})

describe('compose interpolation', () => {
  it('follows compose: $$ escapes, defaults, errors, alternatives', () => {
    const env = { SET: 'v', EMPTY: '' }
    const errors: string[] = []
    expect(interpolate('$$HOME ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}', env, errors)).toBe('$HOME v v d d  d')
    expect(interpolate('${SET:+alt} ${EMPTY:+alt}|${EMPTY+alt}', env, errors)).toBe('alt |alt')
    expect(interpolate('${EMPTY:?needs a value}${UNSET?gone}${EMPTY?fine}', env, errors)).toBe('')
    expect(errors).toEqual(['EMPTY: needs a value', 'UNSET: gone'])
  })

  it('lists the variables a value refers to, not $$ escapes', () => {
    expect(variableRefs('$$X ${A:?m} ${B:-d} $C')).toEqual([
      { name: 'A', required: true, fallback: undefined },
      { name: 'B', required: false, fallback: 'd' },
      { name: 'C', required: false, fallback: undefined },
    ])
  })
})

describe('composeEnvironment: what a deploy adds for compose', () => {
  it('derives PUBLIC_URL from DOMAIN and a non-default HTTPS port, without a trailing slash', () => {
    expect(composeEnvironment({ DOMAIN: 'a.test', HTTPS_PORT: '443' }).PUBLIC_URL).toBe('https://a.test')
    expect(composeEnvironment({ DOMAIN: 'a.test', HTTPS_PORT: '8443' }).PUBLIC_URL).toBe('https://a.test:8443')
    expect(composeEnvironment({ DOMAIN: 'a.test', PUBLIC_URL: 'https://ui.a.test/' }).PUBLIC_URL).toBe('https://ui.a.test')
  })

  it('turns LIGHTLLM_ENABLED into the lightllm profile and keeps other profiles', () => {
    expect(composeEnvironment({ LIGHTLLM_ENABLED: 'true' }).COMPOSE_PROFILES).toBe('lightllm')
    expect(composeEnvironment({ LIGHTLLM_ENABLED: 'false' }).COMPOSE_PROFILES).toBeUndefined()
    expect(composeEnvironment({ LIGHTLLM_ENABLED: 'false', COMPOSE_PROFILES: 'debug,lightllm' }).COMPOSE_PROFILES).toBe('debug')
    expect(composeEnvironment({}).COMPOSE_PROJECT_NAME).toBe('owp')
  })
})
