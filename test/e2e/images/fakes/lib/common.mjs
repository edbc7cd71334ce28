// Shared bits of the e2e FAKES (stand-ins for images that cannot be pulled here): plain Node,
// no npm dependencies, so the image needs only the node binary.
import { createServer } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { appendFileSync } from 'node:fs'

export const FAKE_BANNER = 'owp-e2e fake'

/** --flag value / --flag=value pairs of argv into a map (last one wins). */
export function parseFlags(argv) {
  const flags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('-')) continue
    const name = a.replace(/^-+/, '')
    const eq = name.indexOf('=')
    if (eq >= 0) { flags[name.slice(0, eq)] = name.slice(eq + 1); continue }
    const next = argv[i + 1]
    if (next !== undefined && !next.startsWith('-')) { flags[name] = next; i++ } else flags[name] = true
  }
  return flags
}

// A test run sends the fakes' lines to a file (OWP_FAKE_LOG), printed only when a test fails; in a
// container they go to stdout/stderr like any server's.
function emit(stream, line) {
  const file = process.env.OWP_FAKE_LOG
  if (file) { try { appendFileSync(file, line); return } catch { /* fall back to the stream */ } }
  stream.write(line)
}

export function log(service, msg) {
  emit(process.stdout, `${new Date().toISOString()} [${FAKE_BANNER} ${service}] ${msg}\n`)
}

/** A diagnostic of a fake run in-process or as a CLI (stderr, or the test run's log file). */
export function diag(msg) {
  emit(process.stderr, `${msg}\n`)
}

export function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export function text(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

export async function readBody(req, limit = 64 * 1024 * 1024) {
  const chunks = []
  let size = 0
  for await (const c of req) {
    size += c.length
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 })
    chunks.push(c)
  }
  return Buffer.concat(chunks)
}

export async function readJson(req) {
  const body = await readBody(req)
  if (body.length === 0) return {}
  try { return JSON.parse(body.toString('utf8')) } catch { throw Object.assign(new Error('invalid JSON body'), { status: 400 }) }
}

/**
 * Prometheus text exposition: counters, gauges and histograms with labels, the way
 * prometheus_client renders them (counters get _total, histograms _bucket/_sum/_count).
 */
export class Registry {
  constructor() { this.metrics = new Map() }
  #get(name, type, help, buckets) {
    let m = this.metrics.get(name)
    if (!m) { m = { name, type, help, buckets, series: new Map() }; this.metrics.set(name, m) }
    return m
  }
  counter(name, help) {
    const m = this.#get(name, 'counter', help)
    return { inc: (labels = {}, by = 1) => { const k = key(labels); m.series.set(k, (m.series.get(k) ?? 0) + by) }, touch: (labels = {}) => { const k = key(labels); if (!m.series.has(k)) m.series.set(k, 0) } }
  }
  gauge(name, help) {
    const m = this.#get(name, 'gauge', help)
    return { set: (v, labels = {}) => m.series.set(key(labels), v), inc: (labels = {}, by = 1) => { const k = key(labels); m.series.set(k, (m.series.get(k) ?? 0) + by) } }
  }
  histogram(name, help, buckets) {
    const m = this.#get(name, 'histogram', help, buckets)
    return {
      observe: (v, labels = {}) => {
        const k = key(labels)
        let s = m.series.get(k)
        if (!s) { s = { counts: buckets.map(() => 0), sum: 0, count: 0 }; m.series.set(k, s) }
        buckets.forEach((b, i) => { if (v <= b) s.counts[i]++ })
        s.sum += v
        s.count++
      },
      touch: (labels = {}) => { const k = key(labels); if (!m.series.has(k)) m.series.set(k, { counts: buckets.map(() => 0), sum: 0, count: 0 }) },
    }
  }
  render() {
    const out = []
    for (const m of this.metrics.values()) {
      const base = m.type === 'counter' ? `${m.name}_total` : m.name
      out.push(`# HELP ${base} ${m.help}`, `# TYPE ${base} ${m.type}`)
      for (const [k, v] of m.series) {
        if (m.type !== 'histogram') { out.push(`${base}${fmt(k)} ${v}`); continue }
        m.buckets.forEach((b, i) => out.push(`${m.name}_bucket${fmt(k, `le="${b}"`)} ${v.counts[i]}`))
        out.push(`${m.name}_bucket${fmt(k, 'le="+Inf"')} ${v.count}`, `${m.name}_sum${fmt(k)} ${v.sum}`, `${m.name}_count${fmt(k)} ${v.count}`)
      }
    }
    return `${out.join('\n')}\n`
  }
}

function key(labels) {
  return Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${String(v).replace(/["\\\n]/g, '_')}"`).join(',')
}
function fmt(k, extra) {
  const all = [k, extra].filter(Boolean).join(',')
  return all ? `{${all}}` : ''
}

/** process_* series like every Prometheus client library exports. */
export function processMetrics() {
  const mem = process.memoryUsage()
  return [
    '# HELP process_resident_memory_bytes Resident memory size in bytes.', '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${mem.rss}`,
    '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.', '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(process.cpuUsage().user + process.cpuUsage().system) / 1e6}`,
    '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.', '# TYPE process_start_time_seconds gauge',
    `process_start_time_seconds ${Math.floor(Date.now() / 1000 - process.uptime())}`,
    '',
  ].join('\n')
}

/**
 * An HTTP server whose handler may throw ({status}) and which counts requests into an
 * http_requests_total-like counter when given one. Stops cleanly on SIGTERM/SIGINT.
 */
/** FAKE_BIND: the address the fakes listen on (0.0.0.0 in containers, 127.0.0.1 in unit tests). */
const BIND = () => process.env.FAKE_BIND || '0.0.0.0'

export function serve(service, port, handler, { host = BIND(), onRequest } = {}) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake')
    const started = performance.now()
    res.on('finish', () => onRequest?.(req, res, url, (performance.now() - started) / 1000))
    try {
      const handled = await handler(req, res, url)
      if (handled === false && !res.headersSent) json(res, 404, { detail: 'Not Found' })
    } catch (e) {
      if (!res.headersSent) json(res, e.status ?? 500, { detail: e.message })
      else res.destroy()
    }
  })
  server.keepAliveTimeout = 65_000
  server.listen(port, host, () => log(service, `listening on ${host}:${port}`))
  return server
}

/** A TCP port that accepts and holds connections (gRPC, Bolt, OTLP gRPC): enough for tcp probes. */
export function listenTcp(service, port, host = BIND()) {
  const server = createTcpServer((sock) => { sock.on('error', () => {}); sock.setTimeout(60_000, () => sock.destroy()) })
  server.listen(port, host, () => log(service, `tcp listening on ${host}:${port}`))
  return server
}

export function onShutdown(service, servers, extra) {
  const stop = (sig) => {
    log(service, `${sig}: shutting down`)
    extra?.()
    let open = servers.length
    if (open === 0) process.exit(0)
    for (const s of servers) s.close(() => { if (--open === 0) process.exit(0) })
    for (const s of servers) s.closeAllConnections?.()
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

export function basicAuthOk(req, user, password) {
  if (!password) return true
  const h = req.headers.authorization ?? ''
  if (!h.startsWith('Basic ')) return false
  const [u, ...p] = Buffer.from(h.slice(6), 'base64').toString('utf8').split(':')
  return u === user && p.join(':') === password
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
