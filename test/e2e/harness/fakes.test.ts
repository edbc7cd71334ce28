// The e2e FAKES behave like the services they stand in for, on the points the kit relies on
// (run with node on 127.0.0.1: no engine needed for this file).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import type { Server } from 'node:http'
import { freePort } from '../../helpers/net.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { startService, type Service } from '../../helpers/service.ts'

process.env.FAKE_BIND = '127.0.0.1'
const LIB = join(import.meta.dirname, '..', 'images', 'fakes', 'lib')
type Started = Server[] | { servers: Server[]; onStop?: () => void; exitCode?: number }
type FakeModule = { start(argv: string[], env: NodeJS.ProcessEnv): Started | Promise<Started> }
const fake = async (name: string) => (await import(join(LIB, `${name}.mjs`))) as FakeModule
const running: Started[] = []
async function start(name: string, argv: string[], env: NodeJS.ProcessEnv): Promise<Started> {
  const s = await (await fake(name)).start(argv, env)
  running.push(s)
  await new Promise((r) => setTimeout(r, 50))
  return s
}
afterAll(async () => {
  for (const s of running) {
    const servers = Array.isArray(s) ? s : s.servers
    if (!Array.isArray(s)) s.onStop?.()
    await Promise.all(servers.map((srv) => new Promise((r) => { srv.closeAllConnections?.(); srv.close(r) })))
  }
})

/** The data lines of an SSE answer, parsed. */
function sse(text: string): Array<Record<string, unknown> | '[DONE]'> {
  return text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6)).map((d) => (d === '[DONE]' ? d : JSON.parse(d)))
}

describe('fake LightLLM', () => {
  let port: number
  beforeAll(async () => {
    port = await freePort()
    await start('lightllm', ['--port', String(port), '--model_dir', '/models/qwen', '--model_name', 'qwen'], { FAKE_LLM_TOKEN_DELAY_MS: '1', FAKE_LLM_TTFT_MS: '5' })
  })

  it('streams OpenAI chunks: the role first, one token a chunk, the finish reason, usage when asked, then [DONE]', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'qwen', messages: [{ role: 'user', content: 'x'.repeat(40) }], stream: true, max_tokens: 5, stream_options: { include_usage: true } }),
    })
    expect(r.headers.get('content-type')).toBe('text/event-stream')
    const events = sse(await r.text())
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1) as Array<{ object: string; choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>; usage?: unknown }>
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(5)
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length')
    expect(chunks.at(-1)).toMatchObject({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })
  })

  it('answers without streaming, lists its model, and counts requests in the lightllm_* series', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
    })
    const body = await r.json() as { usage: { completion_tokens: number }; choices: Array<{ message: { content: string } }> }
    expect(body.usage.completion_tokens).toBe(3)
    expect(body.choices[0]!.message.content.split(' ')).toHaveLength(3)
    expect(((await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: Array<{ id: string }> }).data[0]!.id).toBe('qwen')
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
    const bad = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', body: '{}' })
    expect(bad.status).toBe(400)
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(/^lightllm_request_count_total 3$/m)
    expect(metrics).toMatch(/^lightllm_request_success_total 2$/m)
    expect(metrics).toMatch(/^lightllm_request_failure_total 1$/m)
    expect(metrics).toMatch(/^lightllm_request_first_token_duration_count 2$/m)
    for (const name of ['lightllm_request_duration_bucket', 'lightllm_request_mean_time_per_token_duration_sum', 'lightllm_request_generated_tokens_count', 'lightllm_queue_size', 'lightllm_batch_current_size']) {
      expect(metrics).toContain(name)
    }
  })
})

describe('fake Open WebUI and the fake OpenTelemetry collector', () => {
  let webui: number
  let llm: number
  let otlp: number
  let prom: number
  beforeAll(async () => {
    [webui, llm, otlp, prom] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
    const config = tmpDir()
    writeFileSync(join(config.path, 'c.yaml'), `receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:${await freePort()}\n      http:\n        endpoint: 0.0.0.0:${otlp}\nextensions:\n  health_check:\n    endpoint: 0.0.0.0:${await freePort()}\nexporters:\n  prometheus:\n    endpoint: 0.0.0.0:${prom}\n`)
    await start('otel-collector', [`--config=${join(config.path, 'c.yaml')}`], {})
    await start('lightllm', ['--port', String(llm)], { FAKE_LLM_TOKEN_DELAY_MS: '1' })
    await start('openwebui', [], {
      PORT: String(webui), OPENAI_API_BASE_URL: `http://127.0.0.1:${llm}/v1`, ENABLE_OTEL: 'true', ENABLE_OTEL_METRICS: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp}`, OTEL_METRIC_EXPORT_INTERVAL: '100', OTEL_SERVICE_NAME: 'open-webui',
    })
  })

  it('answers /health like Open WebUI and streams a chat completion through from the LLM', async () => {
    expect(await (await fetch(`http://127.0.0.1:${webui}/health`)).json()).toEqual({ status: true })
    const r = await fetch(`http://127.0.0.1:${webui}/api/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }], stream: true, max_tokens: 4 }),
    })
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/event-stream')
    expect(sse(await r.text()).at(-1)).toBe('[DONE]')
  })

  it('pushes http.server.requests/duration over OTLP; the collector serves them as Prometheus series', async () => {
    const text = await (async () => {
      for (let i = 0; i < 50; i++) {
        const t = await (await fetch(`http://127.0.0.1:${prom}/metrics`)).text()
        if (t.includes('/api/chat/completions')) return t
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error('no series arrived at the collector')
    })()
    expect(text).toMatch(/^http_server_requests_total\{job="open-webui",http_method="POST",http_route="\/api\/chat\/completions",http_status_code="200"\} 1$/m)
    expect(text).toMatch(/^http_server_duration_milliseconds_bucket\{.*le="\+Inf"\} \d+$/m)
    expect(text).toMatch(/^# TYPE webui_users_active gauge$/m)
  })

  it('answers 502 when the LLM is unreachable', async () => {
    const port = await freePort()
    await start('openwebui', [], { PORT: String(port), OPENAI_API_BASE_URL: `http://127.0.0.1:${await freePort()}/v1` })
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', body: '{"messages":[]}' })
    expect(r.status).toBe(502)
  })
})

describe('fake Qdrant', () => {
  let base: string
  const key = 'k'.repeat(40)
  const h = { 'api-key': key, 'content-type': 'application/json' }
  beforeAll(async () => {
    const port = await freePort()
    const dir = tmpDir()
    base = `http://127.0.0.1:${port}`
    await start('qdrant', [], {
      QDRANT__SERVICE__HTTP_PORT: String(port), QDRANT__SERVICE__GRPC_PORT: String(await freePort()), QDRANT__SERVICE__API_KEY: key,
      QDRANT__STORAGE__STORAGE_PATH: join(dir.path, 'storage'), QDRANT__STORAGE__SNAPSHOTS_PATH: join(dir.path, 'snapshots'),
    })
  })

  it('needs the API key except on the health endpoints', async () => {
    expect((await fetch(`${base}/collections`)).status).toBe(401)
    expect((await fetch(`${base}/metrics`)).status).toBe(401)
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
  })

  it('snapshots a collection (wait=true) with the sha256 of the file it serves, and restores it from an upload', async () => {
    await fetch(`${base}/collections/docs`, { method: 'PUT', headers: h, body: JSON.stringify({ vectors: { size: 2, distance: 'Cosine' } }) })
    await fetch(`${base}/collections/docs/points?wait=true`, { method: 'PUT', headers: h, body: JSON.stringify({ points: [{ id: 1, vector: [0.1, 0.2], payload: { t: 'ä' } }, { id: 2, vector: [1, 0] }] }) })
    const snap = (await (await fetch(`${base}/collections/docs/snapshots?wait=true`, { method: 'POST', headers: h })).json()) as { result: { name: string; checksum: string; size: number } }
    const file = Buffer.from(await (await fetch(`${base}/collections/docs/snapshots/${snap.result.name}`, { headers: h })).arrayBuffer())
    expect(createHash('sha256').update(file).digest('hex')).toBe(snap.result.checksum)
    expect(file.length).toBe(snap.result.size)
    expect((await (await fetch(`${base}/collections/docs/snapshots/${snap.result.name}`, { method: 'DELETE', headers: h })).json() as { result: boolean }).result).toBe(true)
    await fetch(`${base}/collections/docs`, { method: 'DELETE', headers: h })
    expect((await fetch(`${base}/collections/docs`, { headers: h })).status).toBe(404)
    const form = new FormData()
    form.append('snapshot', new Blob([file]), 'docs.snapshot')
    const up = await fetch(`${base}/collections/docs/snapshots/upload?priority=snapshot&checksum=${snap.result.checksum}`, { method: 'POST', headers: { 'api-key': key }, body: form })
    expect(up.status).toBe(200)
    const count = (await (await fetch(`${base}/collections/docs/points/count`, { method: 'POST', headers: h, body: '{}' })).json()) as { result: { count: number } }
    expect(count.result.count).toBe(2)
  })

  it('aliases as the real server keeps them: listed, resolved by collection calls, refused over a collection name, gone with their collection', async () => {
    const alias = (actions: unknown[]) => fetch(`${base}/collections/aliases`, { method: 'POST', headers: h, body: JSON.stringify({ actions }) })
    await fetch(`${base}/collections/chunks.v2`, { method: 'PUT', headers: h, body: JSON.stringify({ vectors: { size: 2, distance: 'Cosine' } }) })
    await fetch(`${base}/collections/chunks.v2/points?wait=true`, { method: 'PUT', headers: h, body: JSON.stringify({ points: [{ id: 7, vector: [0, 1] }] }) })
    expect((await alias([{ create_alias: { collection_name: 'chunks.v2', alias_name: 'chunks' } }])).status).toBe(200)
    expect((await (await fetch(`${base}/aliases`, { headers: h })).json() as { result: unknown }).result)
      .toEqual({ aliases: [{ alias_name: 'chunks', collection_name: 'chunks.v2' }] })
    const count = (await (await fetch(`${base}/collections/chunks/points/count`, { method: 'POST', headers: h, body: '{}' })).json()) as { result: { count: number } }
    expect(count.result.count).toBe(1)
    expect((await alias([{ create_alias: { collection_name: 'chunks.v2', alias_name: 'chunks.v2' } }])).status).toBe(409)
    await fetch(`${base}/collections/chunks.v2`, { method: 'DELETE', headers: h })
    expect((await (await fetch(`${base}/aliases`, { headers: h })).json() as { result: unknown }).result).toEqual({ aliases: [] })
  })

  it('refuses a snapshot whose checksum does not match', async () => {
    const form = new FormData()
    form.append('snapshot', new Blob(['{"collection":{"config":{},"points":{}}}']), 'x.snapshot')
    const r = await fetch(`${base}/collections/other/snapshots/upload?checksum=${'0'.repeat(64)}`, { method: 'POST', headers: { 'api-key': key }, body: form })
    expect(r.status).toBe(400)
    expect(JSON.stringify(await r.json())).toMatch(/checksum mismatch/)
  })
})

describe('fake Neo4j, Grafana, GraphRAG', () => {
  it('Neo4j: the discovery document, Cypher over HTTP with basic auth, a Bolt port that accepts', async () => {
    const [http, bolt] = [await freePort(), await freePort()]
    await start('neo4j', [], { NEO4J_AUTH: 'neo4j/secret-pass', NEO4J_server_http_listen__address: `:${http}`, NEO4J_server_bolt_listen__address: `:${bolt}` })
    const doc = await (await fetch(`http://127.0.0.1:${http}/`)).json() as Record<string, string>
    expect(doc).toMatchObject({ neo4j_edition: 'community', bolt_direct: `bolt://127.0.0.1:${bolt}` })
    const tx = (auth: string) => fetch(`http://127.0.0.1:${http}/db/neo4j/tx/commit`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(auth).toString('base64')}` },
      body: JSON.stringify({ statements: [{ statement: 'RETURN 1 AS one' }] }),
    })
    expect((await tx('neo4j:wrong')).status).toBe(401)
    expect(await (await tx('neo4j:secret-pass')).json()).toEqual({ results: [{ columns: ['one'], data: [{ row: [1], meta: [null] }] }], errors: [] })
  })

  it('Grafana: /api/health under its sub path too, and the provisioned dashboards behind basic auth', async () => {
    const port = await freePort()
    const prov = tmpDir()
    mkdirSync(join(prov.path, 'dashboards'))
    mkdirSync(join(prov.path, 'json'))
    writeFileSync(join(prov.path, 'dashboards', 'p.yml'), `apiVersion: 1\nproviders:\n  - name: owp\n    options:\n      path: ${join(prov.path, 'json')}\n`)
    writeFileSync(join(prov.path, 'json', 'd.json'), JSON.stringify({ uid: 'owp-overview', title: 'Platform Overview' }))
    await start('grafana', [], { GF_SERVER_HTTP_PORT: String(port), GF_SECURITY_ADMIN_PASSWORD: 'pw', GF_PATHS_PROVISIONING: prov.path, GF_SERVER_ROOT_URL: 'https://x/grafana/', GF_SERVER_SERVE_FROM_SUB_PATH: 'true' })
    for (const p of ['/api/health', '/grafana/api/health']) expect(await (await fetch(`http://127.0.0.1:${port}${p}`)).json()).toMatchObject({ database: 'ok' })
    expect((await fetch(`http://127.0.0.1:${port}/api/search`)).status).toBe(401)
    const search = await fetch(`http://127.0.0.1:${port}/api/search`, { headers: { authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` } })
    expect(await search.json()).toEqual([{ id: 1, uid: 'owp-overview', title: 'Platform Overview', type: 'dash-db' }])
  })

  it('GraphRAG: /health and fastapi-style /metrics; the broken release passes its first check and fails from then on', async () => {
    const [good, broken] = [await freePort(), await freePort()]
    await start('graphrag', [], { PORT: String(good) })
    await start('graphrag', [], { PORT: String(broken), FAKE_BROKEN: 'degrades' })
    expect((await fetch(`http://127.0.0.1:${good}/health`)).status).toBe(200)
    expect(await (await fetch(`http://127.0.0.1:${good}/metrics`)).text()).toMatch(/^http_requests_total\{handler="\/health",method="GET",status="2xx"\} 1$/m)
    expect((await fetch(`http://127.0.0.1:${broken}/health`)).status).toBe(200)
    expect((await fetch(`http://127.0.0.1:${broken}/health`)).status).toBe(503)
  })
})

describe('fake Celery worker, beat and exporter, on a real Redis', () => {
  let redis: Service
  let url: string
  const dir = tmpDir()
  beforeAll(async () => {
    const port = await freePort()
    redis = await startService({ cmd: 'redis-server', args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--requirepass', 'pw', '--dir', dir.path], port })
    url = `redis://:pw@127.0.0.1:${port}/1`
  })
  afterAll(async () => { await redis?.stop(); dir.remove() })

  it('inspect ping fails without a worker and answers pong with one; beat writes its schedule; the exporter sees both', async () => {
    const celery = (args: string[]) => spawnSync(process.execPath, [join(LIB, 'main.mjs'), 'celery', ...args], { env: { ...process.env, CELERY_BROKER_URL: url }, encoding: 'utf8', timeout: 20_000 })
    expect(celery(['-A', 'graphrag.worker', 'inspect', 'ping']).status).toBe(69)
    await start('celery', ['-A', 'graphrag.worker', 'worker', '-n', 'celery@e2e-node'], { CELERY_BROKER_URL: url })
    const ping = celery(['-A', 'graphrag.worker', 'inspect', 'ping', '--destination', 'celery@e2e-node'])
    expect(ping.status, ping.stderr).toBe(0)
    expect(ping.stdout).toMatch(/celery@e2e-node: OK\s+pong/)
    const schedule = join(dir.path, 'celerybeat-schedule')
    await start('celery', ['-A', 'graphrag.worker', 'beat', `--schedule=${schedule}`], { CELERY_BROKER_URL: url, FAKE_BEAT_INTERVAL_MS: '100' })
    const { runCode } = await import(join(LIB, 'shims', 'python.mjs')) as { runCode(code: string): Promise<number> }
    const healthcheck = `import glob, os, sys, time; f = glob.glob('${schedule}*'); sys.exit(0 if f and time.time() - max(map(os.path.getmtime, f)) < 900 else 1)`
    expect(await runCode(healthcheck)).toBe(0)
    const port = await freePort()
    await start('celery-exporter', [], { CE_BROKER_URL: url, CE_PORT: String(port) })
    await new Promise((r) => setTimeout(r, 500))
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(/^celery_worker_up\{hostname="celery@e2e-node"\} 1$/m)
    expect(metrics).toMatch(/^celery_task_succeeded_total\{name="graphrag.tasks.refresh_index",.*\} [1-9]\d*$/m)
    expect(metrics).toMatch(/^celery_queue_length\{queue_name="celery"\} \d+$/m)
    // an old schedule file: the beat healthcheck fails
    const stale = join(dir.path, 'stale-schedule')
    writeFileSync(stale, '')
    utimesSync(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    expect(await runCode(healthcheck.replace(schedule, stale))).toBe(1)
  })
})

describe('fake Open WebUI needs its backends', () => {
  it('exits like Open WebUI when Redis refuses REDIS_URL or the database is unreachable, starts when both answer', async () => {
    const dir = tmpDir()
    const port = await freePort()
    const redis = await startService({ cmd: 'redis-server', args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--requirepass', 'right', '--dir', dir.path], port })
    try {
      // the database stand-in takes a port the system gives it: a port picked before listening can be
      // taken meanwhile by another suite's server (an uncaught EADDRINUSE)
      const { createServer } = await import('node:net')
      const pg = createServer((s) => s.end())
      await new Promise<void>((resolve, reject) => { pg.once('error', reject).listen(0, '127.0.0.1', () => resolve()) })
      const db = (pg.address() as { port: number }).port
      const base = { PORT: String(await freePort()), FAKE_BACKEND_WAIT_MS: '1500', DATABASE_URL: `postgresql://u:p@127.0.0.1:${db}/openwebui` }
      expect(await start('openwebui', [], { ...base, REDIS_URL: `redis://:wrong@127.0.0.1:${port}/0` })).toEqual({ servers: [], exitCode: 1 })
      expect(await start('openwebui', [], { ...base, REDIS_URL: `redis://:right@127.0.0.1:${port}/0`, DATABASE_URL: `postgresql://u:p@127.0.0.1:${await freePort()}/x` })).toEqual({ servers: [], exitCode: 1 })
      const ok = await start('openwebui', [], { ...base, REDIS_URL: `redis://:right@127.0.0.1:${port}/0` }) as { servers: Server[] }
      expect(ok.servers).toHaveLength(1)
      expect((await fetch(`http://127.0.0.1:${base.PORT}/health/db`)).status).toBe(200)
      pg.close()
    } finally { await redis.stop(); dir.remove() }
  })
})

describe('fake python', () => {
  it('runs the healthcheck one-liners it knows and refuses other code', async () => {
    const { runCode, pyStringExpr } = await import(join(LIB, 'shims', 'python.mjs')) as { runCode(code: string, env?: NodeJS.ProcessEnv): Promise<number>; pyStringExpr(e: string, env: NodeJS.ProcessEnv): string }
    expect(pyStringExpr(`'http://127.0.0.1:' + os.environ.get('PORT', '8010') + '/health'`, {})).toBe('http://127.0.0.1:8010/health')
    expect(pyStringExpr(`'http://127.0.0.1:' + os.environ.get('PORT', '8010') + '/health'`, { PORT: '9' })).toBe('http://127.0.0.1:9/health')
    const closed = await freePort()
    expect(await runCode(`import urllib.request; urllib.request.urlopen('http://127.0.0.1:${closed}/health', timeout=5)`)).toBe(1)
    expect(await runCode('print("hello")')).toBe(2)
  })
})

describe('fake Open WebUI keeps a schema revision in a real PostgreSQL', () => {
  it('migrates forward to its own revision, and refuses a database a newer version migrated (like alembic)', async () => {
    const { startPostgres } = await import('../../helpers/postgres.ts')
    const pg = await startPostgres()
    try {
      pg.sql('CREATE DATABASE owui')
      const url = `postgresql://${pg.user}:${encodeURIComponent(pg.password)}@127.0.0.1:${pg.port}/owui`
      const { migrate } = await import(join(LIB, 'openwebui.mjs')) as { migrate(url: string, target: string): Promise<{ from: string | null; to: string; applied: string[] }> }
      expect(await migrate(url, '0002_e2e_archived')).toEqual({ from: null, to: '0002_e2e_archived', applied: ['0001_e2e_chat', '0002_e2e_archived'] })
      pg.sql("INSERT INTO chat (title) VALUES ('before the upgrade')", 'owui')
      expect(await migrate(url, '0002_e2e_archived')).toMatchObject({ applied: [] })
      expect(await migrate(url, '0004_e2e_folder')).toMatchObject({ from: '0002_e2e_archived', applied: ['0003_e2e_tag', '0004_e2e_folder'] })
      expect(pg.sql('SELECT version_num FROM alembic_version', 'owui').trim()).toBe('0004_e2e_folder')
      expect(pg.sql('SELECT title, folder_id FROM chat', 'owui').trim()).toBe('before the upgrade|inbox')
      // the previous version cannot run on the migrated schema: the database must be restored first
      await expect(migrate(url, '0003_e2e_tag')).rejects.toThrow("Can't locate revision identified by '0004_e2e_folder'")
      // and a wrong password is refused by the server's SCRAM check (the client can fail)
      await expect(migrate(url.replace(encodeURIComponent(pg.password), 'wrong'), '0004_e2e_folder')).rejects.toThrow(/password authentication failed/)
    } finally {
      await pg.stop()
    }
  }, 60_000)
})
