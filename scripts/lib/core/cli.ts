// One entry point for every script: flags, help, exit codes, colour, Ctrl-C.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { chalk as zxChalk } from 'zx'
import { createContext, runCleanups, type Ctx } from './context.ts'
import { KitError, UsageError, ConfigError, EXIT } from './errors.ts'
import { SecretMasker } from './secrets.ts'
import type { LogFormat } from './log.ts'

type Options = NonNullable<ParseArgsConfig['options']>

/** Flags every script understands. */
export const commonOptions = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  verbose: { type: 'boolean', short: 'v' },
  'no-color': { type: 'boolean' },
  'log-format': { type: 'string' },
} as const satisfies Options

export const commonUsage = `
Common flags:
  -h, --help            show this help (with --json: the flags, examples and exit codes as JSON)
      --json            print one JSON document on stdout (logs stay on stderr)
      --dry-run         print the commands that would change something, run nothing that does
  -y, --yes             confirm destructive steps (required without a terminal)
  -v, --verbose         debug logs and stack traces
      --no-color        no colours or spinners (also NO_COLOR=1, or stderr not a terminal)
      --log-format F    text or json: one object a line, each with the run id (default text)`

/** The exit codes every script may return (README, "Conventions"). */
export const COMMON_EXIT_CODES: Record<number, string> = {
  0: 'ok',
  1: 'failure (a check, a command or the deployment failed)',
  2: 'usage or configuration error (nothing was changed)',
  130: 'interrupted (cleanups ran)',
}

export interface Outcome {
  exitCode?: number
  /** Printed as JSON on stdout with --json. */
  data?: unknown
  /** Printed on stdout without --json. */
  text?: string
}

type FlagValue<T> = T extends { type: 'boolean'; multiple: true } ? boolean[]
  : T extends { type: 'boolean' } ? boolean
  : T extends { type: 'string'; multiple: true } ? string[]
  : string

/** Parsed flag values: every flag optional, typed from its declaration. */
export type Values<O extends Options> = { [K in keyof O]?: FlagValue<O[K]> } & { [K in keyof typeof commonOptions]?: FlagValue<(typeof commonOptions)[K]> }

export interface RunSettings {
  positionals?: boolean
  /** Arguments to parse instead of process.argv (tests). */
  argv?: string[]
  /** Two or three command lines shown under "Examples" in --help. */
  examples?: string[]
  /** Exit codes beyond the common ones, e.g. { 75: 'another backup holds the lock' }. */
  exitCodes?: Record<number, string>
  /**
   * The first SIGINT or SIGTERM only aborts ctx.signal: main winds down and its outcome (a load
   * test's report of what ran) is printed before the exit with 130. A second signal leaves at once.
   */
  finishOnSignal?: boolean
}

/**
 * Parse flags, build the context and run main. Never returns: exits with the outcome's code.
 * main prints data through ctx.out or returns it; logs go to stderr.
 */
export async function run<O extends Options>(
  usage: string,
  options: O,
  main: (ctx: Ctx, flags: Values<O>, positionals: string[]) => Promise<Outcome | void>,
  settings: RunSettings = {},
): Promise<never> {
  if (specProbe.capture) {
    // The docs-drift test imports scripts to read their flags: hand them over, run nothing.
    specProbe.capture(helpData(usage, { ...options, ...commonOptions }, settings))
    throw new SpecCaptured()
  }
  const code = await runMain(usage, options, main, settings)
  process.exit(code)
}

/** Set by the docs-drift test: run() gives its flag spec to capture instead of running. */
export const specProbe: { capture?: (spec: HelpData) => void } = {}
export class SpecCaptured extends Error {}
export type HelpData = ReturnType<typeof helpData>

export async function runMain<O extends Options>(
  usage: string,
  options: O,
  main: (ctx: Ctx, flags: Values<O>, positionals: string[]) => Promise<Outcome | void>,
  settings: RunSettings = {},
): Promise<number> {
  const help = renderHelp(usage, settings)
  const argv = withoutLeadingSeparator(settings.argv ?? process.argv.slice(2))
  const allOptions = { ...options, ...commonOptions } as Options
  const jsonLogs = argv.some((a, i) => a === '--log-format=json' || (a === '--log-format' && argv[i + 1] === 'json'))
  let values: Values<O> & Record<string, unknown>
  let positionals: string[]
  try {
    const parsed = parseArgs({ args: argv, options: allOptions, allowPositionals: true, strict: true })
    values = parsed.values as unknown as Values<O> & Record<string, unknown>
    positionals = parsed.positionals
    if (positionals.length && !settings.positionals) throw new UsageError(`unexpected argument: ${positionals[0]}`)
    const fmt = values['log-format']
    if (fmt !== undefined && fmt !== 'text' && fmt !== 'json') throw new UsageError(`--log-format must be text or json, got "${fmt}"`)
  } catch (e) {
    const message = usageMessage(e as Error & { code?: string }, allOptions)
    const text = `error: ${message}\nrun ${scriptName(usage)} --help for the flags, examples and exit codes`
    process.stderr.write(jsonLogs ? `${JSON.stringify({ time: new Date().toISOString(), level: 'fail', msg: message, exitCode: EXIT.usage })}\n` : `${text}\n`)
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ ok: false, error: message, problems: [message], exitCode: EXIT.usage })}\n`)
    return EXIT.usage
  }
  if (values.help) {
    process.stdout.write(values.json ? `${JSON.stringify(helpData(usage, allOptions, settings), null, 2)}\n` : help)
    return EXIT.ok
  }

  const color = !values['no-color'] && !process.env.NO_COLOR && Boolean(process.stderr.isTTY)
  if (!color) zxChalk.level = 0 // zx's bundled chalk ignores NO_COLOR
  const abort = new AbortController()
  const ctx = createContext({
    dryRun: Boolean(values['dry-run']),
    json: Boolean(values.json),
    yes: Boolean(values.yes),
    verbose: Boolean(values.verbose),
    logFormat: (values['log-format'] as LogFormat | undefined) ?? 'text',
    color,
    signal: abort.signal,
    secrets: new SecretMasker(),
  })

  let interrupted = false
  let finishing = false // finishOnSignal: main winds down after the first signal and reports
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(EXIT.interrupted) // a second Ctrl-C: leave now
    interrupted = true
    abort.abort(new Error(signal))
    if (settings.finishOnSignal) {
      finishing = true
      ctx.log.warn(`${signal} received: stopping, the report covers what ran (${signal} again leaves at once)`)
      return
    }
    ctx.log.warn(`${signal} received: stopping, running cleanups`)
    for (const kill of ctx.children.list()) kill()
    void runCleanups(ctx).finally(() => process.exit(EXIT.interrupted))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    const outcome = (await main(ctx, values, positionals)) ?? {}
    if (interrupted && !finishing) return await new Promise<number>(() => {}) // the signal handler exits
    if (ctx.json) {
      ctx.out(JSON.stringify(outcome.data ?? { ok: (outcome.exitCode ?? 0) === 0, plan: ctx.plan }, null, 2))
    } else if (outcome.text) {
      ctx.out(outcome.text)
    }
    if (finishing) { await runCleanups(ctx); return EXIT.interrupted }
    return outcome.exitCode ?? EXIT.ok
  } catch (e) {
    if (interrupted && !finishing) return await new Promise<number>(() => {})
    await runCleanups(ctx)
    const code = reportError(ctx, e)
    return finishing ? EXIT.interrupted : code // what failed after the signal still says why, and exits as interrupted
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function reportError(ctx: Ctx, e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e))
  const mask = (s: string) => ctx.secrets.mask(s)
  const code = err instanceof KitError ? err.exitCode : EXIT.failure
  const problems = err instanceof ConfigError ? err.problems : [err.message]
  let text = err.message
  if (!(err instanceof KitError) && !ctx.verbose) text = err.message.split('\n')[0]!
  if (ctx.log.format === 'json') {
    // Every stderr line stays JSON: the final error is one object with its problems as an array.
    ctx.log.error(text, { exitCode: code, problems, ...(err instanceof KitError && err.hint ? { hint: err.hint } : {}), ...(ctx.verbose && err.stack ? { stack: err.stack } : {}) })
  } else {
    if (err instanceof KitError && err.hint) text += `\nhint: ${err.hint}`
    if (ctx.verbose && err.stack) text += `\n${err.stack.split('\n').slice(1).join('\n')}`
    process.stderr.write(`${mask(`error: ${text}`)}\n`)
  }
  if (ctx.json) ctx.out(JSON.stringify({ ok: false, error: mask(err.message.split('\n')[0]!), problems: problems.map(mask), exitCode: code }))
  return code
}

// Node 20 reads --env-file anywhere before a "--", even after the script name, and exits 9 when
// the file is missing: the Makefile and docs put "--" before the flags, and it is dropped here.
export function withoutLeadingSeparator(argv: string[]): string[] {
  return argv[0] === '--' && (argv.length === 1 || argv[1]!.startsWith('-')) ? argv.slice(1) : argv
}

/** The whole --help text: the script's usage, the common flags, its examples and exit codes. */
export function renderHelp(usage: string, settings: RunSettings = {}): string {
  const examples = settings.examples?.length ? `\nExamples:\n${settings.examples.map((e) => `  ${e}`).join('\n')}\n` : ''
  const codes = Object.entries(exitCodes(settings)).map(([c, what]) => `  ${c.padStart(3)}  ${what}`).join('\n')
  return `${usage.trimEnd()}\n${commonUsage}\n${examples}\nExit codes:\n${codes}\n`
}

function exitCodes(settings: RunSettings): Record<number, string> {
  return { ...COMMON_EXIT_CODES, ...settings.exitCodes }
}

/** --help --json: what the docs-drift test checks flags and examples against. */
export function helpData(usage: string, options: Options, settings: RunSettings = {}) {
  const flags = Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]))
  return { script: scriptName(usage), usage: usage.trimEnd(), flags, positionals: Boolean(settings.positionals), examples: settings.examples ?? [], exitCodes: exitCodes(settings) }
}

function scriptName(usage: string): string {
  return /Usage:\s+(\S+(?:\s+\S+\.ts)?)/.exec(usage)?.[1] ?? 'the script'
}

/** One line for a parse error: the flag, the closest known flag, never Node's whole explanation. */
function usageMessage(e: Error & { code?: string }, options: Options): string {
  if (e instanceof UsageError) return e.message
  const flag = /'(-{1,2}[^'\s=]+)/.exec(e.message)?.[1]
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
    const guess = closestFlag(flag, options)
    return `unknown flag ${flag}${guess ? ` (did you mean ${guess}?)` : ''}`
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    const name = flag.replace(/^-+/, '')
    const long = Object.entries(options).find(([n, o]) => n === name || o.short === name)
    if (long && long[1].type === 'string') return `--${long[0]} needs a value`
    return `--${long?.[0] ?? name} takes no value`
  }
  return e.message.split('\n')[0]!
}

export function closestFlag(flag: string, options: Options): string | undefined {
  const name = flag.replace(/^-+/, '')
  let best: [string, number] | undefined
  for (const known of Object.keys(options)) {
    const d = known.startsWith(name) && name.length >= 3 ? 1 : editDistance(name, known)
    if (!best || d < best[1]) best = [known, d]
  }
  return best && best[1] <= Math.max(2, Math.floor(name.length / 3)) ? `--${best[0]}` : undefined
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}
