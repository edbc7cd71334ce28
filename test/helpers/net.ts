import { connect } from 'node:net'

import { freePort as systemPort, portFree } from '../../scripts/lib/core/net.ts'

/**
 * A port on 127.0.0.1 that was free a moment ago, picked below the kernel's ephemeral range
 * (32768-60999): the suites run side by side, and a port the system hands out (bind to port 0, or
 * the local end of an outgoing connection: the load tests open thousands) could be taken between
 * the pick and the listen, an EADDRINUSE that fails another suite. Random, so two suites rarely
 * pick the same; the system's pick when fifty tries find none free.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (await portFree(port, '127.0.0.1')) return port
  }
  return systemPort()
}

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
