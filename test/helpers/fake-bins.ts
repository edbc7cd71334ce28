// Fake executables first on PATH: each records its argv (NUL-separated) and plays a scripted answer.
import { mkdirSync, writeFileSync, readdirSync, readFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDirOwned } from './tmp.ts'

export interface Answer {
  /** Extended regex (bash =~, POSIX ERE) tested against the space-joined arguments; absent matches all. */
  match?: string
  exitCode?: number
  stdout?: string
  stderr?: string
  /** Seconds to sleep before answering (a long-running command). */
  delay?: number
  /** How many calls this answer serves before the next one matches; absent: unlimited. */
  times?: number
}

export type Script = Answer | Answer[]

export const ok = (stdout = ''): Answer => ({ exitCode: 0, stdout })
export const fails = (exitCode = 1, stderr = 'failed'): Answer => ({ exitCode, stderr })
export const on = (match: string, answer: Answer): Answer => ({ ...answer, match })

const FAKE = `#!/usr/bin/env bash
# fake __NAME__ for tests: records argv, answers from rules/ (matching with bash builtins: no fork per rule)
dir='__DIR__'; name='__NAME__'
printf '%s\\0' "$name" "$@" > "$dir/calls/\${EPOCHREALTIME/./}-$$.$name"
joined="$*"
for r in "$dir/rules/$name"/*/; do
  [ -d "$r" ] || continue
  if [ -f "$r/match" ]; then IFS= read -r m < "$r/match"; [[ $joined =~ $m ]] || continue; fi
  if [ -f "$r/times" ]; then
    read -r left < "$r/times"; [ "$left" -gt 0 ] || continue; echo $((left - 1)) > "$r/times"
  fi
  if [ -f "$r/delay" ]; then read -r d < "$r/delay"; sleep "$d"; fi
  [ -f "$r/stdout" ] && cat "$r/stdout"
  [ -f "$r/stderr" ] && cat "$r/stderr" >&2
  code=0; [ -f "$r/code" ] && read -r code < "$r/code"
  exit "$code"
done
exit 0
`

export interface FakeBins {
  dir: string
  /** PATH with the fakes first. */
  path: string
  env: Record<string, string>
  /** argv (program name first) of every call to one fake, in call order. */
  calls(name: string): string[][]
  /** argv of every call to any fake, in call order. */
  allCalls(): string[][]
  /** Replace the script of one fake. */
  script(name: string, s: Script): void
  remove(): void
}

export function fakeBins(scripts: Record<string, Script>, o: { basePath?: string } = {}): FakeBins {
  const tmp = tmpDirOwned('owp-fakes-')
  const bin = join(tmp.path, 'bin')
  mkdirSync(bin)
  mkdirSync(join(tmp.path, 'calls'))
  const setScript = (name: string, s: Script) => {
    const rules = join(tmp.path, 'rules', name)
    mkdirSync(rules, { recursive: true })
    for (const old of readdirSync(rules)) writeFileSync(join(rules, old, 'times'), '0')
    const base = readdirSync(rules).length
    ;(Array.isArray(s) ? s : [s]).forEach((a, i) => {
      const r = join(rules, String(base + i).padStart(3, '0'))
      mkdirSync(r)
      if (a.match !== undefined) writeFileSync(join(r, 'match'), `${a.match}\n`)
      if (a.times !== undefined) writeFileSync(join(r, 'times'), String(a.times))
      if (a.delay !== undefined) writeFileSync(join(r, 'delay'), String(a.delay))
      if (a.stdout !== undefined) writeFileSync(join(r, 'stdout'), a.stdout)
      if (a.stderr !== undefined) writeFileSync(join(r, 'stderr'), a.stderr)
      writeFileSync(join(r, 'code'), String(a.exitCode ?? 0))
    })
    const file = join(bin, name)
    writeFileSync(file, FAKE.replaceAll('__DIR__', tmp.path).replaceAll('__NAME__', name))
    chmodSync(file, 0o755)
  }
  for (const [name, s] of Object.entries(scripts)) setScript(name, s)
  const path = `${bin}:${o.basePath ?? process.env.PATH ?? ''}`
  const readCalls = () => readdirSync(join(tmp.path, 'calls')).sort().map((f) => {
    const parts = readFileSync(join(tmp.path, 'calls', f), 'utf8').split('\0')
    parts.pop()
    return parts
  })
  return {
    dir: bin,
    path,
    env: { PATH: path },
    calls: (name) => readCalls().filter((c) => c[0] === name),
    allCalls: readCalls,
    script: setScript,
    remove: tmp.remove,
  }
}
