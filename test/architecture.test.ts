// The house: no import circle anywhere, a lib folder imports only from the folders below it,
// every lib folder says what it is.
import { describe, it, expect } from 'vitest'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../scripts/lib/core/paths.ts'
import { importGraph, circles, layerProblems, LAYERS } from './helpers/imports.ts'

const BROKEN = join(import.meta.dirname, 'fixtures', 'architecture', 'broken')

describe('the house', () => {
  const graph = importGraph(ROOT, ['scripts', 'test', 'bench'])

  it('has no import circle in scripts/, test/ or bench/', () => {
    expect(graph.size).toBeGreaterThan(150)
    expect(circles(graph)).toEqual([])
  })

  it('lets a lib folder import only from the folders below it', () => {
    expect(layerProblems(graph)).toEqual([])
  })

  it('gives every lib folder a README that names what it may import', () => {
    const lib = join(ROOT, 'scripts', 'lib')
    const folders = readdirSync(lib).filter((f) => statSync(join(lib, f)).isDirectory())
    expect(folders.sort()).toEqual([...LAYERS, 'load'].sort())
    for (const f of [...folders, '.']) expect(existsSync(join(lib, f, 'README.md')), `${f}/README.md`).toBe(true)
    expect(existsSync(join(ROOT, 'test', 'e2e', 'harness', 'README.md'))).toBe(true)
  })

  it('rejects a tree with a circle (type-only imports count), an import up and targets importing each other', () => {
    const broken = importGraph(BROKEN, ['scripts'])
    expect(circles(broken)).toEqual([['scripts/lib/core/a.ts', 'scripts/lib/core/b.ts']])
    expect(layerProblems(broken)).toEqual([
      'scripts/lib/core/b.ts imports scripts/lib/deploy/plan.ts: core/ imports no other folder',
      'scripts/lib/validate/compose.ts imports scripts/lib/validate/k8s.ts: no target imports another',
    ])
  })
})
