// The one way the kit runs an external command: argv in, masked logs, dry-run, timeouts, cleanup.
import { openSync, closeSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { $, type ProcessPromise } from 'zx'
import { KitError } from './errors.ts'
import type { Logger } from './log.ts'
import type { SecretMasker } from './secrets.ts'

/** What exec needs of the run's context (the Ctx of context.ts satisfies it). */
export interface ExecCtx {
  dryRun: boolean
  json: boolean
  log: Logger
  secrets: SecretMasker
  cwd: string
  env: NodeJS.ProcessEnv
  plan: string[]
  children: { add(kill: () => void): () => void }
  out(text: string): void
}

export interface ExecOptions {
  /** Changes something outside the kit: printed, not run, under --dry-run. */
  mutates?: boolean
  /** Milliseconds before the command's process tree is killed. */
  timeout?: number
  cwd?: string
  /** Extra variables, merged over process.env (zx replaces the env, it does not merge). */
  env?: Record<string, string | undefined>
  input?: string | Buffer
  /** Write stdout straight into this file (binary safe, never buffered in memory). */
  stdoutFile?: string
  /** Feed stdin from this file (binary safe, never buffered in memory); instead of input. */
  stdinFile?: string
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFailure?: boolean
  /** Echo output lines to the log as they arrive (masked). */
  stream?: boolean
  /** A short label for logs; defaults to the command's first two words. */
  title?: string
  /** Kill the command's process tree when this aborts (a per-check timeout, a background port-forward). */
  signal?: AbortSignal
}

export interface ExecResult {
  argv: string[]
  exitCode: number
  stdout: string
  stderr: string
  durationMs: number
  /** True when --dry-run printed the command instead of running it. */
  skipped: boolean
}

export class CommandError extends KitError {
  constructor(readonly command: string, readonly code: number | null, readonly stderrTail: string, reason?: string) {
    super(`command failed (${reason ?? `exit code ${code}`}): ${command}${stderrTail ? `\n${indent(stderrTail)}` : ''}`)
  }
}

/** Shell-quote an argv the way a user would paste it. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')
}

// A command that exits without reading its input closes the pipe under our write: that EPIPE
// must not crash the kit (the command's exit code tells what happened).
const spawnQuietStdin = ((...args: Parameters<typeof spawn>) => {
  const child = spawn(...args)
  child.stdin?.on('error', () => {})
  return child
}) as typeof spawn

/**
 * zx runs each command through `bash -c`, and Node's stdio pipes are socketpairs. bash takes a
 * socket on stdin for a remote shell daemon and then reads ~/.bashrc when SHLVL is below 2 (an
 * unset SHLVL, as under make, is 0): a root .bashrc with `pyenv init` made every command wait on
 * pyenv's rehash lock, up to a minute under concurrency (seen here: `bash -c true` 61 s). SHLVL of
 * at least 1 for the commands keeps bash from it; nothing the kit runs reads SHLVL otherwise.
 */
export function childShellEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return Number(env.SHLVL ?? 0) >= 1 ? env : { ...env, SHLVL: '1' }
}

export async function exec(ctx: ExecCtx, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0) throw new KitError('exec: empty argv')
  const shown = ctx.secrets.mask(shellQuote(argv))
  if (opts.mutates && ctx.dryRun) {
    ctx.plan.push(shown)
    if (!ctx.json) ctx.out(`[dry-run] ${shown}`)
    return { argv: [...argv], exitCode: 0, stdout: '', stderr: '', durationMs: 0, skipped: true }
  }
  ctx.log.debug(`$ ${shown}`)
  const fd = opts.stdoutFile ? openSync(opts.stdoutFile, 'w', 0o600) : undefined
  const inFd = opts.stdinFile ? openSync(opts.stdinFile, 'r') : undefined
  const started = performance.now()
  const p: ProcessPromise = $({
    cwd: opts.cwd ?? ctx.cwd,
    env: childShellEnv({ ...ctx.env, ...opts.env }),
    input: opts.input,
    quiet: true,
    nothrow: true,
    verbose: false,
    detached: true, // own process group: a timeout or Ctrl-C kills the whole tree
    spawn: spawnQuietStdin,
    stdio: [inFd ?? 'pipe', fd ?? 'pipe', 'pipe'],
  })`${argv}`
  const stop = () => killTree(p)
  const unregister = ctx.children.add(stop)
  let timedOut = false
  const timer = opts.timeout ? setTimeout(() => { timedOut = true; stop() }, opts.timeout) : null
  let aborted = false
  const onAbort = () => { aborted = true; stop() }
  if (opts.signal?.aborted) onAbort()
  else opts.signal?.addEventListener('abort', onAbort, { once: true })
  if (opts.stream) {
    const echo = (chunk: Buffer) => { for (const line of chunk.toString().split('\n')) if (line.trim()) ctx.log.info(line) }
    if (!fd) p.stdout.on('data', echo)
    p.stderr.on('data', echo)
  }
  try {
    const out = await p
    const result: ExecResult = {
      argv: [...argv],
      exitCode: out.exitCode ?? (out.signal ? 128 : 1),
      stdout: out.stdout,
      stderr: out.stderr,
      durationMs: Math.round(performance.now() - started),
      skipped: false,
    }
    if (timedOut) throw new CommandError(shown, null, tail(ctx, out.stderr), `timed out after ${opts.timeout}ms`)
    if (aborted) throw new CommandError(shown, null, tail(ctx, out.stderr), 'aborted')
    if (result.exitCode !== 0 && !opts.allowFailure) {
      throw new CommandError(shown, result.exitCode, tail(ctx, out.stderr || out.stdout))
    }
    return result
  } finally {
    if (timer) clearTimeout(timer)
    opts.signal?.removeEventListener('abort', onAbort)
    unregister()
    if (fd !== undefined) closeSync(fd)
    if (inFd !== undefined) closeSync(inFd)
  }
}

/** Run a read-only command and return its trimmed stdout, or null when it fails or is missing. */
export async function probe(ctx: ExecCtx, argv: readonly string[], timeout = 10_000): Promise<string | null> {
  return (await probeWhy(ctx, argv, timeout)).out
}

/** A probe that says why it got nothing: the command's failureReason, or why it could not run (a timeout). */
export async function probeWhy(ctx: ExecCtx, argv: readonly string[], timeout = 10_000): Promise<{ out: string; why: null } | { out: null; why: string }> {
  try {
    const r = await exec(ctx, argv, { timeout, allowFailure: true })
    if (r.exitCode === 0) return { out: r.stdout.trim(), why: null }
    // the shell's "line 1: docker: command not found" says less than this
    if (r.exitCode === 127 && /command not found|No such file or directory/.test(r.stderr)) return { out: null, why: `${argv[0]} not found on PATH` }
    return { out: null, why: failureReason(ctx, r) }
  } catch (e) {
    return { out: null, why: oneLine(ctx.secrets.mask((e as Error).message)) }
  }
}

function killTree(p: ProcessPromise): void {
  const pid = p.pid
  if (!pid) return
  for (const target of [-pid, pid]) {
    try { process.kill(target, 'SIGTERM'); break } catch { /* already gone */ }
  }
  const hard = setTimeout(() => { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }, 2000)
  hard.unref()
}

/**
 * Why a command failed, for a message: the last lines of its stderr (else stdout), masked, joined
 * with " | " (or `sep`: "\n" for a message that lists them); else its exit code.
 */
export function failureReason(ctx: Pick<ExecCtx, 'secrets'>, r: Pick<ExecResult, 'exitCode' | 'stderr' | 'stdout'>, lines = 3, sep = ' | '): string {
  return outputTail(ctx, r, lines, sep) || `exit code ${r.exitCode}`
}

/** For a message that names the exit code itself ("curl exit 7"): `7: <failureReason's lines>`, or `7` when it printed nothing. */
export function exitCodeAndWhy(ctx: Pick<ExecCtx, 'secrets'>, r: Pick<ExecResult, 'exitCode' | 'stderr' | 'stdout'>, lines = 3, sep = ' | '): string {
  const tail = outputTail(ctx, r, lines, sep)
  return tail ? `${r.exitCode}: ${tail}` : String(r.exitCode)
}

/** Lines under a message that ends with a colon; nothing (and no colon) when there are none. */
export const colonLines = (lines: string): string => (lines ? `:\n${lines}` : '')

/** The last lines of a command's stderr (else stdout), masked; '' when it printed nothing. */
export function outputTail(ctx: Pick<ExecCtx, 'secrets'>, r: Pick<ExecResult, 'stderr' | 'stdout'>, lines = 3, sep = ' | '): string {
  const text = (r.stderr.trim() || r.stdout.trim()).split('\n').map((l) => l.trimEnd()).filter((l) => l.trim()).slice(-lines)
    .map((l) => (sep === '\n' ? l : l.trim())).join(sep)
  return ctx.secrets.mask(text)
}

/**
 * A message of several lines (a failed command's error: the command, then its output) in one line,
 * for a step, a table row or a check's detail: its first line, then its last `lines` lines.
 */
export function oneLine(text: string, lines = 3): string {
  const all = text.split('\n').map((l) => l.trim()).filter(Boolean)
  if (all.length <= 1) return all[0] ?? ''
  return `${all[0]!.replace(/:$/, '')}: ${all.slice(1).slice(-lines).join(' | ')}`
}

function tail(ctx: ExecCtx, text: string, lines = 12): string {
  return ctx.secrets.mask(text.trimEnd().split('\n').slice(-lines).join('\n'))
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l}`).join('\n')
}
