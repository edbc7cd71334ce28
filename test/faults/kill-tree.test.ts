// The fault rows' kill reaches the whole tree: the kit starts each tool detached, in a session of
// its own, so a SIGKILL to the kit's process group alone left the tools running (a restore's
// pg_restore, a deploy's compose up) after the "killed" run, for the rerun to meet.
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { killTree, freezeTree, type Killable } from './support.ts'

/** A parent in its own group that starts a child detached (a session of its own), as the kit's exec does. */
async function parentWithDetachedTool(): Promise<{ k: Killable; tool: number }> {
  const script = `const c = require('node:child_process').spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    process.stdout.write(String(c.pid) + '\\n'); setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['-e', script], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const tool = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))))
  return { k: { child, stderr: () => '', done }, tool }
}

const state = (pid: number): string | null => {
  try { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); return s.slice(s.lastIndexOf(')') + 2).split(' ')[0]! } catch { return null }
}
/** The state once it is `want` or 2 s have passed (a stop takes effect when the process next runs: late on a busy machine). */
const settled = async (pid: number, want: (s: string | null) => boolean) => {
  for (let i = 0; i < 100 && !want(state(pid)); i++) await new Promise((r) => setTimeout(r, 20))
  return state(pid)
}
const gone = async (pid: number) => {
  for (let i = 0; i < 100 && state(pid) !== null && state(pid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20))
  return state(pid) === null || state(pid) === 'Z'
}

describe('killTree and freezeTree reach every process the run started', () => {
  it('a tool in a session of its own is killed with the run, not left behind', async () => {
    const { k, tool } = await parentWithDetachedTool()
    try {
      killTree(k)
      await k.done
      expect(await gone(tool), `the tool (pid ${tool}) outlived the killed run`).toBe(true)
    } finally { try { process.kill(tool, 'SIGKILL') } catch { /* gone */ } }
  })

  it('freezing stops that tool too, and thawing lets it go on', async () => {
    const { k, tool } = await parentWithDetachedTool()
    try {
      freezeTree(k, true)
      expect(await settled(tool, (s) => s === 'T')).toBe('T')
      freezeTree(k, false)
      expect(await settled(tool, (s) => s !== 'T')).not.toBe('T')
    } finally {
      killTree(k)
      await k.done
      try { process.kill(tool, 'SIGKILL') } catch { /* gone */ }
    }
  })
})
