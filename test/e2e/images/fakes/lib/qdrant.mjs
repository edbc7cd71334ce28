// FAKE Qdrant: the REST subset the kit uses (collections, points upsert/count/scroll, and the
// snapshot API the backups drive: create with wait, list, download, delete, recover from a
// location, upload). API-key auth with the real whitelist (/, /healthz, /readyz, /livez); data
// persisted as JSON under the storage path; snapshots are JSON files with a sha256 checksum.
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, renameSync, readdirSync, statSync, rmSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { serve, json, text, readBody, listenTcp, log } from './common.mjs'

export const VERSION = '1.15.4'
const WHITELIST = [(p) => p === '/' || p === '/healthz', (p) => p.startsWith('/readyz') || p.startsWith('/livez')]

const ok = (res, result, status = 200) => json(res, status, { result, status: 'ok', time: 0.0001 })
const fail = (res, status, error) => json(res, status, { status: { error }, time: 0 })
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex')

/** The file part named `field` of a multipart/form-data body. */
export function multipartFile(body, contentType, field = 'snapshot') {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType ?? '')?.[1]
  if (!boundary) return null
  const delim = Buffer.from(`--${boundary}`)
  let start = body.indexOf(delim)
  while (start >= 0) {
    const next = body.indexOf(delim, start + delim.length)
    if (next < 0) break
    const part = body.subarray(start + delim.length + 2, next - 2)
    const headEnd = part.indexOf('\r\n\r\n')
    const head = part.subarray(0, headEnd).toString()
    if (new RegExp(`name="${field}"`).test(head)) return part.subarray(headEnd + 4)
    start = next
  }
  return null
}

export function start(argv, env = process.env) {
  const port = Number(env.QDRANT__SERVICE__HTTP_PORT ?? 6333)
  const grpcPort = Number(env.QDRANT__SERVICE__GRPC_PORT ?? 6334)
  const storage = env.QDRANT__STORAGE__STORAGE_PATH ?? '/qdrant/storage'
  const snapshots = env.QDRANT__STORAGE__SNAPSHOTS_PATH ?? '/qdrant/snapshots'
  const apiKey = env.QDRANT__SERVICE__API_KEY ?? ''
  const readOnlyKey = env.QDRANT__SERVICE__READ_ONLY_API_KEY ?? ''
  mkdirSync(storage, { recursive: true })
  mkdirSync(snapshots, { recursive: true })
  const dbFile = join(storage, 'owp-fake-collections.json')
  /** name -> { config, points: {id: {id, vector, payload}} } */
  let db = existsSync(dbFile) ? JSON.parse(readFileSync(dbFile, 'utf8')) : {}
  const save = () => { writeFileSync(`${dbFile}.tmp`, JSON.stringify(db)); renameSync(`${dbFile}.tmp`, dbFile) }
  // aliases as Qdrant keeps them: alias -> collection; collection calls resolve them, deleting a
  // collection deletes its aliases, an alias cannot take a collection's name, actions apply all or none
  const aliasFile = join(storage, 'owp-fake-aliases.json')
  let aliases = existsSync(aliasFile) ? JSON.parse(readFileSync(aliasFile, 'utf8')) : {}
  const saveAliases = () => { writeFileSync(`${aliasFile}.tmp`, JSON.stringify(aliases)); renameSync(`${aliasFile}.tmp`, aliasFile) }
  const counters = { responses: new Map(), durations: new Map() }

  const snapDir = (c) => join(snapshots, c)
  const describe = (dir, name) => {
    const file = join(dir, name)
    const checksum = existsSync(`${file}.checksum`) ? readFileSync(`${file}.checksum`, 'utf8').trim() : sha256(readFileSync(file))
    const st = statSync(file)
    return { name, creation_time: st.mtime.toISOString().replace('Z', ''), size: st.size, checksum }
  }
  const listSnaps = (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.snapshot')).sort().map((f) => describe(dir, f)) : [])
  const writeSnap = (dir, prefix, data) => {
    mkdirSync(dir, { recursive: true })
    const name = `${prefix}-${randomUUID().slice(0, 8)}-${new Date().toISOString().replace(/[:.]/g, '-')}.snapshot`
    const buf = Buffer.from(JSON.stringify(data))
    writeFileSync(join(dir, name), buf)
    writeFileSync(join(dir, `${name}.checksum`), sha256(buf))
    return describe(dir, name)
  }
  const restoreCollection = (name, buf, checksum) => {
    if (checksum && sha256(buf) !== checksum) throw Object.assign(new Error(`Snapshot checksum mismatch: expected ${checksum}, got ${sha256(buf)}`), { status: 400 })
    let data
    try { data = JSON.parse(buf.toString('utf8')) } catch { throw Object.assign(new Error('Invalid snapshot: not a snapshot of this (fake) Qdrant'), { status: 400 }) }
    if (!data.collection) throw Object.assign(new Error('Invalid snapshot: no collection'), { status: 400 })
    db[name] = data.collection
    save()
  }

  const server = serve('qdrant', port, async (req, res, url) => {
    const p = url.pathname
    const m = req.method
    const key = req.headers['api-key'] ?? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '')
    const whitelisted = WHITELIST.some((w) => w(p))
    if (apiKey && !whitelisted) {
      const readOnly = readOnlyKey && key === readOnlyKey
      if (key !== apiKey && !readOnly) return fail(res, 401, 'Must provide an API key or an Authorization bearer token')
      if (readOnly && m !== 'GET' && !p.endsWith('/scroll') && !p.endsWith('/count')) return fail(res, 403, 'Forbidden: read-only API key')
    }
    if (m === 'GET' && p === '/') return json(res, 200, { title: 'qdrant - vector search engine', version: VERSION, commit: 'owp-e2e-fake' })
    if (m === 'GET' && p === '/healthz') return text(res, 200, 'healthz check passed')
    if (m === 'GET' && p === '/livez') return text(res, 200, 'healthz check passed')
    if (m === 'GET' && p === '/readyz') return text(res, 200, 'all shards are ready')
    if (m === 'GET' && p === '/metrics') {
      const points = Object.values(db).reduce((n, c) => n + Object.keys(c.points).length, 0)
      const lines = [
        '# HELP app_info information about qdrant server', '# TYPE app_info gauge', `app_info{name="qdrant",version="${VERSION}"} 1`,
        '# HELP collections_total number of collections', '# TYPE collections_total gauge', `collections_total ${Object.keys(db).length}`,
        '# HELP collections_vector_total total number of vectors in all collections', '# TYPE collections_vector_total gauge', `collections_vector_total ${points}`,
        '# HELP rest_responses_total total number of responses', '# TYPE rest_responses_total counter',
        ...[...counters.responses].map(([k, v]) => `rest_responses_total{${k}} ${v}`),
        '# HELP rest_responses_fail_total total number of failed responses', '# TYPE rest_responses_fail_total counter',
        ...[...counters.responses].filter(([k]) => /status="[45]/.test(k)).map(([k, v]) => `rest_responses_fail_total{${k}} ${v}`),
        '# HELP rest_responses_duration_seconds response duration', '# TYPE rest_responses_duration_seconds histogram',
        ...[...counters.durations].flatMap(([k, d]) => [`rest_responses_duration_seconds_bucket{${k},le="0.01"} ${d.fast}`,
          `rest_responses_duration_seconds_bucket{${k},le="+Inf"} ${d.count}`, `rest_responses_duration_seconds_sum{${k}} ${d.sum}`, `rest_responses_duration_seconds_count{${k}} ${d.count}`]),
        '',
      ]
      return text(res, 200, lines.join('\n'), 'text/plain; version=0.0.4')
    }
    // full-storage snapshots
    if (p === '/snapshots' && m === 'POST') return ok(res, writeSnap(join(snapshots, '_full'), 'full-snapshot', { full: db }))
    if (p === '/snapshots' && m === 'GET') return ok(res, listSnaps(join(snapshots, '_full')))
    let r = /^\/snapshots\/([^/]+)$/.exec(p)
    if (r) return snapshotFile(req, res, join(snapshots, '_full'), decodeURIComponent(r[1]))
    if (p === '/collections' && m === 'GET') return ok(res, { collections: Object.keys(db).sort().map((name) => ({ name })) })
    if (p === '/aliases' && m === 'GET') return ok(res, { aliases: Object.entries(aliases).map(([alias_name, collection_name]) => ({ alias_name, collection_name })) })
    if (p === '/collections/aliases' && m === 'POST') {
      const body = JSON.parse((await readBody(req)).toString() || '{}')
      const next = { ...aliases }
      for (const a of body.actions ?? []) {
        if (a.create_alias) {
          const { alias_name: alias, collection_name: target } = a.create_alias
          if (!db[target]) return fail(res, 404, `Not found: Collection \`${target}\` doesn't exist!`)
          if (db[alias]) return fail(res, 409, `Wrong input: Collection \`${alias}\` already exists!`)
          next[alias] = target
        } else if (a.delete_alias) {
          if (!(a.delete_alias.alias_name in next)) return fail(res, 404, `Not found: Alias \`${a.delete_alias.alias_name}\` doesn't exist!`)
          delete next[a.delete_alias.alias_name]
        }
      }
      aliases = next
      saveAliases()
      return ok(res, true)
    }
    r = /^\/collections\/([^/]+)(\/.*)?$/.exec(p)
    if (!r) return false
    const given = decodeURIComponent(r[1])
    // a collection call through an alias reaches its collection (creating one under an alias's name is refused by Qdrant too)
    const name = given in aliases && !(m === 'PUT' && (r[2] ?? '') === '') ? aliases[given] : given
    const rest = r[2] ?? ''
    const coll = db[name]
    const missing = () => fail(res, 404, `Not found: Collection \`${name}\` doesn't exist!`)
    if (rest === '') {
      if (m === 'PUT') {
        if (coll) return fail(res, 409, `Wrong input: Collection \`${name}\` already exists!`)
        const body = JSON.parse((await readBody(req)).toString() || '{}')
        db[name] = { config: body, points: {} }
        save()
        return ok(res, true)
      }
      if (m === 'GET') {
        if (!coll) return missing()
        const n = Object.keys(coll.points).length
        return ok(res, { status: 'green', optimizer_status: 'ok', points_count: n, indexed_vectors_count: n, segments_count: 1, config: { params: coll.config } })
      }
      if (m === 'DELETE') {
        const had = Boolean(coll)
        delete db[name]
        save()
        for (const [a, c] of Object.entries(aliases)) if (c === name) delete aliases[a]
        saveAliases()
        return ok(res, had)
      }
    }
    if (rest === '/exists' && m === 'GET') return ok(res, { exists: Boolean(coll) })
    if (rest === '/points' && m === 'PUT') {
      if (!coll) return missing()
      const body = JSON.parse((await readBody(req)).toString() || '{}')
      for (const pt of body.points ?? []) coll.points[String(pt.id)] = pt
      save()
      return ok(res, { operation_id: Date.now(), status: 'completed' })
    }
    if (rest === '/points/count' && m === 'POST') return coll ? ok(res, { count: Object.keys(coll.points).length }) : missing()
    if (rest === '/points/scroll' && m === 'POST') {
      if (!coll) return missing()
      const body = JSON.parse((await readBody(req)).toString() || '{}')
      const all = Object.values(coll.points).sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true }))
      const limit = Number(body.limit ?? 10)
      return ok(res, { points: all.slice(0, limit).map((pt) => ({ id: pt.id, payload: pt.payload ?? {}, ...(body.with_vector ? { vector: pt.vector } : {}) })), next_page_offset: all[limit]?.id ?? null })
    }
    if (rest === '/snapshots') {
      if (!coll) return missing()
      if (m === 'POST') return ok(res, writeSnap(snapDir(name), name, { collection: coll, version: VERSION }))
      if (m === 'GET') return ok(res, listSnaps(snapDir(name)))
    }
    if (rest === '/snapshots/recover' && m === 'PUT') {
      const body = JSON.parse((await readBody(req)).toString() || '{}')
      const loc = String(body.location ?? '')
      let buf
      if (loc.startsWith('file://')) buf = readFileSync(new URL(loc))
      else if (/^https?:\/\//.test(loc)) {
        const r2 = await fetch(loc, { headers: apiKey ? { 'api-key': apiKey } : {} })
        if (!r2.ok) return fail(res, 400, `Failed to download snapshot from ${loc}: HTTP ${r2.status}`)
        buf = Buffer.from(await r2.arrayBuffer())
      } else return fail(res, 400, 'Wrong input: location must be a file:// or http(s):// URL')
      restoreCollection(name, buf, body.checksum)
      return ok(res, true)
    }
    if (rest === '/snapshots/upload' && m === 'POST') {
      const file = multipartFile(await readBody(req), req.headers['content-type'])
      if (!file) return fail(res, 400, 'Wrong input: multipart form field "snapshot" is missing')
      restoreCollection(name, file, url.searchParams.get('checksum'))
      return ok(res, true)
    }
    r = /^\/snapshots\/([^/]+)$/.exec(rest)
    if (r) return snapshotFile(req, res, snapDir(name), decodeURIComponent(r[1]))
    return false
  }, {
    onRequest: (req, res, url, seconds) => {
      const endpoint = `endpoint="${url.pathname.replace(/\/collections\/[^/]+/, '/collections/{name}').replace(/\/snapshots\/[^/]+$/, '/snapshots/{snapshot}')}"`
      const k = `${endpoint},method="${req.method}",status="${res.statusCode}"`
      counters.responses.set(k, (counters.responses.get(k) ?? 0) + 1)
      const d = counters.durations.get(endpoint) ?? { fast: 0, count: 0, sum: 0 }
      d.count++; d.sum += seconds; if (seconds <= 0.01) d.fast++
      counters.durations.set(endpoint, d)
    },
  })

  function snapshotFile(req, res, dir, file) {
    const path = join(dir, file)
    if (file.includes('/') || !existsSync(path)) return fail(res, 404, `Not found: Snapshot ${file} not found`)
    if (req.method === 'GET') {
      const buf = readFileSync(path)
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': buf.length })
      return res.end(buf)
    }
    if (req.method === 'DELETE') { rmSync(path); rmSync(`${path}.checksum`, { force: true }); return ok(res, true) }
    return false
  }

  log('qdrant', `FAKE Qdrant ${VERSION}: storage ${storage}, snapshots ${snapshots}${apiKey ? ', api key required' : ''}`)
  return [server, listenTcp('qdrant', grpcPort)]
}
