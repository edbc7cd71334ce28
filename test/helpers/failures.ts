// Prints the failed tests of a vitest JSON report, one short line each, for the last lines of
// `make test`: CI shows only the tail of a run, and the e2e log comes after the engine-free suites.
//   tsx test/helpers/failures.ts <label> <report.json>
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

/** What the summary prints: nothing when all passed, "no report" when the run died before writing it. */
export function summary(label: string, path: string, root: string): string[] {
  if (!existsSync(path)) return [`${label}: no report at ${relative(root, path)} (the run ended before writing it)`]
  let report: Report
  try { report = JSON.parse(readFileSync(path, 'utf8')) as Report } catch (e) { return [`${label}: unreadable report ${relative(root, path)}: ${(e as Error).message}`] }
  const lines = failureLines(report, root)
  if (lines.length === 0) return []
  const shown = lines.slice(0, MAX_LINES).map((l) => `  ${l}`)
  if (lines.length > MAX_LINES) shown.push(`  … and ${lines.length - MAX_LINES} more (the suite's own output above has them all)`)
  return [`${label}: ${lines.length} failed`, ...shown]
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [label, path] = process.argv.slice(2)
  if (!label || !path) { console.error('usage: tsx test/helpers/failures.ts <label> <report.json>'); process.exit(2) }
  for (const l of summary(label, path, process.cwd())) console.log(l)
}
