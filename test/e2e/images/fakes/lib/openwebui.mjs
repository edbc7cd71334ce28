// FAKE Open WebUI: /health, version and config, and the chat completion routes proxied to the
// OpenAI-compatible backend (OPENAI_API_BASE_URL(S), i.e. LightLLM). It pushes its request metrics
// (http.server.requests, http.server.duration as real Open WebUI does) to the OTLP/HTTP collector.
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { serve, json, readBody, log, diag, sleep } from './common.mjs'
import { redisClient } from './redis.mjs'
import { pushMetrics, DURATION_BOUNDS } from './otlp.mjs'
import { pgQuery } from './pg.mjs'

export const VERSION = '0.8.11'

function upstreamBase(env) {
  const first = (env.OPENAI_API_BASE_URLS ?? '').split(';').find(Boolean) ?? env.OPENAI_API_BASE_URL
  return (first || 'http://lightllm:8000/v1').replace(/\/+$/, '')
}

/** Forward one request to the LLM backend, streaming the answer back unbuffered. */
function proxy(req, res, body, target, apiKey) {
  return new Promise((resolve) => {
    const url = new URL(target)
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const up = send(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', 'content-length': body.length, accept: req.headers.accept ?? '*/*',
        ...(apiKey && apiKey !== 'none' ? { authorization: `Bearer ${apiKey}` } : {}),
      },
      rejectUnauthorized: false,
    }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, {
        'content-type': ur.headers['content-type'] ?? 'application/json',
        ...(String(ur.headers['content-type']).includes('event-stream') ? { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } : {}),
      })
      ur.pipe(res)
      ur.on('end', resolve)
      ur.on('error', () => { res.destroy(); resolve() })
    })
    up.on('error', (e) => {
      if (!res.headersSent) json(res, 502, { detail: `upstream ${url.host} unreachable: ${e.message}` })
      resolve()
    })
    res.on('close', () => up.destroy())
    up.end(body)
  })
}

function tcpOpen(host, port, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const s = connect({ host, port })
    const done = (ok) => { s.destroy(); resolve(ok) }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

/**
 * Like Open WebUI at startup (migrations, the Redis-backed websocket manager): the database must
 * accept connections and Redis must accept REDIS_URL's password, else the process exits.
 */
async function waitForBackends(env, timeoutMs = Number(env.FAKE_BACKEND_WAIT_MS ?? 60_000)) {
  const deadline = Date.now() + timeoutMs
  const db = env.DATABASE_URL ? new URL(env.DATABASE_URL) : null
  let last = ''
  while (Date.now() < deadline) {
    const problems = []
    if (db && !(await tcpOpen(db.hostname, Number(db.port || 5432)))) problems.push(`database ${db.host} unreachable`)
    if (env.REDIS_URL) {
      try { const c = await redisClient(env.REDIS_URL); await c.call('PING'); c.close() } catch (e) { problems.push(`redis: ${e.message}`) }
    }
    if (!problems.length) return
    if (problems.join() !== last) log('openwebui', `waiting: ${problems.join('; ')}`)
    last = problems.join()
    await sleep(1000)
  }
  throw new Error(`backends not ready after ${timeoutMs / 1000}s: ${last}`)
}

/**
 * Open WebUI's schema migrations (alembic revisions), oldest first. An image knows the revisions up
 * to its own (FAKE_SCHEMA_REVISION, baked into each stand-in tag): at start it migrates the
 * database forward to it, and like alembic it refuses a database at a revision it does not know
 * (a newer version migrated it): the reason a rollback across a migration restores the database.
 */
export const REVISIONS = [
  ['0001_e2e_chat', ['CREATE TABLE chat (id serial PRIMARY KEY, title text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())']],
  ['0002_e2e_archived', ['ALTER TABLE chat ADD COLUMN archived boolean NOT NULL DEFAULT false']],
  ['0003_e2e_tag', ['CREATE TABLE tag (name text PRIMARY KEY, chat_id int REFERENCES chat(id))']],
  ['0004_e2e_folder', ['ALTER TABLE chat ADD COLUMN folder_id text', "UPDATE chat SET folder_id = 'inbox'"]],
]

export async function migrate(url, target) {
  const head = REVISIONS.findIndex(([rev]) => rev === target)
  if (head < 0) throw new Error(`FAKE_SCHEMA_REVISION=${target} is not one of ${REVISIONS.map(([r]) => r).join(', ')}`)
  const [, rows] = await pgQuery(url, [
    'CREATE TABLE IF NOT EXISTS alembic_version (version_num varchar(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))',
    'SELECT version_num FROM alembic_version',
  ])
  const current = rows[0]?.[0] ?? null
  const at = current === null ? -1 : REVISIONS.findIndex(([rev]) => rev === current)
  if (current !== null && (at < 0 || at > head)) throw new Error(`alembic: Can't locate revision identified by '${current}' (this version's head is ${target})`)
  const applied = []
  for (const [rev, sql] of REVISIONS.slice(at + 1, head + 1)) {
    await pgQuery(url, ['BEGIN', ...sql, 'DELETE FROM alembic_version', `INSERT INTO alembic_version (version_num) VALUES ('${rev}')`, 'COMMIT'])
    applied.push(rev)
  }
  return { from: current, to: target, applied }
}

export async function start(argv, env = process.env) {
  try {
    await waitForBackends(env)
    if (env.FAKE_SCHEMA_REVISION && env.DATABASE_URL) {
      const m = await migrate(env.DATABASE_URL, env.FAKE_SCHEMA_REVISION)
      log('openwebui', m.applied.length ? `migrated the database ${m.from ?? '(empty)'} -> ${m.to}: ${m.applied.join(', ')}` : `database at ${m.to}: nothing to migrate`)
    }
  } catch (e) {
    diag(`open-webui (fake): ${e.message}`)
    return { servers: [], exitCode: 1 }
  }
  const port = Number(env.PORT ?? 8080)
  const host = env.HOST ?? '0.0.0.0'
  const base = upstreamBase(env)
  const apiKey = (env.OPENAI_API_KEYS ?? '').split(';').find(Boolean) ?? env.OPENAI_API_KEY
  const points = new Map()
  const record = (req, res, url, seconds) => {
    const k = `${req.method} ${url.pathname} ${res.statusCode}`
    const p = points.get(k) ?? { method: req.method, route: url.pathname, status: res.statusCode, count: 0, sumMs: 0, buckets: [...DURATION_BOUNDS.map(() => 0), 0] }
    const ms = seconds * 1000
    p.count++; p.sumMs += ms
    const i = DURATION_BOUNDS.findIndex((b) => ms <= b)
    p.buckets[i < 0 ? DURATION_BOUNDS.length : i]++
    points.set(k, p)
  }
  const server = serve('openwebui', port, async (req, res, url) => {
    const p = url.pathname
    if (req.method === 'GET' && p === '/health') return json(res, 200, { status: true })
    if (req.method === 'GET' && p === '/health/db') {
      const db = env.DATABASE_URL ? new URL(env.DATABASE_URL) : null
      return db && !(await tcpOpen(db.hostname, Number(db.port || 5432))) ? json(res, 503, { status: false }) : json(res, 200, { status: true })
    }
    if (req.method === 'GET' && p === '/api/version') return json(res, 200, { version: VERSION, schema: env.FAKE_SCHEMA_REVISION ?? null })
    if (req.method === 'GET' && p === '/api/config') {
      // the broken release: its API fails (validate-prod's openwebui API check), /health still answers
      if (env.FAKE_BROKEN === 'chat') return json(res, 500, { detail: `FAKE_BROKEN=chat (schema ${env.FAKE_SCHEMA_REVISION})` })
      return json(res, 200, { status: true, name: env.WEBUI_NAME ?? 'Open WebUI', version: VERSION, features: { auth: true, enable_signup: env.ENABLE_SIGNUP === 'true' } })
    }
    if (req.method === 'GET' && (p === '/api/models' || p === '/api/v1/models')) {
      const r = await fetch(`${base}/models`).catch(() => null)
      const models = r?.ok ? await r.json() : { data: [] }
      return json(res, 200, models)
    }
    // chats in the database (what the migration tests write before and after an upgrade)
    if (req.method === 'POST' && p === '/api/v1/chats/new' && env.FAKE_SCHEMA_REVISION) {
      const { title = 'untitled' } = JSON.parse((await readBody(req)).toString() || '{}')
      const [[row]] = await pgQuery(env.DATABASE_URL, [`INSERT INTO chat (title) VALUES ('${String(title).replace(/'/g, "''")}') RETURNING id`])
      return json(res, 200, { id: Number(row[0]), title })
    }
    if (req.method === 'POST' && (p === '/api/chat/completions' || p === '/api/v1/chat/completions' || p === '/v1/chat/completions')) {
      // the e2e release that migrates and is broken: healthy, smoke-clean, but every chat fails (validation catches it)
      if (env.FAKE_BROKEN === 'chat') return json(res, 500, { detail: `FAKE_BROKEN=chat (schema ${env.FAKE_SCHEMA_REVISION})` })
      const body = await readBody(req)
      return proxy(req, res, body, `${base}/chat/completions`, apiKey)
    }
    if (req.method === 'GET' && p === '/') {
      res.writeHead(200, { 'content-type': 'text/html' })
      return res.end('<!doctype html><title>Open WebUI (e2e fake)</title><p>Open WebUI e2e fake</p>')
    }
    return false
  }, { host, onRequest: record })
  const stopPush = pushMetrics('openwebui', env, () => [...points.values()])
  log('openwebui', `FAKE proxying chat completions to ${base}`)
  return { servers: [server], onStop: stopPush }
}
