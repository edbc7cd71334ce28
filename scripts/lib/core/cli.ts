// One entry point for every script: flags, help, exit codes, colour, Ctrl-C.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { chalk as zxChalk } from 'zx'
import { createContext, runCleanups, type Ctx } from './context.ts'
import { KitError, UsageError, EXIT } from './errors.ts'
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
  -h, --help            show this help
      --json            print one JSON document on stdout (logs stay on stderr)
      --dry-run         print the commands that would change something, run nothing that does
  -y, --yes             confirm destructive steps (required without a terminal)
  -v, --verbose         debug logs and stack traces
      --no-color        no colours or spinners (also NO_COLOR=1, or stderr not a terminal)
      --log-format F    text (default) or json: one object a line, each with the run id
Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 130 interrupted.`

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
  /** Set up the context before main (e.g. register secrets); tests use the same hook. */
  argv?: string[]
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
  const code = await runMain(usage, options, main, settings)
  process.exit(code)
}

export async function runMain<O extends Options>(
  usage: string,
  options: O,
  main: (ctx: Ctx, flags: Values<O>, positionals: string[]) => Promise<Outcome | void>,
  settings: RunSettings = {},
): Promise<number> {
  const fullUsage = `${usage.trimEnd()}\n${commonUsage}\n`
  let values: Values<O> & Record<string, unknown>
  let positionals: string[]
  try {
    const parsed = parseArgs({
      args: settings.argv ?? process.argv.slice(2),
      options: { ...options, ...commonOptions },
      allowPositionals: true,
      strict: true,
    })
    values = parsed.values as unknown as Values<O> & Record<string, unknown>
    positionals = parsed.positionals
    if (positionals.length && !settings.positionals) throw new UsageError(`unexpected argument: ${positionals[0]}`)
    const fmt = values['log-format']
    if (fmt !== undefined && fmt !== 'text' && fmt !== 'json') throw new UsageError(`--log-format must be text or json, got "${fmt}"`)
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n\n${fullUsage}`)
    return EXIT.usage
  }
  if (values.help) {
    process.stdout.write(fullUsage)
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
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(EXIT.interrupted) // a second Ctrl-C: leave now
    interrupted = true
    ctx.log.warn(`${signal} received: stopping, running cleanups`)
    abort.abort(new Error(signal))
    for (const kill of ctx.children.list()) kill()
    void runCleanups(ctx).finally(() => process.exit(EXIT.interrupted))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    const outcome = (await main(ctx, values, positionals)) ?? {}
    if (interrupted) return await new Promise<number>(() => {}) // the signal handler exits
    if (ctx.json) {
      ctx.out(JSON.stringify(outcome.data ?? { ok: (outcome.exitCode ?? 0) === 0, plan: ctx.plan }, null, 2))
    } else if (outcome.text) {
      ctx.out(outcome.text)
    }
    return outcome.exitCode ?? EXIT.ok
  } catch (e) {
    if (interrupted) return await new Promise<number>(() => {})
    await runCleanups(ctx)
    return reportError(ctx, e, fullUsage)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function reportError(ctx: Ctx, e: unknown, usage: string): number {
  const err = e instanceof Error ? e : new Error(String(e))
  const mask = (s: string) => ctx.secrets.mask(s)
  const code = err instanceof KitError ? err.exitCode : EXIT.failure
  let text = `error: ${err.message}`
  if (err instanceof KitError && err.hint) text += `\nhint: ${err.hint}`
  if (ctx.verbose && err.stack) text += `\n${err.stack.split('\n').slice(1).join('\n')}`
  if (!(err instanceof KitError) && !ctx.verbose) text = `error: ${err.message.split('\n')[0]}`
  if (err instanceof UsageError && /unknown|unexpected|flag/.test(err.message)) text += `\n\n${usage}`
  process.stderr.write(`${mask(text)}\n`)
  if (ctx.json) ctx.out(JSON.stringify({ ok: false, error: mask(err.message), exitCode: code }))
  return code
}
