// The shell blocks of README.md and docs/**/*.md, with the marker before each: what runs it, or why nothing can.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'

export const SHELL_LANGS = new Set(['sh', 'bash', 'console', 'shell', 'cron'])
export const NEEDS = new Set(['cluster', 'engine', 'gpu'])

export interface Block {
  /** Repository-relative Markdown file. */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  text: string
  marker: { kind: 'needs'; needs: string[]; reason: string } | { kind: 'runs'; test: string } | { kind: 'bad'; text: string } | null
}

export function docFiles(root = ROOT): string[] {
  const out = [join(root, 'README.md')]
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (name.endsWith('.md')) out.push(p)
    }
  }
  walk(join(root, 'docs'))
  return out.map((p) => relative(root, p))
}

const MARKER = /^<!--\s*(needs|runs):\s*(.*?)\s*-->$/

/** Every fenced block of a Markdown text; shell ones carry the marker of the line before them. */
export function parseBlocks(file: string, markdown: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]!)
    if (!open) continue
    const fence = open[2]!
    let j = i + 1
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence)) j++
    const lang = open[3]!.toLowerCase()
    if (SHELL_LANGS.has(lang)) {
      let k = i - 1
      while (k >= 0 && lines[k]!.trim() === '') k--
      blocks.push({ file, line: i + 1, lang, text: lines.slice(i + 1, j).join('\n'), marker: k >= 0 ? parseMarker(lines[k]!.trim()) : null })
    }
    i = j
  }
  return blocks
}

function parseMarker(line: string): Block['marker'] {
  const m = MARKER.exec(line)
  if (!m) return line.startsWith('<!--') ? { kind: 'bad', text: line } : null
  if (m[1] === 'runs') return { kind: 'runs', test: m[2]! }
  const [what, ...reason] = m[2]!.split(/\s+--\s+/)
  const needs = what!.split(/[\s,|]+/).filter(Boolean)
  if (!needs.length || needs.some((n) => !NEEDS.has(n)) || !reason.join('').trim()) return { kind: 'bad', text: line }
  return { kind: 'needs', needs, reason: reason.join(' -- ') }
}

export function allBlocks(root = ROOT): Block[] {
  return docFiles(root).flatMap((f) => parseBlocks(f, readFileSync(join(root, f), 'utf8')))
}

/** The blocks a test file says it runs (its path as in the marker). */
export function blocksRunBy(test: string, root = ROOT): Block[] {
  return allBlocks(root).filter((b) => b.marker?.kind === 'runs' && b.marker.test === test)
}

/** Shell commands of a block: comments dropped, continuation lines joined. */
export function commandsOf(block: Block): string[] {
  const joined = block.text.replace(/\\\n\s*/g, ' ')
  return joined.split('\n').map((l) => stripComment(l).trim()).filter(Boolean)
    .map((l) => (block.lang === 'cron' ? l.replace(/^(\S+\s+){5}(root\s+)?/, '') : l.replace(/^\$\s+/, '')))
}

function stripComment(line: string): string {
  let quote = ''
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) { if (c === quote) quote = ''; continue }
    if (c === '"' || c === "'") quote = c
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i)
  }
  return line
}

/** Split a command line into words the way sh does for plain quoting (no expansions). */
export function shellWords(line: string): string[] {
  const words: string[] = []
  let cur = ''
  let has = false
  let quote = ''
  for (const c of line) {
    if (quote) { if (c === quote) quote = ''; else cur += c; continue }
    if (c === '"' || c === "'") { quote = c; has = true; continue }
    if (/\s/.test(c)) { if (has || cur) words.push(cur); cur = ''; has = false; continue }
    cur += c
  }
  if (has || cur) words.push(cur)
  return words
}
