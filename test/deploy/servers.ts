// Real HTTP(S) servers on 127.0.0.1 for validate-prod, and certificates made by openssl.
import { createServer as createHttps } from 'node:https'
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, mkdirSync, symlinkSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { tmpDirOwned } from '../helpers/tmp.ts'

export interface TestServer { port: number; url: string; hits: string[]; close(): Promise<void> }

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

export interface Cert { cert: string; key: string; certFile: string; keyFile: string; dir: string }

/**
 * A self-signed certificate for `name` that expires in `days` days (negative: expired that long
 * ago), made by the real openssl: a request, then `x509 -req -days` (which takes negative days).
 */
export function selfSigned(name: string, days: number): Cert {
  const dir = tmpDirOwned('owp-cert-').path
  const certFile = join(dir, 'tls.crt')
  const keyFile = join(dir, 'tls.key')
  const csr = join(dir, 'tls.csr')
  const ext = join(dir, 'ext.cnf')
  writeFileSync(ext, `subjectAltName=DNS:${name},IP:127.0.0.1\n`)
  try {
    execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', `/CN=${name}`, '-keyout', keyFile, '-out', csr], { stdio: 'pipe' })
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-signkey', keyFile, '-sha256', '-days', String(days), '-extfile', ext, '-out', certFile], { stdio: 'pipe' })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('openssl is not installed: run make setup (Debian package openssl)')
    throw e
  }
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile, dir }
}

function listen(server: ReturnType<typeof createHttp>, scheme: string, port = 0): Promise<TestServer> {
  const hits: string[] = []
  server.on('request', (req: IncomingMessage) => hits.push(`${req.method} ${req.url} host=${req.headers.host}`))
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => {
    const p = (server.address() as AddressInfo).port
    resolve({
      port: p, url: `${scheme}://127.0.0.1:${p}`, hits,
      close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()) }),
    })
  }))
}

export function httpsServer(cert: Cert, handler: Handler, port = 0): Promise<TestServer> {
  return listen(createHttps({ cert: cert.cert, key: cert.key }, handler) as unknown as ReturnType<typeof createHttp>, 'https', port)
}

export function httpServer(handler: Handler, port = 0): Promise<TestServer> {
  return listen(createHttp(handler), 'http', port)
}

/** Answers /health with 200 after `delayMs`, everything else 404. */
export function health(delayMs = 0, status = 200): Handler {
  return (req, res) => {
    const answer = () => {
      if (req.url === '/health' || req.url === '/healthz' || req.url === '/readyz') { res.writeHead(status, { 'content-type': 'application/json' }); res.end(status === 200 ? '{"status":true}' : '{"error":"db down"}') }
      else { res.writeHead(404); res.end('not found') }
    }
    if (delayMs) setTimeout(answer, delayMs)
    else answer()
  }
}

/**
 * A PATH directory with only the basic tools the fake executables need (bash, grep, cat, date,
 * sleep): a machine without docker-compose, trivy or a real docker.
 */
export function barePath(): string {
  const dir = tmpDirOwned('owp-bare-').path
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  for (const tool of ['bash', 'grep', 'cat', 'date', 'sleep', 'env', 'sh']) {
    const from = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p))
    if (from) symlinkSync(from, join(bin, tool))
  }
  symlinkSync(process.execPath, join(bin, 'node'))
  return bin
}
