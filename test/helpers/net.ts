import { connect } from 'node:net'

export { freePort } from '../../scripts/lib/core/net.ts'
import { freePort } from '../../scripts/lib/core/net.ts'

/** A port on 127.0.0.1 where nothing listens (connections are refused). */
export const closedPort = freePort

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

export async function waitForPort(port: number, timeoutMs = 20_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await portOpen(port, host)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs}ms`)
}
