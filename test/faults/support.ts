// Fault injection for the backup/restore rows: a kit script in its own process group, killed with
// SIGKILL (the whole tree: tsx, node and every tool it started) when a marker appears.
import { spawn, type ChildProcess } from 'node:child_process'
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

/** SIGKILL the whole process group, as the OOM killer or a node loss would. */
export function killTree(k: Killable): void {
  try { process.kill(-k.child.pid!, 'SIGKILL') } catch { /* already gone */ }
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
  try { process.kill(-k.child.pid!, frozen ? 'SIGSTOP' : 'SIGCONT') } catch { /* gone */ }
}
