// FAKE Neo4j community: the HTTP API on 7474 (discovery document, transactional Cypher endpoint
// with basic auth from NEO4J_AUTH) and a TCP listener on 7687 for Bolt probes. It understands
// only `RETURN <literal>` style statements and answers other Cypher with empty results.
import { mkdirSync, writeFileSync } from 'node:fs'
import { serve, json, readJson, listenTcp, basicAuthOk, log } from './common.mjs'

export const VERSION = '5.26.12'

export function auth(env) {
  const a = env.NEO4J_AUTH ?? 'neo4j/neo4j'
  if (a === 'none') return null
  const [user, ...pw] = a.split('/')
  return { user, password: pw.join('/') }
}

/** Rows for a statement the fake can answer: RETURN of number/string literals. */
export function evaluate(statement) {
  const m = /^\s*RETURN\s+(.+?)\s*;?\s*$/i.exec(statement ?? '')
  if (!m) return { columns: [], data: [] }
  const parts = m[1].split(',').map((s) => s.trim())
  const cols = []
  const row = []
  for (const p of parts) {
    const [expr, alias] = p.split(/\s+AS\s+/i)
    cols.push(alias ?? expr)
    row.push(/^-?\d+(\.\d+)?$/.test(expr) ? Number(expr) : expr.replace(/^['"]|['"]$/g, ''))
  }
  return { columns: cols, data: [{ row, meta: row.map(() => null) }] }
}

export function start(argv, env = process.env) {
  const httpPort = Number((env.NEO4J_server_http_listen__address ?? ':7474').split(':').pop())
  const boltPort = Number((env.NEO4J_server_bolt_listen__address ?? ':7687').split(':').pop())
  const creds = auth(env)
  try { mkdirSync('/data/databases', { recursive: true }); writeFileSync('/data/databases/owp-fake-neo4j', 'fake neo4j data dir\n') } catch { /* not in a container */ }
  const server = serve('neo4j', httpPort, async (req, res, url) => {
    const host = (req.headers.host ?? `localhost:${httpPort}`).split(':')[0]
    if (req.method === 'GET' && url.pathname === '/') {
      return json(res, 200, {
        bolt_routing: `neo4j://${host}:${boltPort}`, transaction: `http://${host}:${httpPort}/db/{databaseName}/tx`,
        bolt_direct: `bolt://${host}:${boltPort}`, neo4j_version: VERSION, neo4j_edition: 'community',
      })
    }
    const tx = /^\/db\/([^/]+)\/tx(\/commit)?$/.exec(url.pathname)
    if (req.method === 'POST' && tx) {
      if (creds && !basicAuthOk(req, creds.user, creds.password)) {
        return json(res, 401, { errors: [{ code: 'Neo.ClientError.Security.Unauthorized', message: 'Invalid username or password.' }] })
      }
      if (!['neo4j', 'system'].includes(tx[1])) {
        return json(res, 404, { errors: [{ code: 'Neo.ClientError.Database.DatabaseNotFound', message: `Database does not exist. Database name: '${tx[1]}'.` }] })
      }
      const body = await readJson(req)
      return json(res, 200, { results: (body.statements ?? []).map((s) => evaluate(s.statement)), errors: [] })
    }
    return false
  })
  log('neo4j', `FAKE Neo4j ${VERSION} community: http ${httpPort}, bolt (tcp only) ${boltPort}`)
  return [server, listenTcp('neo4j', boltPort)]
}
