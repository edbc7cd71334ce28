// Human (or JSON-lines) logging on stderr. stdout is reserved for data.
import { randomUUID } from 'node:crypto'
import { Chalk, type ChalkInstance } from 'chalk'
import type { SecretMasker } from './secrets.ts'

export type LogFormat = 'text' | 'json'
type Level = 'step' | 'ok' | 'warn' | 'fail' | 'info' | 'debug'

export interface Step {
  ok(detail?: string): number
  fail(detail?: string): number
  warn(detail?: string): number
  /** Replace the text beside the spinner (live progress); a no-op when no spinner runs. */
  update(text: string): void
}

export interface LoggerOptions {
  masker: SecretMasker
  format?: LogFormat
  color?: boolean
  spinner?: boolean
  verbose?: boolean
  stream?: NodeJS.WritableStream
  runId?: string
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export class Logger {
  readonly runId: string
  readonly color: ChalkInstance
  readonly format: LogFormat
  readonly verbose: boolean
  private readonly stream: NodeJS.WritableStream
  private readonly masker: SecretMasker
  private readonly spinnerEnabled: boolean
  private spinnerTimer: NodeJS.Timeout | null = null
  private spinnerLine = ''

  constructor(o: LoggerOptions) {
    this.masker = o.masker
    this.format = o.format ?? 'text'
    this.verbose = o.verbose ?? false
    this.stream = o.stream ?? process.stderr
    this.runId = o.runId ?? randomUUID().slice(0, 8)
    this.color = new Chalk({ level: o.color && this.format === 'text' ? 1 : 0 })
    this.spinnerEnabled = (o.spinner ?? false) && this.format === 'text'
  }

  info(msg: string, fields?: Record<string, unknown>): void { this.emit('info', msg, fields) }
  warn(msg: string, fields?: Record<string, unknown>): void { this.emit('warn', msg, fields) }
  error(msg: string, fields?: Record<string, unknown>): void { this.emit('fail', msg, fields) }
  debug(msg: string, fields?: Record<string, unknown>): void { if (this.verbose) this.emit('debug', msg, fields) }

  /** Start a timed step; its ok/fail/warn line carries the duration. */
  step(title: string): Step {
    const started = performance.now()
    this.emit('step', title)
    const spinning = this.startSpinner(title)
    const end = (level: Level, detail?: string): number => {
      if (spinning) this.stopSpinner()
      const ms = Math.round(performance.now() - started)
      this.emit(level, detail ? `${title}: ${detail}` : title, { durationMs: ms })
      return ms
    }
    const update = (text: string) => { if (spinning) this.spinnerLine = this.masker.mask(text) }
    return { ok: (d) => end('ok', d), fail: (d) => end('fail', d), warn: (d) => end('warn', d), update }
  }

  /** Write a raw, already-formatted block (tables) to the log stream, masked; JSON lines in json format. */
  raw(text: string): void {
    this.clearSpinner()
    if (this.format === 'json') {
      for (const line of text.split('\n')) if (line.trim()) this.emit('info', line, { raw: true })
      return
    }
    this.stream.write(this.masker.mask(text.endsWith('\n') ? text : `${text}\n`))
  }

  private emit(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    const text = this.masker.mask(msg)
    this.clearSpinner()
    if (this.format === 'json') {
      const masked = JSON.parse(this.masker.mask(JSON.stringify(fields))) as Record<string, unknown>
      this.stream.write(JSON.stringify({ time: new Date().toISOString(), level, runId: this.runId, msg: text, ...masked }) + '\n')
      return
    }
    if (level === 'step' && this.spinnerEnabled) return // the spinner shows it
    const c = this.color
    const tag = { step: c.cyan('›'), ok: c.green('✔'), warn: c.yellow('!'), fail: c.red('✖'), info: c.dim('·'), debug: c.dim('…') }[level]
    const ms = typeof fields.durationMs === 'number' ? c.dim(` (${formatDuration(fields.durationMs)})`) : ''
    this.stream.write(`${tag} ${text}${ms}\n`)
  }

  private startSpinner(title: string): boolean {
    if (!this.spinnerEnabled || this.spinnerTimer) return false
    let i = 0
    this.spinnerLine = this.masker.mask(title)
    this.spinnerTimer = setInterval(() => {
      this.stream.write(`\r${this.color.cyan(SPIN[i++ % SPIN.length])} ${this.spinnerLine}`)
    }, 80)
    this.spinnerTimer.unref()
    return true
  }

  private clearSpinner(): void {
    if (this.spinnerTimer) this.stream.write('\r\x1b[2K')
  }

  private stopSpinner(): void {
    if (this.spinnerTimer) clearInterval(this.spinnerTimer)
    this.clearSpinner()
    this.spinnerTimer = null
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
}

/** The width tables must fit: the terminal's, else COLUMNS, else none (a file keeps whole rows). */
export function terminalWidth(stream: NodeJS.WriteStream = process.stderr): number | undefined {
  if (stream.isTTY && stream.columns) return stream.columns
  const env = Number(process.env.COLUMNS)
  return Number.isInteger(env) && env > 0 ? env : undefined
}

/**
 * A plain text table (no colour codes inside cells, so widths line up). A row never breaks across
 * lines: newlines in a cell become " | ", and with a width the widest cells are cut with an ellipsis.
 */
export function table(header: string[], rows: string[][], width: number | undefined = terminalWidth()): string {
  const clean = (cell: string | undefined) => (cell ?? '').replace(/\s*\r?\n\s*/g, ' | ').replace(/\t/g, ' ')
  const body = rows.map((r) => header.map((_, i) => clean(r[i])))
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  if (width) fitWidths(widths, header, width)
  const cut = (cell: string, w: number) => (cell.length > w ? `${cell.slice(0, Math.max(0, w - 1))}…` : cell)
  const line = (r: string[]) => r.map((cell, i) => cut(cell, widths[i]!).padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n'
}

// Shrink the widest columns, one character at a time, until the row fits (never below the header's
// first letters): the last column, usually a detail, gives first.
function fitWidths(widths: number[], header: string[], width: number): void {
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1)
  const floor = header.map((h) => Math.min(Math.max(h.length, 4), 12))
  while (total() > width) {
    let widest = -1
    for (let i = widths.length - 1; i >= 0; i--) if (widths[i]! > floor[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i
    if (widest < 0) return
    widths[widest]!--
  }
}
