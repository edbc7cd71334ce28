// The production NGINX templates, rendered the way the image renders them but with local values,
// checked by `nginx -t` and then served by a real nginx on 127.0.0.1 in front of local upstreams.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { chmodSync, mkdirSync, readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import WebSocket from 'ws'
import { renderNginxTemplates, nginxConfigTest, templateVariables } from '../../scripts/lib/stack/nginx.ts'
import { makeSelfSignedCert } from '../../scripts/lib/stack/tls.ts'
import { loadCompose } from '../../scripts/lib/stack/env.ts'
import { testCtx } from '../helpers/context.ts'
import { freePort } from '../helpers/net.ts'
import { startService, type Service } from '../helpers/service.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { requireTool, testEnv } from './tools.ts'
import { startUpstream, STREAM_HOLD_MS, type Upstream } from './upstreams.ts'
import { startDns, type Dns } from './dns.ts'
import { writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { backendSwitchConf, nginxPsScript, parseNginxWorkers } from '../../scripts/lib/stack/nginx.ts'

interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

const tmp = tmpDir('owp-nginx-')
let ca: Buffer
let ports: { http: number; https: number; status: number }
let vars: Record<string, string>
let up: Record<'openwebui' | 'graphrag' | 'mcp' | 'grafana', Upstream>
let nginx: Service
let dns: Dns
let dnsPort: number
let mainConf: string
const ctx = testCtx()

function https(path: string, o: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: ports.https, path, method: o.method ?? 'GET', headers: { host: 'localhost', ...o.headers }, ca, agent: false }, (res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

function http(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host: 'localhost', ...headers }, agent: false }, (res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Stream a response; report whether the first event arrived while the upstream still held the stream. */
function firstEventTiming(path: string, upstream: Upstream, releaseOnFirst: boolean): Promise<{ firstBeforeUpstreamEnd: boolean; body: string; status: number; contentType?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: ports.https, path, headers: { host: 'localhost', accept: 'text/event-stream' }, ca, agent: false }, (res) => {
      let body = ''
      let firstBeforeUpstreamEnd: boolean | undefined
      res.on('data', (d) => {
        if (firstBeforeUpstreamEnd === undefined) {
          firstBeforeUpstreamEnd = !upstream.streamEnded()
          if (releaseOnFirst) upstream.release()
        }
        body += d
      })
      res.on('end', () => resolve({ firstBeforeUpstreamEnd: firstBeforeUpstreamEnd ?? false, body, status: res.statusCode!, contentType: res.headers['content-type'] }))
    })
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  for (const tool of ['nginx', 'envsubst', 'openssl']) requireTool(tool)
  // Run as root, nginx workers drop to nobody: they must reach the temp paths under the run dir.
  chmodSync(tmp.path, 0o755)
  const run = join(tmp.path, 'run')
  mkdirSync(run, { mode: 0o777 })
  chmodSync(run, 0o777)
  const cert = await makeSelfSignedCert(ctx, { domain: 'localhost', dir: join(tmp.path, 'certs') })
  ca = readFileSync(cert.cert)
  const [openwebui, graphrag, mcp, grafana] = await Promise.all(['openwebui', 'graphrag', 'mcp', 'grafana'].map((n) => startUpstream(n)))
  up = { openwebui: openwebui!, graphrag: graphrag!, mcp: mcp!, grafana: grafana! }
  ports = { http: await freePort(), https: await freePort(), status: await freePort() }
  dns = await startDns()
  dnsPort = dns.port
  mkdirSync(join(tmp.path, 'backends'))
  vars = {
    NGINX_SERVER_NAME: 'localhost',
    NGINX_PUBLIC_URL: `https://localhost:${ports.https}`,
    NGINX_LISTEN_HTTP: `127.0.0.1:${ports.http}`,
    NGINX_LISTEN_HTTPS: `127.0.0.1:${ports.https}`,
    NGINX_LISTEN_STATUS: `127.0.0.1:${ports.status}`,
    NGINX_STATUS_ALLOW: '127.0.0.0/8',
    NGINX_RUN_DIR: run,
    NGINX_ACCESS_LOG: join(tmp.path, 'access.log'),
    NGINX_TLS_CERT: cert.cert,
    NGINX_TLS_KEY: cert.key,
    NGINX_CLIENT_MAX_BODY_SIZE: '1m',
    NGINX_UPSTREAM_OPENWEBUI: `127.0.0.1:${up.openwebui.port}`,
    NGINX_UPSTREAM_GRAPHRAG: `127.0.0.1:${up.graphrag.port}`,
    NGINX_UPSTREAM_MCP: `127.0.0.1:${up.mcp.port}`,
    NGINX_UPSTREAM_GRAFANA: `127.0.0.1:${up.grafana.port}`,
    NGINX_RESOLVER: `127.0.0.1:${dnsPort}`,
    NGINX_BACKENDS_DIR: join(tmp.path, 'backends'),
  }
  const main = await renderNginxTemplates(ctx, { outputDir: join(tmp.path, 'conf'), vars })
  mainConf = main
  const check = await nginxConfigTest(ctx, main)
  if (!check.ok) throw new Error(`nginx -t failed:\n${check.output}`)
  nginx = await startService({ cmd: 'nginx', args: ['-e', 'stderr', '-c', main, '-g', 'daemon off;'], port: ports.https, timeoutMs: 20_000 })
})

afterAll(async () => {
  await nginx?.stop()
  await Promise.all(Object.values(up ?? {}).map((u) => u.close()))
  await dns?.close()
  tmp.remove()
})

describe('nginx templates', () => {
  it('use exactly the NGINX_* variables the compose nginx service defines', () => {
    const env = loadCompose(testEnv()).doc.services.nginx!.environment as Record<string, string>
    const fromCompose = Object.keys(env).filter((k) => k.startsWith('NGINX_') && !k.startsWith('NGINX_ENVSUBST_'))
    expect([...templateVariables()].sort()).toEqual(fromCompose.sort())
    expect(Object.keys(vars).sort()).toEqual(fromCompose.sort())
    expect(env.NGINX_ENVSUBST_FILTER).toBe('^NGINX_')
  })

  it('pass nginx -t, and a broken value fails it (the check can fail)', async () => {
    const broken = await renderNginxTemplates(ctx, { outputDir: join(tmp.path, 'broken'), vars: { ...vars, NGINX_CLIENT_MAX_BODY_SIZE: 'lots' } })
    const r = await nginxConfigTest(ctx, broken)
    expect(r.ok).toBe(false)
    expect(r.output).toContain('client_max_body_size')
  })

  it('refuses to render when a variable is missing', async () => {
    const { NGINX_TLS_KEY: _dropped, ...partial } = vars
    await expect(renderNginxTemplates(ctx, { outputDir: join(tmp.path, 'partial'), vars: partial })).rejects.toThrow(/unrendered: NGINX_TLS_KEY/)
  })
})

describe('a real nginx with the production configuration', () => {
  it('redirects HTTP to the public HTTPS URL, path and query kept', async () => {
    const r = await http(ports.http, '/c/abc?x=1&y=2')
    expect(r.status).toBe(301)
    expect(r.headers.location).toBe(`https://localhost:${ports.https}/c/abc?x=1&y=2`)
  })

  it('serves Open WebUI over TLS with the security headers, also on errors', async () => {
    const r = await https('/')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).service).toBe('openwebui')
    const tooBig = await https('/api/v1/files/', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024) })
    expect(tooBig.status).toBe(413)
    for (const res of [r, tooBig]) {
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d{7,}/)
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN')
      expect(res.headers['referrer-policy']).toBe('strict-origin-when-cross-origin')
      expect(res.headers['permissions-policy']).toContain('camera=()')
      expect(res.headers.server).toBe('nginx')
    }
  })

  it('accepts uploads up to client_max_body_size', async () => {
    const r = await https('/api/v1/files/', { method: 'POST', body: Buffer.alloc(512 * 1024) })
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).bodyBytes).toBe(512 * 1024)
  })

  it('passes the client address and scheme, not a client-supplied X-Forwarded-For', async () => {
    const r = await https('/api/config', { headers: { 'x-forwarded-for': '203.0.113.9' } })
    const seen = JSON.parse(r.body).headers
    expect(seen['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen['x-real-ip']).toBe('127.0.0.1')
    expect(seen['x-forwarded-proto']).toBe('https')
    expect(seen.host).toBe('localhost')
  })

  it('upgrades the Open WebUI socket to a websocket', async () => {
    const ws = new WebSocket(`wss://localhost:${ports.https}/ws/socket.io/?EIO=4&transport=websocket`, { ca })
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('ping'))
      ws.once('message', (m) => resolve(String(m)))
      ws.once('error', reject)
    })
    ws.close()
    expect(reply).toBe('echo:ping')
    const hit = up.openwebui.hits.filter((h) => h.method === 'UPGRADE').at(-1)!
    expect(hit.url).toBe('/ws/socket.io/?EIO=4&transport=websocket')
    expect(hit.headers.upgrade).toBe('websocket')
  })

  it('streams token events unbuffered: the first arrives while the upstream is still generating', async () => {
    const r = await firstEventTiming('/api/chat/completions', up.openwebui, true)
    expect(r.status).toBe(200)
    expect(r.contentType).toContain('text/event-stream')
    expect(r.firstBeforeUpstreamEnd).toBe(true)
    expect(r.body).toContain('data: [DONE]')
  })

  it('buffers other routes (the streaming check can fail)', async () => {
    const started = Date.now()
    const r = await firstEventTiming('/api/v1/files/stream', up.openwebui, false)
    expect(r.firstBeforeUpstreamEnd).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(STREAM_HOLD_MS - 100)
  })

  it('streams the MCP and GraphRAG routes too, without their path prefix', async () => {
    const r = await firstEventTiming('/mcp/stream', up.mcp, true)
    expect(r.firstBeforeUpstreamEnd).toBe(true)
    expect(up.mcp.hits.at(-1)!.url).toBe('/stream')
    const g = await https('/graphrag/health')
    expect(JSON.parse(g.body)).toMatchObject({ service: 'graphrag', url: '/health' })
  })

  it('keeps the internal metrics of GraphRAG and MCP off the public site', async () => {
    const before = up.graphrag.hits.length + up.mcp.hits.length
    expect((await https('/graphrag/metrics')).status).toBe(404)
    expect((await https('/mcp/metrics')).status).toBe(404)
    expect(up.graphrag.hits.length + up.mcp.hits.length).toBe(before)
  })

  it('serves Grafana under /grafana/ with its sub-path intact', async () => {
    const r = await https('/grafana/api/health')
    expect(JSON.parse(r.body)).toMatchObject({ service: 'grafana', url: '/grafana/api/health' })
  })

  it('rate-limits sign-in: 429 after the burst, and the limited requests never reach Open WebUI', async () => {
    const before = up.openwebui.hits.filter((h) => h.url === '/api/v1/auths/signin').length
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) statuses.push((await https('/api/v1/auths/signin', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"a@b.c","password":"x"}' })).status)
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200])
    expect(statuses.slice(6)).toEqual([429, 429, 429, 429])
    expect(up.openwebui.hits.filter((h) => h.url === '/api/v1/auths/signin').length - before).toBe(6)
    // Other routes are not limited.
    expect((await https('/api/models')).status).toBe(200)
  })

  it('goes where the switch file says after a graceful reload, and back to the service names', async () => {
    const green = await startUpstream('graphrag-green')
    dns.records.set('owp-graphrag-processor-2', '127.0.0.1')
    try {
      // the deploy kit's switch: a container name (a DNS name on the compose network) and its port
      writeFileSync(join(vars.NGINX_BACKENDS_DIR!, 'switch.conf'), backendSwitchConf({ 'graphrag-processor': `owp-graphrag-processor-2` }).replace(':8010', `:${green.port}`))
      execFileSync('nginx', ['-s', 'reload', '-c', mainConf], { stdio: 'pipe' })
      const reached = async (u: Upstream) => {
        for (let i = 0; i < 50; i++) {
          const before = u.hits.length
          await https('/graphrag/health')
          if (u.hits.length > before) return true
          await new Promise((r) => setTimeout(r, 100))
        }
        return false
      }
      expect(await reached(green)).toBe(true)
      expect(green.hits.at(-1)!.url).toBe('/health')
      writeFileSync(join(vars.NGINX_BACKENDS_DIR!, 'switch.conf'), backendSwitchConf({}))
      execFileSync('nginx', ['-s', 'reload', '-c', mainConf], { stdio: 'pipe' })
      expect(await reached(up.graphrag)).toBe(true)
    } finally {
      await green.close()
    }
  })

  it('resolves backend names at request time: a backend re-created under another address is found without a reload', async () => {
    // a container re-created by hand: same name, same port, a new address (127.0.0.2 -> 127.0.0.3)
    const port = await freePort()
    const first = await startUpstream('mcp-first', { host: '127.0.0.2', port })
    dns.records.set('owp-mcp-moving', '127.0.0.2')
    writeFileSync(join(vars.NGINX_BACKENDS_DIR!, 'switch.conf'), backendSwitchConf({ 'mcp-server': 'owp-mcp-moving' }).replace(':8020', `:${port}`))
    execFileSync('nginx', ['-s', 'reload', '-c', mainConf], { stdio: 'pipe' })
    let second: Upstream | null = null
    try {
      const answeredBy = async () => { const r = await https('/mcp/health'); return r.status === 200 ? (JSON.parse(r.body) as { service: string }).service : `status ${r.status}` }
      const until = async (want: string) => {
        for (let i = 0; i < 150; i++) { if (await answeredBy() === want) return true; await new Promise((r) => setTimeout(r, 100)) }
        return false
      }
      expect(await until('mcp-first')).toBe(true)
      await first.close()
      second = await startUpstream('mcp-second', { host: '127.0.0.3', port })
      dns.records.set('owp-mcp-moving', '127.0.0.3')
      // no reload: the resolver's answer expires (valid=5s) and the next request finds the new address
      expect(await until('mcp-second')).toBe(true)
      expect(dns.queries.filter((q) => q === 'owp-mcp-moving').length).toBeGreaterThanOrEqual(2)
    } finally {
      await first.close().catch(() => {})
      await second?.close()
      writeFileSync(join(vars.NGINX_BACKENDS_DIR!, 'switch.conf'), backendSwitchConf({}))
      execFileSync('nginx', ['-s', 'reload', '-c', mainConf], { stdio: 'pipe' })
    }
  }, 30_000)

  it('gives every request an X-Request-ID: generated when absent, a well-formed one forwarded, a malformed one replaced', async () => {
    const fresh = await https('/api/config')
    const generated = fresh.headers['x-request-id'] as string
    expect(generated).toMatch(/^[0-9a-f]{32}$/)
    expect(JSON.parse(fresh.body).headers['x-request-id']).toBe(generated)
    const given = await https('/api/config', { headers: { 'x-request-id': 'corr-4711.abc:1' } })
    expect(given.headers['x-request-id']).toBe('corr-4711.abc:1')
    expect(JSON.parse(given.body).headers['x-request-id']).toBe('corr-4711.abc:1')
    const bad = await https('/api/config', { headers: { 'x-request-id': 'no spaces "or quotes"' } })
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/)
    expect(JSON.parse(bad.body).headers['x-request-id']).toBe(bad.headers['x-request-id'])
    // errors answered by nginx itself carry it too
    expect((await https('/graphrag/metrics', { headers: { 'x-request-id': 'err-1' } })).headers['x-request-id']).toBe('err-1')
  })

  it('logs each request as one JSON line with its request id, and no query string', async () => {
    const id = `log-${Date.now()}`
    await https('/api/v1/chats/?token=s3cret-in-query', { headers: { 'x-request-id': id, 'user-agent': 'agent "quoted" \\ x' } })
    const line = async () => {
      for (let i = 0; i < 50; i++) {
        const l = readFileSync(vars.NGINX_ACCESS_LOG!, 'utf8').split('\n').find((x) => x.includes(id))
        if (l) return l
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error(`no access log line with ${id}`)
    }
    const text = await line()
    expect(text).not.toContain('s3cret-in-query')
    const entry = JSON.parse(text) as Record<string, unknown>
    expect(entry).toMatchObject({ request_id: id, method: 'GET', path: '/api/v1/chats/', status: 200, user_agent: 'agent "quoted" \\ x', upstream_status: '200' })
    expect(typeof entry.request_time).toBe('number')
    // every line of the log parses, whatever the request was
    for (const l of readFileSync(vars.NGINX_ACCESS_LOG!, 'utf8').split('\n').filter(Boolean)) expect(() => JSON.parse(l), l).not.toThrow()
  })

  it('answers stub_status and /healthz on the internal status port only', async () => {
    const s = await http(ports.status, '/stub_status')
    expect(s.status).toBe(200)
    expect(s.body).toMatch(/^Active connections: \d+/)
    expect((await http(ports.status, '/healthz')).body).toBe('ok\n')
    expect((await https('/stub_status')).body).not.toContain('Active connections')
  })
})

describe('the listing of NGINX\'s processes a blue-green switch reads', () => {
  // a process that ends between the glob and the read (a healthcheck's wget, an old worker) left a
  // /proc entry whose cmdline no longer opens: as the last entry, it failed the listing (dash: exit 2)
  // and with it the deploy's pin ("command failed (exit code 2) ... exec -T nginx sh -c ...")
  it('skips a process that ended while it was listed, and exits 0 with the others', () => {
    const proc = tmpDir('owp-fake-proc-')
    try {
      for (const [pid, title] of [['1', 'nginx: master process nginx'], ['20', 'nginx: worker process'], ['21', 'nginx: worker process is shutting down']]) {
        mkdirSync(join(proc.path, pid!))
        writeFileSync(join(proc.path, pid!, 'cmdline'), `${title}\0`)
      }
      mkdirSync(join(proc.path, '99999')) // ended: no cmdline to open
      for (const sh of ['dash', 'bash']) { // Debian's /bin/sh and bash (the nginx images' shells: dash, busybox ash)
        const out = execFileSync(sh, ['-c', nginxPsScript(proc.path)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        expect(parseNginxWorkers(out), sh).toEqual([{ pid: 20, shuttingDown: false }, { pid: 21, shuttingDown: true }])
      }
    } finally { proc.remove() }
  })
})
