// A request reset before any response byte (a keep-alive connection the server closed as it was
// reused: NGINX's old workers on a graceful reload) is sent again once, as browsers do; a second
// reset, or a stream cut after its headers, still counts.
import { describe, it, expect, afterEach } from 'vitest'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runLlmEngine } from '../../scripts/lib/load/llm-engine.ts'

let server: Server | undefined
afterEach(async () => { await new Promise((r) => (server ? server.close(r) : r(undefined))); server = undefined })

/** Each request in turn: 'reset' destroys its socket before answering, 'cut' sends headers and one token then destroys, 'ok' streams to [DONE]. */
async function serve(script: Array<'reset' | 'cut' | 'ok'>): Promise<URL> {
  let n = 0
  server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const what = script[Math.min(n++, script.length - 1)]
      if (what === 'reset') { req.socket.destroy(); return }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'hi' } }] })}\n\n`)
      if (what === 'cut') { setTimeout(() => res.socket?.destroy(), 100); return }
      res.end('data: [DONE]\n\n')
    })
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return new URL(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1/chat/completions`)
}

const run = (url: URL) => runLlmEngine({
  url, headers: {}, model: 'm', prompts: [{ messages: [{ role: 'user', content: 'x' }], tokens: 1 }], maxTokens: 4, extraBody: {},
  shape: { concurrency: 1, requests: 1, arrival: 'constant', warmupMs: 0, seed: 1 }, timeoutMs: 10_000, insecure: false,
})

describe('llm mode: a reset before the response', () => {
  it('is sent again once on a new connection: the stream completes', async () => {
    const r = await run(await serve(['reset', 'ok']))
    expect(r.records.map((x) => [x.status, x.error])).toEqual([[200, null]])
  })

  it('twice in a row counts as a reset', async () => {
    const r = await run(await serve(['reset', 'reset', 'ok']))
    expect(r.records.map((x) => x.error)).toEqual(['reset'])
  })

  it('a stream cut after its headers is never sent again', async () => {
    const r = await run(await serve(['cut', 'ok']))
    expect(r.records.map((x) => [x.status, x.error])).toEqual([[200, 'reset']])
  })
})
