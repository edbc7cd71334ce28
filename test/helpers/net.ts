import { connect } from 'node:net'
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { freePort as systemPort, portFree } from '../../scripts/lib/core/net.ts'

/** Ports handed out in the last CLAIM_MS, by any process of any suite on this machine: one file each. */
const CLAIMS = join(tmpdir(), 'owp-port-claims')
const CLAIM_MS = 60_000

/**
 * Claims `port` for this caller: no other freePort() of any process hands it out for a minute, the
 * time between a pick and its listen. A claim older than that is spent (its listener runs, and
 * portFree sees it, or it never listened).
 */
export function claimPort(port: number, now = Date.now()): boolean {
  mkdirSync(CLAIMS, { recursive: true })
  const file = join(CLAIMS, String(port))
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' })
    return true
  } catch {
    try {
      if (now - statSync(file).mtimeMs < CLAIM_MS) return false
      writeFileSync(file, String(process.pid))
      return true
    } catch { return false }
  }
}

/**
 * A port on 127.0.0.1 that was free a moment ago and that no other caller got in the last minute,
 * picked below the kernel's ephemeral range (32768-60999): the suites run side by side, and a port
 * the system hands out (bind to port 0, or the local end of an outgoing connection: the load tests
 * open thousands) could be taken between the pick and the listen, an EADDRINUSE that fails another
 * suite. Two picks before either listens (two suites, or one test asking for several) never get
 * the same port: each is claimed (claimPort). The system's pick when fifty tries find none.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (claimPort(port) && await portFree(port, '127.0.0.1')) return port
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
