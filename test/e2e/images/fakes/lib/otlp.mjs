// OTLP/HTTP JSON, the subset the e2e fakes need: Open WebUI's push (http.server.requests and
// http.server.duration, as open_webui/utils/telemetry/metrics.py defines them) and the
// collector's conversion of what it received into Prometheus series.
import { request } from 'node:http'
import { log } from './common.mjs'

export const DURATION_BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]

/** http://host:4317 (gRPC) -> http://host:4318/v1/metrics: the fakes speak OTLP/HTTP JSON only. */
export function otlpHttpMetricsUrl(endpoint) {
  const u = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`)
  if (u.port === '4317' || u.port === '') u.port = '4318'
  u.protocol = 'http:'
  if (!u.pathname.endsWith('/v1/metrics')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/metrics`
  return u.toString()
}

const attr = (key, v) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: String(v) } })

export function metricsPayload(serviceName, points, startNs, activeUsers = 0) {
  const now = String(BigInt(Date.now()) * 1_000_000n)
  const attrs = (p) => [attr('http.method', p.method), attr('http.route', p.route), attr('http.status_code', p.status)]
  return {
    resourceMetrics: [{
      resource: { attributes: [attr('service.name', serviceName)] },
      scopeMetrics: [{
        scope: { name: 'open_webui.utils.telemetry.metrics' },
        metrics: [
          { name: 'http.server.requests', description: 'Total HTTP requests', unit: '1',
            sum: { aggregationTemporality: 2, isMonotonic: true,
              dataPoints: points.map((p) => ({ attributes: attrs(p), startTimeUnixNano: startNs, timeUnixNano: now, asInt: String(p.count) })) } },
          { name: 'http.server.duration', description: 'HTTP request duration', unit: 'ms',
            histogram: { aggregationTemporality: 2,
              dataPoints: points.map((p) => ({ attributes: attrs(p), startTimeUnixNano: startNs, timeUnixNano: now,
                count: String(p.count), sum: p.sumMs, explicitBounds: DURATION_BOUNDS, bucketCounts: p.buckets.map(String) })) } },
          { name: 'webui.users.active', description: 'Number of currently active users', unit: 'users',
            gauge: { dataPoints: [{ timeUnixNano: now, asInt: String(activeUsers) }] } },
        ],
      }],
    }],
  }
}

/** Push every interval when ENABLE_OTEL(_METRICS) is on; returns the stop function. */
export function pushMetrics(service, env, getPoints, getActiveUsers = () => 0) {
  const endpoint = env.OTEL_METRICS_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT
  const enabled = env.ENABLE_OTEL === 'true' || env.ENABLE_OTEL_METRICS === 'true'
  if (!endpoint || !enabled) return () => {}
  const url = otlpHttpMetricsUrl(endpoint)
  const serviceName = env.OTEL_SERVICE_NAME || 'open-webui'
  const startNs = String(BigInt(Date.now()) * 1_000_000n)
  let warned = false
  const push = () => {
    const body = JSON.stringify(metricsPayload(serviceName, getPoints(), startNs, getActiveUsers()))
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      if (res.statusCode !== 200 && !warned) { warned = true; log(service, `OTLP push to ${url}: HTTP ${res.statusCode}`) }
    })
    req.on('error', (e) => { if (!warned) { warned = true; log(service, `OTLP push to ${url} failed: ${e.message}`) } })
    req.end(body)
  }
  const timer = setInterval(push, Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 10_000))
  timer.unref()
  log(service, `pushing OTLP metrics to ${url}`)
  return () => clearInterval(timer)
}

const UNIT_SUFFIX = { ms: 'milliseconds', s: 'seconds', By: 'bytes', '1': '' }

/** Prometheus name as the collector's prometheus exporter builds it (namespace, unit, _total). */
export function promName(name, unit, monotonic, namespace) {
  let n = name.replace(/[^a-zA-Z0-9_]/g, '_')
  const suffix = UNIT_SUFFIX[unit] ?? (unit && !unit.startsWith('{') ? unit.replace(/[^a-zA-Z0-9_]/g, '_') : '')
  // the collector's translator appends the unit unless the name already holds it as a word
  if (suffix && !n.split('_').includes(suffix)) n += `_${suffix}`
  if (monotonic && !n.endsWith('_total')) n += '_total'
  return namespace ? `${namespace}_${n}` : n
}

const labelName = (k) => k.replace(/[^a-zA-Z0-9_]/g, '_')
const value = (v) => v?.stringValue ?? v?.intValue ?? v?.doubleValue ?? v?.boolValue ?? ''
const esc = (s) => String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/** Keeps the latest cumulative point per series and renders them as Prometheus text. */
export class OtlpStore {
  constructor(namespace = '') { this.namespace = namespace; this.series = new Map(); this.points = 0 }
  ingest(payload) {
    for (const rm of payload.resourceMetrics ?? []) {
      const res = Object.fromEntries((rm.resource?.attributes ?? []).map((a) => [a.key, value(a.value)]))
      const job = [res['service.namespace'], res['service.name']].filter(Boolean).join('/') || 'unknown_service'
      const instance = res['service.instance.id'] ?? ''
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          const kind = m.sum ? 'sum' : m.gauge ? 'gauge' : m.histogram ? 'histogram' : null
          if (!kind) continue
          const monotonic = kind === 'sum' && m.sum.isMonotonic
          const name = promName(m.name, m.unit, monotonic, this.namespace)
          const type = kind === 'histogram' ? 'histogram' : monotonic ? 'counter' : 'gauge'
          for (const dp of m[kind].dataPoints ?? []) {
            const labels = { job, ...(instance ? { instance } : {}) }
            for (const a of dp.attributes ?? []) labels[labelName(a.key)] = value(a.value)
            const key = `${name}|${JSON.stringify(labels)}`
            this.series.set(key, { name, type, help: m.description ?? '', labels, dp })
            this.points++
          }
        }
      }
    }
  }
  render() {
    const byName = new Map()
    for (const s of this.series.values()) byName.set(s.name, [...(byName.get(s.name) ?? []), s])
    const out = []
    for (const [name, list] of byName) {
      out.push(`# HELP ${name} ${list[0].help}`, `# TYPE ${name} ${list[0].type}`)
      for (const s of list) {
        const l = (extra = {}) => `{${Object.entries({ ...s.labels, ...extra }).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`
        if (s.type !== 'histogram') { out.push(`${name}${l()} ${Number(s.dp.asInt ?? s.dp.asDouble ?? 0)}`); continue }
        const base = name
        let cum = 0
        ;(s.dp.explicitBounds ?? []).forEach((b, i) => { cum += Number(s.dp.bucketCounts?.[i] ?? 0); out.push(`${base}_bucket${l({ le: String(b) })} ${cum}`) })
        out.push(`${base}_bucket${l({ le: '+Inf' })} ${Number(s.dp.count ?? 0)}`, `${base}_sum${l()} ${Number(s.dp.sum ?? 0)}`, `${base}_count${l()} ${Number(s.dp.count ?? 0)}`)
      }
    }
    return out.length ? `${out.join('\n')}\n` : ''
  }
}
