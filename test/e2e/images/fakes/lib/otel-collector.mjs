// FAKE OpenTelemetry Collector (contrib): an OTLP/HTTP JSON receiver on 4318 (4317 accepts TCP
// only), the prometheus exporter on 8889 turning what it received into series, the
// health_check extension on 13133 and its own metrics on 8888. Reads the ports and the
// exporter's namespace from the mounted collector config.
import { readFileSync } from 'node:fs'
import { parseFlags, serve, json, text, readJson, listenTcp, log } from './common.mjs'
import { OtlpStore } from './otlp.mjs'

export const VERSION = '0.135.0'

/** A small indentation reader for the mapping part of a collector config (lists are skipped). */
export function readMappings(yamlText) {
  const root = {}
  const stack = [{ indent: -1, obj: root }]
  for (const raw of yamlText.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '')
    const m = /^(\s*)([\w./-]+):\s*(.*)$/.exec(line)
    if (!m || line.trimStart().startsWith('-')) continue
    const indent = m[1].length
    while (stack.length > 1 && stack[stack.length - 1].indent >= indent) stack.pop()
    const parent = stack[stack.length - 1].obj
    const val = m[3].trim().replace(/^["']|["']$/g, '')
    if (val === '') { parent[m[2]] = {}; stack.push({ indent, obj: parent[m[2]] }) } else parent[m[2]] = val
  }
  return root
}

const portOf = (endpoint, fallback) => Number(/:(\d+)$/.exec(String(endpoint ?? ''))?.[1] ?? fallback)

export function collectorSettings(configText) {
  const c = readMappings(configText ?? '')
  const prom = c.exporters?.prometheus ?? {}
  const otlp = c.receivers?.otlp?.protocols ?? {}
  return {
    promPort: portOf(prom.endpoint, 8889),
    namespace: typeof prom.namespace === 'string' ? prom.namespace : '',
    httpPort: portOf(otlp.http?.endpoint, 4318),
    grpcPort: portOf(otlp.grpc?.endpoint, 4317),
    healthPort: portOf(c.extensions?.health_check?.endpoint, 13133),
  }
}

export function start(argv, env = process.env) {
  if (argv.includes('--version') || argv[0] === 'version') {
    process.stdout.write(`otelcol-contrib version ${VERSION} (owp e2e fake)\n`)
    return { servers: [], exitCode: 0 }
  }
  const flags = parseFlags(argv)
  const configArg = String(flags.config ?? env.OTELCOL_CONFIG ?? '/etc/otelcol-contrib/config.yaml').replace(/^file:/, '')
  let configText = ''
  try { configText = readFileSync(configArg, 'utf8') } catch { log('otel-collector', `no config at ${configArg}: defaults`) }
  if (argv[0] === 'validate') return { servers: [], exitCode: 0 }
  const s = collectorSettings(configText)
  const store = new OtlpStore(s.namespace)
  const started = Date.now()
  let accepted = 0
  let refused = 0
  const self = () => [
    '# HELP otelcol_receiver_accepted_metric_points_total Number of metric points successfully pushed into the pipeline.',
    '# TYPE otelcol_receiver_accepted_metric_points_total counter',
    `otelcol_receiver_accepted_metric_points_total{receiver="otlp",transport="http"} ${accepted}`,
    '# HELP otelcol_receiver_refused_metric_points_total Number of metric points that could not be pushed into the pipeline.',
    '# TYPE otelcol_receiver_refused_metric_points_total counter',
    `otelcol_receiver_refused_metric_points_total{receiver="otlp",transport="http"} ${refused}`,
    '# HELP otelcol_process_uptime_seconds_total Uptime of the process', '# TYPE otelcol_process_uptime_seconds_total counter',
    `otelcol_process_uptime_seconds_total ${(Date.now() - started) / 1000}`, '',
  ].join('\n')
  const receiver = serve('otel-collector', s.httpPort, async (req, res, url) => {
    if (req.method !== 'POST') return false
    if (url.pathname === '/v1/metrics') {
      if (!String(req.headers['content-type']).includes('json')) {
        refused++
        return json(res, 415, { code: 3, message: 'the e2e fake collector accepts OTLP/HTTP JSON only' })
      }
      const before = store.points
      try { store.ingest(await readJson(req)) } catch (e) { refused++; throw e }
      accepted += store.points - before
      return json(res, 200, {})
    }
    if (url.pathname === '/v1/traces' || url.pathname === '/v1/logs') { await readJson(req).catch(() => ({})); return json(res, 200, {}) }
    return false
  })
  const exporter = serve('otel-collector', s.promPort, async (req, res, url) => {
    if (url.pathname !== '/metrics') return false
    return text(res, 200, store.render(), 'text/plain; version=0.0.4; charset=utf-8')
  })
  const telemetry = serve('otel-collector', 8888, async (req, res, url) => {
    if (url.pathname !== '/metrics') return false
    return text(res, 200, self(), 'text/plain; version=0.0.4; charset=utf-8')
  })
  const health = serve('otel-collector', s.healthPort, async (req, res) => {
    const up = new Date(started).toISOString()
    return json(res, 200, { status: 'Server available', upSince: up, uptime: `${((Date.now() - started) / 1000).toFixed(1)}s` })
  })
  log('otel-collector', `FAKE collector: OTLP/HTTP :${s.httpPort}, prometheus :${s.promPort}${s.namespace ? ` (namespace ${s.namespace})` : ''}`)
  return [receiver, exporter, telemetry, health, listenTcp('otel-collector', s.grpcPort)]
}
