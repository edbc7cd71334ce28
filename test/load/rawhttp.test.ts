// The raw HTTP/1.1 client frames every kind of response, even when it arrives a byte at a time.
import { describe, it, expect, afterEach } from 'vitest'
import net from 'node:net'
import { RawConnection, buildRequest, targetOf } from '../../scripts/lib/load/rawhttp.ts'

interface Crafted { port: number; connections: () => number; requests: string[]; close(): Promise<void> }

/** A TCP server that answers each request with the next scripted bytes, written in small pieces. */
function craftedServer(answers: (string | ((sock: net.Socket) => void))[], pieceSize = 1): Promise<Crafted> {
  let conns = 0
  const requests: string[] = []
  const sockets = new Set<net.Socket>()
  let next = 0
  const server = net.createServer((sock) => {
    conns++
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    let buf = ''
    sock.on('data', async (d) => {
      buf += d.toString('latin1')
      while (buf.includes('\r\n\r\n')) {
        const end = buf.indexOf('\r\n\r\n') + 4
        const head = buf.slice(0, end)
        const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        if (buf.length < end + len) return
        requests.push(buf.slice(0, end + len))
        buf = buf.slice(end + len)
        const a = answers[next++ % answers.length]!
        if (typeof a === 'function') { a(sock); continue }
        for (let i = 0; i < a.length; i += pieceSize) {
          sock.write(Buffer.from(a.slice(i, i + pieceSize), 'latin1'))
          await new Promise((r) => setImmediate(r))
        }
        if (/connection: close|^HTTP\/1\.0/i.test(a) && !/keep-alive/i.test(a)) sock.end()
      }
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as net.AddressInfo).port,
    connections: () => conns,
    requests,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) }),
  })))
}

let srv: Crafted | null = null
afterEach(async () => { await srv?.close(); srv = null })

function client(port: number) {
  const url = new URL(`http://127.0.0.1:${port}/x?y=1`)
  const conn = new RawConnection(targetOf(url, false))
  const get = buildRequest({ method: 'GET', url, headers: [], keepAlive: true })
  const head = buildRequest({ method: 'HEAD', url, headers: [], keepAlive: true })
  return { conn, get, head, url }
}

describe('raw HTTP/1.1 connection', () => {
  it('frames Content-Length responses a byte at a time and reuses the connection', async () => {
    srv = await craftedServer(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello'])
    const { conn, get } = client(srv.port)
    for (let i = 0; i < 3; i++) expect(await conn.request(get)).toEqual({ status: 200, bytes: 51, error: null })
    expect(srv.connections()).toBe(1)
    expect(srv.requests[0]).toMatch(/^GET \/x\?y=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/)
    conn.close()
  })

  it('frames chunked responses with extensions and trailers, split anywhere', async () => {
    const body = '4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n'
    srv = await craftedServer([`HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n${body}`], 3)
    const { conn, get } = client(srv.port)
    const r1 = await conn.request(get)
    const r2 = await conn.request(get)
    expect(r1.status).toBe(201)
    expect(r1.error).toBeNull()
    expect(r2).toEqual(r1)
    expect(srv.connections()).toBe(1)
    conn.close()
  })

  it('reads an HTTP/1.0 body until the server closes, then reconnects', async () => {
    srv = await craftedServer(['HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close'])
    const { conn, get } = client(srv.port)
    expect(await conn.request(get)).toMatchObject({ status: 200, error: null })
    expect(await conn.request(get)).toMatchObject({ status: 200, error: null })
    expect(srv.connections()).toBe(2)
    conn.close()
  })

  it('expects no body after HEAD, 204 and 304, and skips 100 Continue', async () => {
    srv = await craftedServer([
      'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    ])
    const { conn, get, head } = client(srv.port)
    expect(await conn.request(head, true)).toMatchObject({ status: 200, error: null })
    expect(await conn.request(get)).toMatchObject({ status: 204, error: null })
    expect(await conn.request(get)).toMatchObject({ status: 304, error: null })
    expect(await conn.request(get)).toMatchObject({ status: 200, error: null, bytes: 40 })
    expect(srv.connections()).toBe(1)
    conn.close()
  })

  it('honours Connection: close and opens a new connection for the next request', async () => {
    srv = await craftedServer(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'])
    const { conn, get } = client(srv.port)
    for (let i = 0; i < 3; i++) expect(await conn.request(get)).toMatchObject({ status: 200, error: null })
    expect(srv.connections()).toBe(3)
    conn.close()
  })

  it('resends once when the server closed an idle keep-alive connection', async () => {
    srv = await craftedServer([
      (s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') },
      (s) => { s.destroy() }, // the server dropped the connection instead of answering
    ])
    const { conn, get } = client(srv.port)
    expect(await conn.request(get)).toMatchObject({ status: 200, error: null })
    // The second request meets a closed connection; the resend on a new one is answered.
    expect(await conn.request(get)).toMatchObject({ status: 200, error: null })
    expect(srv.connections()).toBe(2)
    conn.close()
  })

  it('reports garbage as a parse error and a refused port as connect_refused', async () => {
    srv = await craftedServer(['SMTP ready\r\n\r\n'])
    const { conn, get } = client(srv.port)
    expect(await conn.request(get)).toMatchObject({ error: 'parse', status: 0 })
    conn.close()
    const port = srv.port
    await srv.close()
    srv = null
    const c2 = client(port)
    expect(await c2.conn.request(c2.get)).toMatchObject({ error: 'connect_refused', status: 0 })
  })

  it('gives up on a request when aborted (timeout) and recovers on the next one', async () => {
    srv = await craftedServer([() => {}, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'])
    const { conn, get } = client(srv.port)
    const pending = conn.request(get)
    setTimeout(() => conn.abort('timeout'), 30)
    expect(await pending).toMatchObject({ error: 'timeout' })
    expect(await conn.request(get)).toMatchObject({ status: 200, error: null })
    conn.close()
  })

  it('builds requests with Host, body length and Connection: close when asked', () => {
    const url = new URL('http://example.test:8080/p')
    const text = buildRequest({ method: 'POST', url, headers: [['X-K', 'v']], body: Buffer.from('{"a":1}'), keepAlive: false }).toString()
    expect(text).toBe('POST /p HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: owp-load-test/1\r\nX-K: v\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}')
  })
})
