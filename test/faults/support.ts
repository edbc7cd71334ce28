// Fault injection for the backup/restore rows: a kit script in its own process group, killed with
// SIGKILL (the whole tree: tsx, node and every tool it started) when a marker appears.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'

export interface Killable { child: ChildProcess; stderr(): string; done: Promise<number | null> }

/** Start a script detached (own process group) so that a kill reaches every process it started. */
export function startScript(script: string, args: string[], env: Record<string, string>): Killable {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  })
  let err = ''
  child.stderr!.on('data', (d) => { err += d })
  child.stdout!.on('data', () => {})
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, stderr: () => err, done }
}

/**
 * The process and every process under it (by parent pid, from /proc). The kit's tools are not in
 * its process group: its exec starts each one detached, in a session of its own (so that a timeout
 * or Ctrl-C kills that tool's tree), so a signal to the kit's group alone would miss them.
 */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    let stat: string
    try { stat = readFileSync(`/proc/${d}/stat`, 'utf8') } catch { continue } // ended meanwhile
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(d)])
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []))
  return tree
}

const signal = (pid: number, sig: NodeJS.Signals) => { try { process.kill(pid, sig) } catch { /* already gone */ } }

/**
 * Stop the whole tree where it stands: SIGSTOP to every process in it until no new one appears (a
 * process that was starting a child when it stopped). The parent links stay as they are.
 */
function stopTree(root: number): number[] {
  let seen = new Set<number>()
  for (;;) {
    const now = processTree(root)
    if (now.every((p) => seen.has(p))) return now
    for (const p of now) signal(p, 'SIGSTOP')
    seen = new Set(now)
  }
}

/**
 * SIGKILL the whole tree, as the OOM killer or a node loss would: tsx, node and every tool it
 * started, in whatever process group or session. The tree is stopped first, so that no process
 * ends up under init (where its parent link is gone) before it is killed.
 */
export function killTree(k: Killable): void {
  const pid = k.child.pid!
  signal(-pid, 'SIGSTOP')
  for (const p of stopTree(pid)) signal(p, 'SIGKILL')
  signal(-pid, 'SIGKILL')
}

/** Wait until stderr matches `marker` (or a predicate holds) while the run goes on. */
export async function waitFor(k: Killable, when: RegExp | (() => boolean), timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (typeof when === 'function' ? when() : when.test(k.stderr())) return
    if (k.child.exitCode !== null) throw new Error(`the run ended (exit ${k.child.exitCode}) before the point ${String(when)}:\n${k.stderr()}`)
    if (Date.now() > deadline) throw new Error(`point ${String(when)} not reached:\n${k.stderr()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Run until stderr matches `marker` (or a predicate holds), then kill the tree; resolves when it is gone. */
export async function killWhen(k: Killable, when: RegExp | (() => boolean), timeoutMs = 120_000): Promise<void> {
  await waitFor(k, when, timeoutMs)
  killTree(k)
  await k.done
}

/** Freeze the whole tree (SIGSTOP) or let it go on (SIGCONT): a run that is alive but not moving. */
export function freezeTree(k: Killable, frozen: boolean): void {
  const pid = k.child.pid!
  if (frozen) { signal(-pid, 'SIGSTOP'); stopTree(pid); return }
  for (const p of processTree(pid)) signal(p, 'SIGCONT')
  signal(-pid, 'SIGCONT')
}
