// docs/reliability.md and the fault suite stay in step: every row has its test, every fault test its row.
import { describe, it, expect } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'

const ID = /^F-[A-Z][A-Z0-9]*-\d+$/

/** Ids in the first cell of the table rows of docs/reliability.md. */
export function rowIds(markdown: string): string[] {
  const ids: string[] = []
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*([^|]+?)\s*\|/.exec(line)
    if (m && ID.test(m[1]!)) ids.push(m[1]!)
  }
  return ids
}

/** Ids at the start of it()/test() titles in the given sources. */
export function testIds(source: string): string[] {
  const ids: string[] = []
  for (const m of source.matchAll(/\b(?:it|test)(?:\.\w+)*\(\s*(['"`])(F-[A-Z][A-Z0-9]*-\d+):/g)) ids.push(m[2]!)
  return ids
}

function faultSources(): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = []
  const faults = join(ROOT, 'test/faults')
  for (const f of readdirSync(faults, { recursive: true }) as string[]) {
    if (f.endsWith('.test.ts') && f !== 'table.test.ts') out.push({ file: `test/faults/${f}`, text: readFileSync(join(faults, f), 'utf8') })
  }
  const e2e = join(ROOT, 'test/e2e')
  for (const f of readdirSync(e2e)) {
    if (/\.e2e\.test\.ts$/.test(f)) out.push({ file: `test/e2e/${f}`, text: readFileSync(join(e2e, f), 'utf8') })
  }
  return out
}

describe('docs/reliability.md and the fault suite', () => {
  const rows = rowIds(readFileSync(join(ROOT, 'docs/reliability.md'), 'utf8'))
  const tests = faultSources().flatMap((s) => testIds(s.text).map((id) => ({ id, file: s.file })))

  it('every row of the table has a test with its id', () => {
    const tested = new Set(tests.map((t) => t.id))
    expect(rows.filter((id) => !tested.has(id)), 'rows without a test').toEqual([])
  })

  it('every fault test has a row', () => {
    const listed = new Set(rows)
    expect(tests.filter((t) => !listed.has(t.id)).map((t) => `${t.id} (${t.file})`), 'tests without a row').toEqual([])
  })

  it('no id is used twice, in the table or in the tests', () => {
    const dup = (xs: string[]) => xs.filter((x, i) => xs.indexOf(x) !== i)
    expect(dup(rows), 'rows listed twice').toEqual([])
    expect(dup(tests.map((t) => t.id)), 'tests sharing an id').toEqual([])
  })

  it('reads ids the way the convention says (a broken table and a broken title are caught)', () => {
    expect(rowIds('| F-LOCK-1 | deploy | x | y | z |\n| F-lock-2 | a |\n| id | op |')).toEqual(['F-LOCK-1'])
    expect(testIds(`it('F-K8S-3: ok', ...)\nit("F-K8S-4 no colon")\ntest.concurrent(\`F-DISK-1: x\`)`)).toEqual(['F-K8S-3', 'F-DISK-1'])
  })
})
