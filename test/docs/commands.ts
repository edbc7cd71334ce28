// What the docs name: make targets and scripts with their flags, and what the kit really has.
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { specProbe, SpecCaptured, type HelpData } from '../../scripts/lib/core/cli.ts'
import { shellWords } from './blocks.ts'

export interface Invocation { kind: 'make' | 'script'; name: string; args: string[]; text: string }

const OPERATORS = new Set(['&&', '||', ';', '|', '>', '>>', '2>', '2>>', '<', '&'])

/** make TARGET [ARGS=...] and [npx] tsx scripts/x.ts ... in one command line. */
export function invocations(line: string): Invocation[] {
  const out: Invocation[] = []
  const words = shellWords(line.replace(/(&&|\|\||;|2>>|>>|2>|[|<>])/g, ' $1 '))
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    const rest = () => { const a: string[] = []; for (let j = i + 1; j < words.length && !OPERATORS.has(words[j]!); j++) a.push(words[j]!); return a }
    if (w === 'make' && (i === 0 || OPERATORS.has(words[i - 1]!))) {
      const args = rest()
      for (const a of args) {
        if (/^[a-z0-9-]+$/.test(a)) out.push({ kind: 'make', name: a, args: argsOf(args), text: line })
      }
    } else if (/(^|\/)tsx$/.test(w) && words[i + 1] && /\.ts$/.test(words[i + 1]!)) {
      i++
      out.push({ kind: 'script', name: words[i]!, args: rest(), text: line })
    }
  }
  return out
}

function argsOf(makeArgs: string[]): string[] {
  const a = makeArgs.find((x) => x.startsWith('ARGS='))
  return a ? shellWords(a.slice('ARGS='.length)) : []
}

export interface MakeTarget { script?: string; fixed: string[] }

/** The Makefile's targets, and for those that run a script, which one and with which fixed flags. */
export function makeTargets(root = ROOT): Map<string, MakeTarget> {
  const text = readFileSync(join(root, 'Makefile'), 'utf8')
  const targets = new Map<string, MakeTarget>()
  const re = /^([a-z0-9][a-z0-9-]*):(?!=)[^\n]*\n((?:\t[^\n]*\n?)*)/gm
  for (const m of text.matchAll(re)) {
    const recipe = m[2] ?? ''
    const s = /\$\(TSX\) (\S+\.ts)(?: --)? ?(.*?)\$\(ARGS\)/.exec(recipe)
    targets.set(m[1]!, s ? { script: s[1]!, fixed: shellWords(s[2]!) } : { fixed: [] })
  }
  return targets
}

const specs = new Map<string, HelpData | Error>()

/** A script's flags, read from its run() call (the script is imported, never run). */
export async function scriptSpec(script: string, root = ROOT): Promise<HelpData | Error> {
  if (specs.has(script)) return specs.get(script)!
  let spec: HelpData | Error = new Error(`${script} does not exist`)
  const file = join(root, script)
  if (existsSync(file) && !/^(scripts\/[\w-]+|test\/e2e\/harness\/setup)\.ts$/.test(script.replace(/^\.\//, ''))) {
    // Not a kit script (a benchmark, a test): importing would run it; it exists, that is all we check.
    spec = { script, usage: '', flags: {}, positionals: true, examples: [], exitCodes: {}, unchecked: true } as unknown as HelpData
  } else if (existsSync(file)) {
    specProbe.capture = (s) => { spec = s }
    try {
      await import(join(root, script))
      spec = new Error(`${script} never called run() from scripts/lib/core/cli.ts`)
    } catch (e) {
      if (!(e instanceof SpecCaptured)) spec = e as Error
    } finally {
      specProbe.capture = undefined
    }
  }
  specs.set(script, spec)
  return spec
}

/** Flags of args the spec does not accept: --name, --name=value, -x. */
export function unknownFlags(args: string[], spec: HelpData): string[] {
  const bad: string[] = []
  if ((spec as { unchecked?: boolean }).unchecked) return bad
  for (const a of args) {
    if (a === '--' || !a.startsWith('-') || /^-\d/.test(a)) continue
    if (a.startsWith('--')) {
      const name = a.slice(2).split('=')[0]!
      if (!(name in spec.flags)) bad.push(`--${name}`)
    } else {
      const shorts = Object.values(spec.flags).map((f) => (f as { short?: string }).short)
      if (!shorts.includes(a[1])) bad.push(a.slice(0, 2))
    }
  }
  return bad
}
