// A minimal RESP client (enough for the fake Celery worker, beat and exporter): one command at a
// time per connection, AUTH and SELECT from a redis:// URL.
import { connect } from 'node:net'

function encode(args) {
  return `*${args.length}\r\n${args.map((a) => { const s = String(a); return `$${Buffer.byteLength(s)}\r\n${s}\r\n` }).join('')}`
}

/** Parse one reply from buf at offset; returns [value, nextOffset] or null when incomplete. */
export function parseReply(buf, at = 0) {
  const eol = buf.indexOf('\r\n', at)
  if (eol < 0) return null
  const type = String.fromCharCode(buf[at])
  const line = buf.toString('utf8', at + 1, eol)
  const next = eol + 2
  if (type === '+') return [line, next]
  if (type === '-') return [new Error(line), next]
  if (type === ':') return [Number(line), next]
  if (type === '$') {
    const n = Number(line)
    if (n < 0) return [null, next]
    if (buf.length < next + n + 2) return null
    return [buf.toString('utf8', next, next + n), next + n + 2]
  }
  if (type === '*') {
    const n = Number(line)
    if (n < 0) return [null, next]
    const items = []
    let pos = next
    for (let i = 0; i < n; i++) {
      const r = parseReply(buf, pos)
      if (!r) return null
      items.push(r[0]); pos = r[1]
    }
    return [items, pos]
  }
  throw new Error(`bad RESP type ${type}`)
}

export async function redisClient(url, { timeoutMs = 5000 } = {}) {
  const u = new URL(url || 'redis://redis:6379/0')
  const sock = connect({ host: u.hostname || 'redis', port: Number(u.port || 6379) })
  let buf = Buffer.alloc(0)
  const waiting = []
  let closed = null
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    for (;;) {
      const r = parseReply(buf)
      if (!r) break
      buf = buf.subarray(r[1])
      const w = waiting.shift()
      if (w) r[0] instanceof Error ? w.reject(r[0]) : w.resolve(r[0])
    }
  })
  const failAll = (e) => { closed = e; while (waiting.length) waiting.shift().reject(e) }
  sock.on('error', failAll)
  sock.on('close', () => failAll(closed ?? new Error('redis connection closed')))
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => { sock.destroy(); reject(new Error(`redis ${u.host}: connect timeout`)) }, timeoutMs)
    sock.once('connect', () => { clearTimeout(t); resolve() })
    sock.once('error', (e) => { clearTimeout(t); reject(e) })
  })
  const call = (...args) => {
    if (closed) return Promise.reject(closed)
    return new Promise((resolve, reject) => { waiting.push({ resolve, reject }); sock.write(encode(args)) })
  }
  const password = decodeURIComponent(u.password || '')
  if (password) await (u.username ? call('AUTH', decodeURIComponent(u.username), password) : call('AUTH', password))
  const db = u.pathname.replace('/', '')
  if (db && db !== '0') await call('SELECT', db)
  return { call, close: () => sock.destroy() }
}
