// The import graph of a tree of .ts files, read with TypeScript's own pre-processor (static,
// type-only, re-export and dynamic imports alike), and the house rules checked on it.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

export type Graph = Map<string, string[]>

/** Every relative import of every .ts file under the given folders, as repo-relative paths. */
export function importGraph(root: string, folders: string[]): Graph {
  const graph: Graph = new Map()
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) { if (name !== 'node_modules' && name !== 'fixtures') walk(path); continue }
      if (!name.endsWith('.ts')) continue
      const info = ts.preProcessFile(readFileSync(path, 'utf8'), true, true)
      const deps = info.importedFiles.map((f) => f.fileName).filter((f) => f.startsWith('.'))
        .map((f) => relative(root, resolve(dirname(path), f)))
      graph.set(relative(root, path), deps)
    }
  }
  for (const f of folders) if (existsSync(join(root, f))) walk(join(root, f))
  return graph
}

/** The import circles (strongly connected components of more than one file, or a file importing itself). */
export function circles(graph: Graph): string[][] {
  let next = 0
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = []
      let w: string
      do { w = stack.pop()!; onStack.delete(w); scc.push(w) } while (w !== v)
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort())
    }
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v)
  return found
}

/** The lib's folders, bottom first; load stands beside them on core alone. */
export const LAYERS = ['core', 'monitoring', 'stack', 'tools', 'validate', 'backup', 'deploy'] as const
const BESIDE: Record<string, string[]> = { load: ['core'] }
/** Files of one folder that must not import each other (validate's targets). */
export const SIBLINGS_APART = [['scripts/lib/validate/compose.ts', 'scripts/lib/validate/k8s.ts']]

const folderOf = (file: string): string | null => {
  const m = /^scripts\/lib\/([^/]+)\//.exec(file)
  return m ? m[1]! : null
}

/** One line per import that breaks the house rules of scripts/lib. */
export function layerProblems(graph: Graph): string[] {
  const problems: string[] = []
  for (const [file, deps] of graph) {
    const from = folderOf(file)
    if (!file.startsWith('scripts/lib/')) continue
    for (const dep of deps) {
      if (!dep.startsWith('scripts/lib/')) { problems.push(`${file} imports ${dep}: the lib imports nothing outside scripts/lib`); continue }
      const to = folderOf(dep)
      if (!from || !to) { problems.push(`${file} imports ${dep}: every lib file lives in a folder`); continue }
      if (from === to) continue
      const allowed = BESIDE[from] ?? LAYERS.slice(0, Math.max(0, LAYERS.indexOf(from as never)))
      if (!(LAYERS as readonly string[]).includes(from) && !BESIDE[from]) problems.push(`${file}: ${from}/ is not a known folder of scripts/lib`)
      else if (!allowed.includes(to)) problems.push(`${file} imports ${dep}: ${from}/ ${allowed.length ? `may import only ${allowed.join(', ')}` : 'imports no other folder'}`)
    }
  }
  for (const group of SIBLINGS_APART) {
    for (const a of group) for (const b of group) {
      if (a !== b && graph.get(a)?.includes(b)) problems.push(`${a} imports ${b}: no target imports another`)
    }
  }
  return problems.sort()
}
