// Run one of the kit's scripts as a user would: a real process, real exit code.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'

export interface ScriptResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; pid: number }

export interface RunScriptOptions {
  env?: Record<string, string | undefined>
  cwd?: string
  input?: string
  timeoutMs?: number
  /** Called once the child is running, e.g. to send it a signal. */
  onSpawn?: (pid: number) => void
}

export function runScript(script: string, args: string[] = [], o: RunScriptOptions = {}): Promise<ScriptResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...o.env }
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: o.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  if (o.input !== undefined) child.stdin.end(o.input)
  else child.stdin.end()
  o.onSpawn?.(child.pid!)
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000)
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer)
    resolve({ code, signal, stdout, stderr, pid: child.pid! })
  }))
}
