// The shape shared by the FAKE GraphRAG processor and the FAKE MCP server: /health, /metrics in
// the prometheus-fastapi-instrumentator style, and an API-key protected endpoint.
import { serve, json, text, readJson, Registry, processMetrics } from './common.mjs'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * FAKE_BROKEN (baked into the e2e "broken" image tag) makes the fake fail like a bad release:
 * `degrades` passes its first health check from inside the container (so Docker marks it
 * healthy and `up --wait` succeeds) and answers 503 from then on, which post-deploy validation
 * must catch; `health` always answers 503; `crash` exits at start.
 */
export function startApi(service, { port, env, routes }) {
  if (env.FAKE_BROKEN === 'crash') {
    process.stderr.write(`${service}: FAKE_BROKEN=crash: exiting like a broken release\n`)
    return { servers: [], exitCode: 3 }
  }
  const reg = new Registry()
  const requests = reg.counter('http_requests', 'Total number of requests by method, status and handler.')
  const latency = reg.histogram('http_request_duration_seconds', 'Latency with only few buckets by handler.', BUCKETS)
  const up = reg.gauge(`${service.replace(/-/g, '_')}_up`, 'The service is up (e2e fake).')
  up.set(1)
  const apiKey = env.GRAPHRAG_API_KEY ?? env.API_KEY ?? ''
  const authorized = (req) => {
    if (!apiKey) return true
    const h = req.headers['x-api-key'] ?? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '')
    return h === apiKey
  }
  let localHealthAnswers = 0
  const server = serve(service, port, async (req, res, url) => {
    const p = url.pathname
    if (req.method === 'GET' && (p === '/health' || p === '/healthz')) {
      const local = /^(::ffff:)?127\.|^::1$/.test(req.socket.remoteAddress ?? '')
      const degraded = env.FAKE_BROKEN === 'degrades' && (localHealthAnswers > 0 || !local)
      if (local) localHealthAnswers++
      if (env.FAKE_BROKEN === 'health' || degraded) return json(res, 503, { status: 'unhealthy', service, reason: `FAKE_BROKEN=${env.FAKE_BROKEN}` })
      return json(res, 200, { status: 'ok', service, fake: true })
    }
    if (req.method === 'GET' && p === '/metrics') return text(res, 200, reg.render() + processMetrics(), 'text/plain; version=0.0.4; charset=utf-8')
    const route = routes.find((r) => r.method === req.method && r.path === p)
    if (!route) return false
    if (!authorized(req)) return json(res, 401, { detail: 'invalid or missing API key' })
    const body = req.method === 'POST' ? await readJson(req) : {}
    return json(res, 200, route.answer(body, url))
  }, {
    onRequest: (req, res, url, seconds) => {
      const handler = ['/health', '/metrics', ...routes.map((r) => r.path)].includes(url.pathname) ? url.pathname : 'none'
      requests.inc({ method: req.method, status: `${String(res.statusCode)[0]}xx`, handler })
      latency.observe(seconds, { method: req.method, handler })
    },
  })
  return [server]
}
