// A minimal HTTP/1.1 keep-alive client connection for http mode. Measured on 2 cores against
// nginx (c=50): this ~= wrk, undici's Client ~0.65x, node:http Agent ~0.2x. It only needs
// the status, the length of the response and when it ended, so it frames responses
// (Content-Length, chunked, until-close) without building header objects or body buffers.
import net from 'node:net'
import tls from 'node:tls'
import { classifyError, type ErrorKind } from './records.ts'

export interface Target {
  https: boolean
  host: string
  port: number
  /** Accept self-signed or otherwise unverifiable certificates (--insecure). */
  insecure: boolean
}

export interface RawResult {
  status: number
  bytes: number
  error: ErrorKind | null
}

const enum St { Head, Length, Chunked, UntilClose }
const enum Ch { Size, Data, DataCrlf, Trailer }

const CRLF2 = Buffer.from('\r\n\r\n')

/** Target of a URL (http: or https:), with the default port filled in. */
export function targetOf(url: URL, insecure: boolean): Target {
  const https = url.protocol === 'https:'
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return { https, host, port: Number(url.port) || (https ? 443 : 80), insecure }
}

/** The bytes of one request, built once and written for every send. */
export function buildRequest(o: {
  method: string; url: URL; headers: [string, string][]; body?: Buffer; keepAlive: boolean
}): Buffer {
  const lines = [`${o.method} ${o.url.pathname}${o.url.search} HTTP/1.1`]
  const has = (name: string) => o.headers.some(([k]) => k.toLowerCase() === name)
  if (!has('host')) lines.push(`Host: ${o.url.host}`)
  if (!has('user-agent')) lines.push('User-Agent: owp-load-test/1')
  for (const [k, v] of o.headers) lines.push(`${k}: ${v}`)
  if (o.body && !has('content-length')) lines.push(`Content-Length: ${o.body.length}`)
  else if (!o.body && /^(POST|PUT|PATCH)$/.test(o.method)) lines.push('Content-Length: 0')
  if (!o.keepAlive && !has('connection')) lines.push('Connection: close')
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
  return o.body ? Buffer.concat([head, o.body]) : head
}

interface Pending {
  buf: Buffer
  noBody: boolean
  retried: boolean
  resolve: (r: RawResult) => void
}

export class RawConnection {
  private socket: net.Socket | null = null
  private pending: Pending | null = null
  private lastError: unknown = null
  /** Responses completed on the current socket: a reused socket may have been closed by the server. */
  private used = 0
  // Response framing state.
  private st: St = St.Head
  private head: Buffer | null = null
  private status = 0
  private keepAlive = true
  private remaining = 0
  private ch: Ch = Ch.Size
  private line = ''
  private received = 0

  constructor(private readonly target: Target) {}

  /** Send one request and resolve when its response has ended (never rejects). */
  request(buf: Buffer, noBody = false): Promise<RawResult> {
    return new Promise((resolve) => this.send({ buf, noBody, retried: false, resolve }))
  }

  /** Give up on the request in flight (timeout): the socket is dropped. */
  abort(kind: ErrorKind): void {
    const p = this.pending
    if (!p) return
    this.drop()
    this.finish({ status: 0, bytes: this.received, error: kind })
  }

  close(): void {
    this.drop()
  }

  get busy(): boolean { return this.pending !== null }

  private send(p: Pending): void {
    this.pending = p
    this.resetFraming()
    this.received = 0
    if (!this.socket || this.socket.destroyed) this.connect()
    this.socket!.write(p.buf)
  }

  private connect(): void {
    const t = this.target
    const s = t.https
      ? tls.connect({ host: t.host, port: t.port, servername: net.isIP(t.host) ? undefined : t.host, rejectUnauthorized: !t.insecure, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host: t.host, port: t.port })
    s.setNoDelay(true)
    this.used = 0
    this.lastError = null
    s.on('data', (d: Buffer) => { if (s === this.socket) this.onData(d) })
    s.on('error', (e) => { if (s === this.socket) this.lastError = e })
    s.on('close', () => { if (s === this.socket) this.onClose() })
    this.socket = s
  }

  private drop(): void {
    const s = this.socket
    this.socket = null
    s?.destroy()
  }

  private onClose(): void {
    this.socket = null
    const p = this.pending
    if (!p) return
    if (this.st === St.UntilClose) return this.finish({ status: this.status, bytes: this.received, error: null })
    if (this.received === 0 && this.used > 0 && !p.retried) {
      // The server closed an idle keep-alive connection as we reused it: send again once.
      this.pending = null
      return this.send({ ...p, retried: true })
    }
    const error: ErrorKind = this.lastError ? classifyError(this.lastError) : this.received ? 'closed' : 'reset'
    this.finish({ status: this.st === St.Head ? 0 : this.status, bytes: this.received, error })
  }

  private finish(r: RawResult): void {
    const p = this.pending
    this.pending = null
    this.used++
    this.resetFraming()
    if (r.error === null && !this.keepAlive) this.drop()
    p?.resolve(r)
  }

  private resetFraming(): void {
    this.st = St.Head
    this.head = null
    this.ch = Ch.Size
    this.line = ''
  }

  private onData(d: Buffer): void {
    if (!this.pending) return // bytes after a response we gave up on
    this.received += d.length
    let i = 0
    if (this.st === St.Head) {
      const from = this.head ? Math.max(0, this.head.length - 3) : 0
      const buf = this.head ? Buffer.concat([this.head, d]) : d
      const end = buf.indexOf(CRLF2, from)
      if (end < 0) { this.head = buf; return }
      const bodyStart = end + 4
      const headOffset = buf.length - d.length // bytes of buf that came before d
      this.head = null
      if (!this.parseHead(buf, end)) return this.abortWith('parse')
      if (this.status >= 100 && this.status < 200 && this.status !== 101) {
        // An interim response (100 Continue, 103 Early Hints): the real one follows.
        const rest = buf.subarray(bodyStart)
        this.received -= rest.length
        return rest.length ? this.onData(rest) : undefined
      }
      if (this.st === St.Head) return this.finish({ status: this.status, bytes: this.received - (buf.length - bodyStart), error: null })
      i = bodyStart - headOffset
      if (i >= d.length) return this.st === St.Length && this.remaining === 0 ? this.done() : undefined
    }
    if (this.st === St.Length) {
      this.remaining -= d.length - i
      if (this.remaining <= 0) this.done()
    } else if (this.st === St.Chunked) {
      this.chunked(d, i)
    }
  }

  private parseHead(buf: Buffer, end: number): boolean {
    if (buf[0] !== 0x48 || buf.toString('latin1', 0, 7) !== 'HTTP/1.') return false
    this.status = (buf[9]! - 48) * 100 + (buf[10]! - 48) * 10 + (buf[11]! - 48)
    if (!(this.status >= 100 && this.status <= 999)) return false
    const http10 = buf[7] === 0x30
    let length = -1
    let chunked = false
    let conn = ''
    const text = buf.toString('latin1', 0, end)
    let at = text.indexOf('\r\n')
    while (at >= 0 && at < text.length) {
      const next = text.indexOf('\r\n', at + 2)
      const lineEnd = next < 0 ? text.length : next
      const first = text.charCodeAt(at + 2) | 0x20 // only names starting with c or t matter
      const colon = first === 0x63 || first === 0x74 ? text.indexOf(':', at + 2) : -1
      if (colon > 0 && colon < lineEnd) {
        const name = text.slice(at + 2, colon).toLowerCase()
        if (name === 'content-length') length = Number(text.slice(colon + 1, lineEnd).trim())
        else if (name === 'transfer-encoding') chunked = /chunked/i.test(text.slice(colon + 1, lineEnd))
        else if (name === 'connection') conn = text.slice(colon + 1, lineEnd).trim().toLowerCase()
      }
      at = next
    }
    this.keepAlive = http10 ? conn === 'keep-alive' : conn !== 'close'
    const s = this.status
    if (this.pending!.noBody || s === 204 || s === 304 || (s >= 100 && s < 200)) {
      this.st = St.Head // no body: complete now
      if (s === 101) this.keepAlive = false
    } else if (chunked) {
      this.st = St.Chunked
      this.ch = Ch.Size
    } else if (length >= 0 && Number.isFinite(length)) {
      this.st = St.Length
      this.remaining = length
    } else {
      this.st = St.UntilClose
      this.keepAlive = false
    }
    return true
  }

  private chunked(d: Buffer, from: number): void {
    let i = from
    while (i < d.length) {
      if (this.ch === Ch.Data) {
        const take = Math.min(this.remaining, d.length - i)
        i += take
        this.remaining -= take
        if (this.remaining === 0) { this.ch = Ch.DataCrlf; this.remaining = 2 }
      } else if (this.ch === Ch.DataCrlf) {
        const take = Math.min(this.remaining, d.length - i)
        i += take
        this.remaining -= take
        if (this.remaining === 0) this.ch = Ch.Size
      } else {
        const nl = d.indexOf(0x0a, i)
        if (nl < 0) { this.line += d.toString('latin1', i); return }
        const line = (this.line + d.toString('latin1', i, nl)).replace(/\r$/, '')
        this.line = ''
        i = nl + 1
        if (this.ch === Ch.Size) {
          const size = parseInt(line.split(';')[0]!.trim(), 16)
          if (!Number.isFinite(size) || size < 0) return this.abortWith('parse')
          if (size === 0) this.ch = Ch.Trailer
          else { this.ch = Ch.Data; this.remaining = size }
        } else if (line === '') {
          return this.done() // the empty line after the last chunk (and any trailers)
        }
      }
    }
  }

  private done(): void {
    this.finish({ status: this.status, bytes: this.received, error: null })
  }

  private abortWith(kind: ErrorKind): void {
    this.drop()
    this.finish({ status: this.status, bytes: this.received, error: kind })
  }
}
