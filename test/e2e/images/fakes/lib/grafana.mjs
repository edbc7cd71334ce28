// FAKE Grafana: /api/health, /login, /metrics, and the provisioned datasources and dashboards
// (read from the mounted provisioning files) behind basic auth of the admin user.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { serve, json, text, basicAuthOk, log } from './common.mjs'

export const VERSION = '12.1.1'

function files(dir, ext) {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    try { return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [] } catch { return [] }
  })
}

export function provisioned(provisioning) {
  const datasources = files(join(provisioning, 'datasources'), '.yml').concat(files(join(provisioning, 'datasources'), '.yaml'))
    .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/-\s*name:\s*"?([^"\n]+)"?[\s\S]*?type:\s*(\S+)(?:[\s\S]*?uid:\s*"?([\w-]+))?/g)]
      .map((m) => ({ name: m[1].trim(), type: m[2], uid: m[3] ?? '' })))
  const providers = files(join(provisioning, 'dashboards'), '.yml').concat(files(join(provisioning, 'dashboards'), '.yaml'))
  const dirs = providers.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/path:\s*"?([^"\n]+)"?/g)].map((m) => m[1].trim()))
  const dashboards = dirs.flatMap((d) => files(d, '.json')).flatMap((f) => {
    try { const d = JSON.parse(readFileSync(f, 'utf8')); return [{ uid: d.uid, title: d.title, type: 'dash-db', file: f }] } catch { return [] }
  })
  return { datasources, dashboards }
}

export function start(argv, env = process.env) {
  const port = Number(env.GF_SERVER_HTTP_PORT ?? 3000)
  const user = env.GF_SECURITY_ADMIN_USER ?? 'admin'
  const password = env.GF_SECURITY_ADMIN_PASSWORD ?? 'admin'
  const provisioning = env.GF_PATHS_PROVISIONING ?? '/etc/grafana/provisioning'
  // GF_SERVER_SERVE_FROM_SUB_PATH: Grafana answers under the root URL's path (and, like Grafana, without it)
  const sub = env.GF_SERVER_SERVE_FROM_SUB_PATH === 'true' && env.GF_SERVER_ROOT_URL ? new URL(env.GF_SERVER_ROOT_URL.replace(/%\(.*?\)s/g, 'x')).pathname.replace(/\/+$/, '') : ''
  const server = serve('grafana', port, async (req, res, url) => {
    const p = sub && url.pathname.startsWith(`${sub}/`) ? url.pathname.slice(sub.length) : url.pathname
    if (p === '/api/health') return json(res, 200, { database: 'ok', version: VERSION, commit: 'owp-e2e-fake' })
    if (p === '/login') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end('<!doctype html><title>Grafana (e2e fake)</title>') }
    if (p === '/metrics') {
      return text(res, 200, `# HELP grafana_build_info A metric with a constant '1' value labeled by version.\n# TYPE grafana_build_info gauge\ngrafana_build_info{edition="oss",version="${VERSION}"} 1\n`, 'text/plain; version=0.0.4')
    }
    if (p.startsWith('/api/')) {
      if (!basicAuthOk(req, user, password)) return json(res, 401, { message: 'Unauthorized' })
      const { datasources, dashboards } = provisioned(provisioning)
      if (p === '/api/datasources') return json(res, 200, datasources.map((d, i) => ({ id: i + 1, ...d })))
      if (p === '/api/search') return json(res, 200, dashboards.map(({ file: _f, ...d }, i) => ({ id: i + 1, ...d })))
      const m = /^\/api\/dashboards\/uid\/([\w-]+)$/.exec(p)
      if (m) {
        const d = dashboards.find((x) => x.uid === m[1])
        return d ? json(res, 200, { dashboard: JSON.parse(readFileSync(d.file, 'utf8')), meta: { provisioned: true } }) : json(res, 404, { message: 'Dashboard not found' })
      }
    }
    if (p === '/') { res.writeHead(302, { location: `${sub}/login` }); return res.end() }
    return false
  })
  log('grafana', `FAKE Grafana ${VERSION} on ${port}, provisioning from ${provisioning}`)
  return [server]
}
