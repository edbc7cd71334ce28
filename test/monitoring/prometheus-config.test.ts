import { describe, it, expect, afterAll } from 'vitest'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { PROMETHEUS_CONFIG, renderPrometheusConfig, writeMonitoringConfig } from '../../scripts/lib/monitoring/config.ts'
import { blackboxCheckConfig, localPrometheusConfig, promtoolCheckConfig } from '../../scripts/lib/monitoring/promtool.ts'
import { blackboxProblems } from '../../scripts/lib/monitoring/lint.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'

const FIX = join(import.meta.dirname, 'fixtures', 'prometheus')
interface Job { job_name: string; static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>; params?: { module?: string[] } }
const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as { global: { external_labels: object }; alerting: unknown; rule_files: string[]; scrape_configs: Job[] }
const jobs = config.scrape_configs.map((j) => j.job_name)
const tmp = tmpDir('owp-promcfg-')
afterAll(() => tmp.remove())

describe('prometheus.prod.yml', () => {
  it('scrapes every part of the platform (job names are the contract the rules match on)', () => {
    expect(jobs).toEqual([
      'prometheus', 'alertmanager', 'grafana', 'node-exporter', 'blackbox-exporter', 'openwebui', 'lightllm',
      'graphrag-processor', 'mcp-server', 'celery-exporter', 'postgres', 'redis', 'nginx', 'qdrant', 'dcgm',
      'blackbox-http', 'blackbox-tcp', 'blackbox-tls',
    ])
    expect(jobs.length).toBeGreaterThanOrEqual(12)
  })

  it('reads Open WebUI through the OpenTelemetry collector and probes the health endpoints and Neo4j', () => {
    const job = (name: string) => config.scrape_configs.find((j) => j.job_name === name)!
    expect(job('openwebui').static_configs![0]!.targets).toEqual(['otel-collector:8889'])
    const probed = job('blackbox-http').static_configs!.map((s) => s.labels?.component)
    expect(probed).toEqual(expect.arrayContaining(['openwebui', 'lightllm', 'graphrag-processor', 'mcp-server', 'qdrant', 'neo4j', 'grafana']))
    expect(job('blackbox-tcp').static_configs![0]!.targets).toEqual(['neo4j:7687'])
  })

  it('sends alerts to Alertmanager, loads the rules from their mount, and labels its series', () => {
    expect(config.alerting).toEqual({ alertmanagers: [{ static_configs: [{ targets: ['alertmanager:9093'] }] }] })
    expect(config.rule_files).toEqual(['/etc/prometheus/rules/*.yml'])
    expect(config.global.external_labels).toEqual({ platform: 'openwebui', deployment: 'compose' })
  })

  it('is accepted by promtool check config, with every rule file loaded', async () => {
    const r = await promtoolCheckConfig(testCtx(), localPrometheusConfig(tmp.path))
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/)
    expect(r.ok, r.output).toBe(true)
  })

  it('promtool rejects a config with a misspelt field', async () => {
    const r = await promtoolCheckConfig(testCtx(), join(FIX, 'unknown-field.yml'))
    expect(r.ok).toBe(false)
    expect(r.output).toMatch(/field scrape_intervall not found/)
  })
})

describe('blackbox.yml', () => {
  it('is accepted by blackbox_exporter and defines every module a probe job uses', async () => {
    expect(await blackboxProblems(testCtx())).toEqual([])
  })

  it('flags a probe job whose module is missing', async () => {
    const problems = await blackboxProblems(testCtx(), join(FIX, 'blackbox-missing-module.yml'))
    expect(problems).toEqual([
      'job blackbox-tcp probes with module tcp_connect, which blackbox.yml does not define',
      'job blackbox-tls probes with module https_cert, which blackbox.yml does not define',
    ])
  })

  it('blackbox_exporter rejects a module with a misspelt field', async () => {
    const r = await blackboxCheckConfig(testCtx(), join(FIX, 'blackbox-misspelt-field.yml'))
    expect(r.ok).toBe(false)
    expect(r.output).toMatch(/htttp/)
  })
})

describe('the Prometheus config the deploy writes', () => {
  it('is prometheus.prod.yml itself while LightLLM is enabled', () => {
    expect(renderPrometheusConfig({ LIGHTLLM_ENABLED: 'true' })).toBe(readFileSync(PROMETHEUS_CONFIG, 'utf8'))
  })

  it('drops LightLLM\'s job and health probe when LIGHTLLM_ENABLED=false, and still passes promtool', async () => {
    const text = renderPrometheusConfig({ LIGHTLLM_ENABLED: 'false' })
    const rendered = parse(text) as typeof config
    expect(rendered.scrape_configs.map((j) => j.job_name)).toEqual(jobs.filter((j) => j !== 'lightllm'))
    expect(text).not.toContain('lightllm:8000')
    const file = join(tmp.path, 'no-llm.yml')
    writeFileSync(file, text)
    const dir = tmpDir('owp-promcfg-nollm-')
    try {
      const r = await promtoolCheckConfig(testCtx(), localPrometheusConfig(dir.path, file))
      expect(r.ok, r.output).toBe(true)
    } finally { dir.remove() }
  })

  it('writes alertmanager.yml and prometheus.yml, never printing a secret', () => {
    const ctx = testCtx()
    const dir = join(tmp.path, 'generated')
    const env = { LIGHTLLM_ENABLED: 'false', QDRANT_API_KEY: 'qdrant-key-0123456789abcdef0123456789', SLACK_WEBHOOK_URL: 'https://hooks.slack.example.test/services/T/B/hush-hush-token', SMTP_PASSWORD: 'smtp-password-xyz' }
    const written = writeMonitoringConfig(ctx, env, dir)
    expect(written.map((w) => w.path)).toEqual(['alertmanager.yml', 'prometheus.yml'].map((f) => join(dir, f)))
    expect(readFileSync(join(dir, 'prometheus.yml'), 'utf8')).not.toContain('job_name: lightllm')
    expect(readFileSync(join(dir, 'alertmanager.yml'), 'utf8')).toContain(env.SLACK_WEBHOOK_URL)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const said = ctx.stdout() + ctx.stderr()
    expect(said).toContain('alert channels: slack')
    for (const secret of [env.QDRANT_API_KEY, env.SLACK_WEBHOOK_URL, env.SMTP_PASSWORD]) expect(said).not.toContain(secret)
  })

  it('an empty directory Docker made at the bind-mount path is replaced by the file; one with files in it is refused by name', () => {
    const ctx = testCtx()
    const dir = join(tmp.path, 'generated-dirs')
    mkdirSync(join(dir, 'alertmanager.yml'), { recursive: true })
    mkdirSync(join(dir, 'prometheus.yml'), { recursive: true })
    writeMonitoringConfig(ctx, {}, dir)
    expect(statSync(join(dir, 'prometheus.yml')).isFile()).toBe(true)
    expect(ctx.stderr()).toMatch(/prometheus\.yml was an empty directory \(Docker creates one at a missing bind-mount path\)/)
    mkdirSync(join(tmp.path, 'kept', 'alertmanager.yml'), { recursive: true })
    writeFileSync(join(tmp.path, 'kept', 'alertmanager.yml', 'mine.yml'), 'x')
    expect(() => writeMonitoringConfig(testCtx(), {}, join(tmp.path, 'kept'))).toThrow(/alertmanager\.yml is a directory with files in it/)
  })

  it('under --dry-run prints what it would write and writes nothing', () => {
    const ctx = testCtx({ dryRun: true })
    const dir = join(tmp.path, 'dry')
    writeMonitoringConfig(ctx, { QDRANT_API_KEY: 'qdrant-key-0123456789abcdef0123456789' }, dir)
    expect(existsSync(dir)).toBe(false)
    expect(ctx.stdout()).toMatch(/\[dry-run\] write .*alertmanager\.yml \(alert channels: none\)/)
    expect(ctx.plan).toHaveLength(2)
  })
})
