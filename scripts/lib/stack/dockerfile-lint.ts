// A Dockerfile checker for the kit's images: pinned bases, non-root, HEALTHCHECK, no remote ADD,
// no secrets baked into ENV/ARG, OCI labels. Each problem names the rule and the line.
import { readFileSync } from 'node:fs'

export interface Instruction {
  /** Upper-case keyword (FROM, RUN, ...). */
  keyword: string
  /** Everything after the keyword, continuation lines joined. */
  args: string
  /** 1-based line of the keyword. */
  line: number
}

export interface DockerfileProblem {
  rule: 'from-pinned' | 'user' | 'healthcheck' | 'add-url' | 'secret' | 'oci-labels' | 'syntax'
  line: number
  message: string
}

/** Split a Dockerfile into instructions: comments dropped, `\` continuations and heredocs joined. */
export function parseDockerfile(text: string): Instruction[] {
  const lines = text.split(/\r?\n/)
  const out: Instruction[] = []
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!
    if (/^\s*(#|$)/.test(first)) continue
    const start = i + 1
    let body = first
    while (/\\\s*$/.test(body) && i + 1 < lines.length) {
      body = body.replace(/\\\s*$/, '')
      i++
      const next = lines[i]!
      if (/^\s*#/.test(next)) { body += '\\'; continue } // comment lines inside a continuation are skipped
      body += ` ${next.trim()}`
    }
    // Heredocs (RUN <<EOF ... EOF): the body belongs to the instruction.
    for (const m of body.matchAll(/<<-?(["']?)([A-Za-z_][A-Za-z0-9_]*)\1/g)) {
      const end = m[2]!
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== end) body += `\n${lines[++i]}`
      i++
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(body)
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start })
  }
  return out
}

interface Stage { name?: string; from: Instruction; body: Instruction[] }

const PINNED_TAG = /^v?\d+(\.\d+)+([-_+.][A-Za-z0-9._-]+)?$/
const SECRET_WORDS = [['PASSWORD'], ['PASSWD'], ['PASS'], ['SECRET'], ['TOKEN'], ['APIKEY'], ['API', 'KEY'], ['PRIVATE', 'KEY'], ['ACCESS', 'KEY'], ['CREDENTIAL'], ['CREDENTIALS']]
const SECRET_VALUES = [/AKIA[0-9A-Z]{16}/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /\bgh[pousr]_[A-Za-z0-9]{20,}/, /\bsk-[A-Za-z0-9]{20,}/]
export const REQUIRED_LABELS = ['org.opencontainers.image.title', 'org.opencontainers.image.version', 'org.opencontainers.image.source']

/** A variable name that holds a secret (PASSWORD, API_KEY, ...); *_FILE names a file and is fine. */
export function isSecretName(name: string): boolean {
  const parts = name.toUpperCase().split(/[^A-Z0-9]+/).filter(Boolean)
  if (parts.at(-1) === 'FILE' || parts.at(-1) === 'PATH') return false
  return SECRET_WORDS.some((w) => parts.some((_, i) => w.every((x, j) => parts[i + j] === x)))
}

export function lintDockerfile(text: string): DockerfileProblem[] {
  const problems: DockerfileProblem[] = []
  const add = (rule: DockerfileProblem['rule'], line: number, message: string) => problems.push({ rule, line, message })
  const instructions = parseDockerfile(text)
  const globalArgs = new Map<string, string | undefined>()
  const stages: Stage[] = []
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'))
      const asAt = words.findIndex((w) => w.toUpperCase() === 'AS')
      stages.push({ from: ins, name: asAt > 0 ? words[asAt + 1] : undefined, body: [] })
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') for (const [k, v] of parseArgs(ins.args)) globalArgs.set(k, v)
      else add('syntax', ins.line, `${ins.keyword} before the first FROM (only ARG may come first)`)
    } else stages.at(-1)!.body.push(ins)
  }
  if (stages.length === 0) { add('syntax', 1, 'no FROM instruction'); return problems }

  // Pinned bases
  const stageNames = new Set<string>()
  for (const st of stages) {
    const words = st.from.args.split(/\s+/).filter((w) => !w.startsWith('--'))
    const raw = words[0] ?? ''
    const { value: image, unresolved } = expand(raw, globalArgs)
    if (unresolved.length) add('from-pinned', st.from.line, `FROM ${raw}: ARG ${unresolved.join(', ')} has no default, so the base is not pinned`)
    else if (image !== 'scratch' && !stageNames.has(image)) {
      const [nameTag, digest] = image.split('@')
      const colon = nameTag!.lastIndexOf(':')
      const tag = colon > nameTag!.lastIndexOf('/') ? nameTag!.slice(colon + 1) : undefined
      if (!digest && !tag) add('from-pinned', st.from.line, `FROM ${image} has no tag: pin a version`)
      else if (!digest && (tag === 'latest' || !PINNED_TAG.test(tag!))) add('from-pinned', st.from.line, `FROM ${image} is not pinned to a version (tag "${tag}")`)
    }
    if (st.name) stageNames.add(st.name)
  }

  const final = stages.at(-1)!
  // Non-root
  const users = final.body.filter((i) => i.keyword === 'USER')
  const lastUser = users.at(-1)
  if (!lastUser) add('user', final.from.line, 'the final stage sets no USER: the image runs as root')
  else if (['0', 'root'].includes(lastUser.args.split(':')[0]!.trim())) add('user', lastUser.line, `USER ${lastUser.args} is root`)

  // Healthcheck
  const hc = final.body.filter((i) => i.keyword === 'HEALTHCHECK').at(-1)
  if (!hc) add('healthcheck', final.from.line, 'the final stage has no HEALTHCHECK')
  else if (/^NONE\b/i.test(hc.args)) add('healthcheck', hc.line, 'HEALTHCHECK NONE disables the health check')

  for (const st of stages) {
    for (const ins of st.body) {
      // Remote ADD
      if (ins.keyword === 'ADD') {
        const srcs = ins.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1)
        for (const s of srcs) if (/^(https?|ftp|git):\/\/|^git@|\.git(#.*)?$/.test(s)) add('add-url', ins.line, `ADD ${s} fetches from the network at build time: vendor it or download with a checksum check in RUN`)
      }
      // Secrets in ENV / ARG
      if (ins.keyword === 'ENV' || ins.keyword === 'ARG') checkSecrets(ins, add)
    }
  }
  for (const ins of instructions.filter((i) => i.keyword === 'ARG' && i.line < stages[0]!.from.line)) checkSecrets(ins, add)

  // OCI labels
  const labels = new Set(final.body.filter((i) => i.keyword === 'LABEL').flatMap((i) => [...parseKeyValues(i.args).keys()]))
  const missing = REQUIRED_LABELS.filter((l) => !labels.has(l))
  if (missing.length) add('oci-labels', final.from.line, `the final stage lacks OCI labels: ${missing.join(', ')}`)
  return problems.sort((a, b) => a.line - b.line)
}

export function lintDockerfileFile(path: string): DockerfileProblem[] {
  return lintDockerfile(readFileSync(path, 'utf8'))
}

function checkSecrets(ins: Instruction, add: (rule: DockerfileProblem['rule'], line: number, message: string) => void): void {
  const pairs = ins.keyword === 'ARG' ? parseArgs(ins.args) : parseKeyValues(ins.args)
  for (const [name, value] of pairs) {
    if (isSecretName(name)) {
      add('secret', ins.line, `${ins.keyword} ${name}: secrets in ${ins.keyword} stay in the image history; use a BuildKit secret mount (RUN --mount=type=secret) or runtime configuration`)
    } else if (value && SECRET_VALUES.some((re) => re.test(value))) {
      add('secret', ins.line, `${ins.keyword} ${name} holds what looks like a credential`)
    }
  }
}

/** `ARG NAME[=default] [NAME2[=default]]` */
function parseArgs(args: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>()
  for (const w of splitWords(args)) {
    const eq = w.indexOf('=')
    out.set(eq < 0 ? w : w.slice(0, eq), eq < 0 ? undefined : unquote(w.slice(eq + 1)))
  }
  return out
}

/** `KEY=value KEY2="v 2"`, or the legacy `KEY value with spaces`. */
function parseKeyValues(args: string): Map<string, string> {
  const out = new Map<string, string>()
  const words = splitWords(args)
  if (words.length && !words[0]!.includes('=')) {
    const [k, ...rest] = args.split(/\s+/)
    out.set(k!, rest.join(' '))
    return out
  }
  for (const w of words) {
    const eq = w.indexOf('=')
    if (eq > 0) out.set(unquote(w.slice(0, eq)), unquote(w.slice(eq + 1)))
  }
  return out
}

/** Whitespace-separated words, keeping quoted spans together. */
function splitWords(s: string): string[] {
  return s.match(/(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/g) ?? []
}

function unquote(s: string): string {
  return s.replace(/^"(.*)"$/s, '$1').replace(/^'(.*)'$/s, '$1')
}

/** Expand $VAR / ${VAR} / ${VAR:-x} from the global ARG defaults. */
function expand(s: string, args: Map<string, string | undefined>): { value: string; unresolved: string[] } {
  const unresolved: string[] = []
  const value = s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string | undefined, def: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!
    const v = args.get(name) ?? def
    if (v === undefined) unresolved.push(name)
    return v ?? ''
  })
  return { value, unresolved }
}
