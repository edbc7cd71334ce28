// The context every lib function takes first: how to run, log, print and clean up.
import { createInterface } from 'node:readline/promises'
import { $ } from 'zx'
import { Logger, type LogFormat } from './log.ts'
import { SecretMasker } from './secrets.ts'
import { exec, type ExecOptions, type ExecResult } from './exec.ts'
import { UsageError, KitError } from './errors.ts'

/** A list of callbacks that can be registered and unregistered. */
export class Registry<T> {
  private items = new Set<T>()
  add(item: T): () => void { this.items.add(item); return () => { this.items.delete(item) } }
  list(): T[] { return [...this.items] }
  get size(): number { return this.items.size }
}

export type Cleanup = () => void | Promise<void>

export interface Ctx {
  /** zx's $, for read-only helpers; commands that change things go through exec(). */
  $: typeof $
  dryRun: boolean
  json: boolean
  yes: boolean
  verbose: boolean
  /** stdin and stderr are terminals: prompts and spinners are allowed. */
  interactive: boolean
  log: Logger
  secrets: SecretMasker
  cwd: string
  env: NodeJS.ProcessEnv
  /** Mutating commands that --dry-run printed instead of running, masked. */
  plan: string[]
  /** Kill functions of running child processes. */
  children: Registry<() => void>
  /** Undo or teardown callbacks, run (newest first) on failure or interrupt. */
  cleanups: Registry<Cleanup>
  /** Aborted when the user interrupts the run. */
  signal: AbortSignal
  /** Write one line of data to stdout, masked. */
  out(text: string): void
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>
}

export interface ContextOptions {
  dryRun?: boolean
  json?: boolean
  yes?: boolean
  verbose?: boolean
  color?: boolean
  logFormat?: LogFormat
  interactive?: boolean
  cwd?: string
  env?: NodeJS.ProcessEnv
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
  signal?: AbortSignal
  secrets?: SecretMasker
}

export function createContext(o: ContextOptions = {}): Ctx {
  const secrets = o.secrets ?? new SecretMasker()
  const stdout = o.stdout ?? process.stdout
  const interactive = o.interactive ?? Boolean(process.stdin.isTTY && process.stderr.isTTY)
  const log = new Logger({
    masker: secrets,
    format: o.logFormat,
    color: o.color ?? false,
    spinner: interactive && (o.color ?? false),
    verbose: o.verbose,
    stream: o.stderr,
  })
  const ctx: Ctx = {
    $: $({ quiet: true, verbose: false, env: o.env ?? process.env }),
    dryRun: o.dryRun ?? false,
    json: o.json ?? false,
    yes: o.yes ?? false,
    verbose: o.verbose ?? false,
    interactive,
    log,
    secrets,
    cwd: o.cwd ?? process.cwd(),
    env: o.env ?? process.env,
    plan: [],
    children: new Registry(),
    cleanups: new Registry(),
    signal: o.signal ?? new AbortController().signal,
    out: (text) => { stdout.write(secrets.mask(text.endsWith('\n') ? text : `${text}\n`)) },
    exec: (argv, opts) => exec(ctx, argv, opts),
  }
  return ctx
}

/**
 * Ask before a destructive action. --yes answers for the user; without a terminal and
 * without --yes the run stops with a usage error (exit 2) instead of hanging on a prompt.
 */
export async function confirm(ctx: Ctx, question: string): Promise<void> {
  if (ctx.yes || ctx.dryRun) return
  if (!ctx.interactive) {
    throw new UsageError(`${question}: no terminal to confirm on`, 'pass --yes to confirm non-interactively')
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await rl.question(`${question} [y/N] `)
    if (!/^y(es)?$/i.test(answer.trim())) throw new KitError('aborted: not confirmed')
  } finally {
    rl.close()
  }
}

/** Run the registered cleanups, newest first; a failing cleanup is logged, not thrown. */
export async function runCleanups(ctx: Ctx): Promise<void> {
  for (const cleanup of ctx.cleanups.list().reverse()) {
    try { await cleanup() } catch (e) { ctx.log.warn(`cleanup failed: ${(e as Error).message}`) }
  }
}
