// Local stand-ins for the services behind NGINX: real HTTP/websocket servers on 127.0.0.1 that
// record what reached them, so a test sees what NGINX passed on and when.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { WebSocketServer } from 'ws'
import { freePort } from '../helpers/net.ts'

export interface Hit { method: string; url: string; headers: IncomingMessage['headers']; bodyBytes: number }

export interface Upstream {
  name: string
  port: number
  hits: Hit[]
  /** TCP connections NGINX opened to this upstream (keepalive keeps this low). */
  connections(): number
  /** Lets a held event stream finish now. */
  release(): void
  /** Whether the held stream of the last request has ended (set just before res.end()). */
  streamEnded(): boolean
  close(): Promise<void>
}

/** How long an event stream is held open waiting for release(). */
export const STREAM_HOLD_MS = 1500

/**
 * An upstream answering every path with JSON of what it received. Paths containing `/stream` or
 * `chat/completions` answer text/event-stream: one event at once, the next after release() or
 * STREAM_HOLD_MS. `/ws/` upgrades to a websocket that echoes.
 */
export async function startUpstream(name: string, o: { host?: string; port?: number } = {}): Promise<Upstream> {
  const port = o.port ?? await freePort()
  const hits: Hit[] = []
  let connections = 0
  let releaseStream: (() => void) | null = null
  let ended = false
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let bodyBytes = 0
    for await (const chunk of req) bodyBytes += (chunk as Buffer).length
    hits.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes })
    if (/\/stream|chat\/completions/.test(req.url!)) {
      ended = false
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write('data: {"token":"first"}\n\n')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STREAM_HOLD_MS)
        releaseStream = () => { clearTimeout(timer); resolve() }
      })
      releaseStream = null
      ended = true
      res.end('data: [DONE]\n\n')
      return
    }
    const body = JSON.stringify({ service: name, method: req.method, url: req.url, headers: req.headers, bodyBytes })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  server.keepAliveTimeout = 30_000
  server.on('connection', () => { connections++ })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    hits.push({ method: 'UPGRADE', url: req.url!, headers: req.headers, bodyBytes: 0 })
    if (!req.url!.startsWith('/ws/')) { socket.destroy(); return }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)))
  })
  await new Promise<void>((resolve) => server.listen(port, o.host ?? '127.0.0.1', resolve))
  return {
    name,
    port,
    hits,
    connections: () => connections,
    release: () => releaseStream?.(),
    streamEnded: () => ended,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate()
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
