// The OpenTelemetry collector config: what Open WebUI sends reaches the endpoint Prometheus scrapes.
import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { loadCompose } from '../../scripts/lib/stack/env.ts'
import { testEnv } from './tools.ts'

type Pipeline = { receivers: string[]; processors?: string[]; exporters: string[] }
const config = parse(readFileSync(join(ROOT, 'config', 'otel', 'collector.yaml'), 'utf8')) as {
  receivers: Record<string, any>; processors: Record<string, any>; exporters: Record<string, any>; extensions: Record<string, any>
  service: { extensions: string[]; pipelines: Record<string, Pipeline> }
}

describe('otel collector config', () => {
  it('every pipeline component is defined, and every defined one is used', () => {
    const used = { receivers: new Set<string>(), processors: new Set<string>(), exporters: new Set<string>() }
    for (const p of Object.values(config.service.pipelines)) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) for (const n of p[kind] ?? []) {
        expect(config[kind], `${kind}.${n}`).toHaveProperty([n])
        used[kind].add(n)
      }
    }
    for (const kind of ['receivers', 'processors', 'exporters'] as const) expect([...used[kind]].sort()).toEqual(Object.keys(config[kind]).sort())
    for (const e of config.service.extensions) expect(config.extensions).toHaveProperty([e])
  })

  it('receives OTLP metrics on 4317/4318 and serves them for Prometheus on 8889, reachable from other containers', () => {
    expect(config.service.pipelines.metrics).toMatchObject({ receivers: ['otlp'], exporters: ['prometheus'] })
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317')
    expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318')
    expect(config.exporters.prometheus.endpoint).toBe('0.0.0.0:8889')
    const prom = readFileSync(join(ROOT, 'config', 'prometheus', 'prometheus.prod.yml'), 'utf8')
    expect(prom).toContain("otel-collector:8889")
  })

  it('Open WebUI in compose exports its metrics to the collector', () => {
    const env = loadCompose(testEnv()).doc.services.openwebui!.environment as Record<string, string>
    expect(env).toMatchObject({ ENABLE_OTEL: 'true', ENABLE_OTEL_METRICS: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4317' })
  })
})
