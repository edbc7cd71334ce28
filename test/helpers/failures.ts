// Prints the failed tests of a vitest JSON report (and the errors outside tests, from the run's
// output), one short line each, for the last lines of `make test`: CI shows only the tail of a
// run, and the e2e log comes after the engine-free suites.
//   tsx test/helpers/failures.ts <label> <report.json> [<output.log>]
import { existsSync, readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { pathToFileURL } from 'node:url'

interface Report {
  testResults?: { name: string; status: string; message?: string; assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[] }[]
}

const ANSI = /\x1b\[[0-9;]*m/g
const MAX_LINES = 12
const MAX_CHARS = 600

/** A line cut to a terminal-friendly length. */
const cut = (line: string, max: number) => (line.length > max ? `${line.slice(0, max - 1)}…` : line)

/**
 * What an error says, on one line: its first line, then the lines that name what went wrong (a
 * kit's "✖", a server's ERROR, an Error) and vitest's "expected …": a message that begins with the
 * log a test passed to expect() still shows its cause.
 */
export function gist(text: string | undefined): string {
  const lines = (text ?? '').replace(ANSI, '').split('\n').map((l) => l.trim()).filter(Boolean)
  if (lines.length === 0) return ''
  const rest = lines.slice(1)
  const end = rest.findIndex((l) => /^- Expected|^❯ |^at /.test(l)) // the diff and the stack add nothing here
  const body = end < 0 ? rest : rest.slice(0, end)
  const causes = body.filter((l) => /✖|\b(ERROR|FATAL|PANIC):|^\w*Error:/.test(l)).slice(0, 2)
  const expected = body.filter((l) => /\bexpected .+ to /.test(l)).slice(-1)
  return cut([lines[0]!, ...causes, ...expected].map((l) => cut(l, MAX_CHARS / 2)).join(' | '), MAX_CHARS)
}

/** One line per failed test, and per file that failed outside its tests (an import, a hook). */
export function failureLines(report: Report, root: string): string[] {
  const lines: string[] = []
  for (const file of report.testResults ?? []) {
    const name = relative(root, file.name)
    const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed')
    for (const a of failed) lines.push(`${name} > ${a.fullName}: ${gist(a.failureMessages?.[0])}`)
    if (file.status === 'failed' && failed.length === 0) lines.push(`${name}: ${gist(file.message) || 'failed outside its tests'}`)
  }
  return lines
}

/**
 * Errors vitest caught outside any test (an uncaught exception, an unhandled rejection): they fail
 * the run, and its JSON report has no trace of them. Read from the run's output: each error's first
 * line and the test file it came from.
 */
export function unhandledLines(output: string): string[] {
  const lines = output.replace(ANSI, '').split('\n').map((l) => l.trim())
  const out: string[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^⎯+ (Uncaught Exception|Unhandled Rejection|Unhandled Error)\b/.test(lines[i]!)) continue
    const error = lines.slice(i + 1).find(Boolean) ?? ''
    const next = lines.slice(i + 1).findIndex((l) => /^⎯+ (Uncaught Exception|Unhandled Rejection|Unhandled Error)\b/.test(l))
    const body = next < 0 ? lines.slice(i + 1) : lines.slice(i + 1, i + 1 + next)
    const from = body.map((l) => /^This error originated in "([^"]+)"/.exec(l)?.[1]).find(Boolean)
    out.push(cut(`${error}${from ? ` (while ${from} ran)` : ''}`, MAX_CHARS))
  }
  return out
}

/**
 * What the summary prints: the failed tests, else the errors outside tests (read from `log`, the
 * run's output), else that the run failed without either; "no report" when the run died first.
 */
export function summary(label: string, path: string, root: string, log?: string): string[] {
  if (!existsSync(path)) return [`${label}: no report at ${relative(root, path)} (the run ended before writing it)`]
  let report: Report
  try { report = JSON.parse(readFileSync(path, 'utf8')) as Report } catch (e) { return [`${label}: unreadable report ${relative(root, path)}: ${(e as Error).message}`] }
  const lines = failureLines(report, root)
  const show = (head: string, all: string[]) => {
    const shown = all.slice(0, MAX_LINES).map((l) => `  ${l}`)
    if (all.length > MAX_LINES) shown.push(`  … and ${all.length - MAX_LINES} more (the suite's own output above has them all)`)
    return [head, ...shown]
  }
  if (lines.length) return show(`${label}: ${lines.length} failed`, lines)
  const unhandled = log && existsSync(log) ? unhandledLines(readFileSync(log, 'utf8')) : []
  if (unhandled.length) return show(`${label}: no test failed, but ${unhandled.length} error(s) outside the tests failed the run`, unhandled)
  return []
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [label, path, log] = process.argv.slice(2)
  if (!label || !path) { console.error('usage: tsx test/helpers/failures.ts <label> <report.json> [<output.log>]'); process.exit(2) }
  const lines = summary(label, path, process.cwd(), log)
  // called only for a run that failed: say so even when neither the report nor the output says why
  for (const l of lines.length ? lines : [`${label}: the run failed, and neither its report nor its output names a failed test or error: see the suite's output above`]) console.log(l)
}
