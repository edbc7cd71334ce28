// Docs that cannot drift: every shell block is run by a test or says why it cannot be, and every
// script, make target and flag the docs name exists and is accepted by that script's parser.
import { describe, it, expect } from 'vitest'
import { readFileSync, existsSync } from 'node:fs'
import { join, isAbsolute } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { allBlocks, commandsOf, docFiles, parseBlocks, type Block } from './blocks.ts'
import { invocations, makeTargets, scriptSpec, unknownFlags, type Invocation } from './commands.ts'

const where = (b: Block) => `${b.file}:${b.line}`

/** Commands in a doc: the shell blocks' lines and the inline `code` of the prose. */
function namedCommands(file: string): { at: string; inv: Invocation }[] {
  const text = readFileSync(isAbsolute(file) ? file : join(ROOT, file), 'utf8')
  const out: { at: string; inv: Invocation }[] = []
  for (const b of parseBlocks(file, text)) for (const c of commandsOf(b)) for (const inv of invocations(c)) out.push({ at: where(b), inv })
  const prose = text.replace(/^(\s*)(`{3,}|~{3,})[\s\S]*?^\1\2\s*$/gm, '')
  for (const m of prose.matchAll(/`([^`\n]+)`/g)) {
    if (!/\b(make|tsx)\s/.test(m[1]!)) continue
    for (const inv of invocations(m[1]!)) out.push({ at: `${file} (\`${m[1]}\`)`, inv })
  }
  return out
}

/** Every problem of the docs: unmarked blocks, missing scripts and targets, flags no parser takes. */
export async function docProblems(files = docFiles()): Promise<string[]> {
  const problems: string[] = []
  const blocks = files.flatMap((f) => parseBlocks(f, readFileSync(isAbsolute(f) ? f : join(ROOT, f), 'utf8')))
  for (const b of blocks) {
    if (!b.marker) problems.push(`${where(b)}: a ${b.lang} block is neither run by a test (<!-- runs: test/... -->) nor marked <!-- needs: cluster|engine|gpu -- why -->`)
    else if (b.marker.kind === 'bad') problems.push(`${where(b)}: malformed marker ${b.marker.text} (needs: cluster|engine|gpu -- reason, or runs: test/file.test.ts)`)
    else if (b.marker.kind === 'runs') {
      const test = join(ROOT, b.marker.test)
      if (!existsSync(test)) problems.push(`${where(b)}: runs: ${b.marker.test} does not exist`)
      else if (!readFileSync(test, 'utf8').includes('blocksRunBy(')) problems.push(`${where(b)}: ${b.marker.test} does not run doc blocks (blocksRunBy)`)
    }
  }
  const targets = makeTargets()
  for (const file of files) {
    for (const { at, inv } of namedCommands(file)) {
      let script = inv.name
      let args = inv.args
      if (inv.kind === 'make') {
        const t = targets.get(inv.name)
        if (!t) { problems.push(`${at}: make ${inv.name}: no such Makefile target`); continue }
        if (!t.script) { if (args.length) problems.push(`${at}: make ${inv.name} takes no ARGS`); continue }
        script = t.script
        args = [...t.fixed, ...args]
      }
      if (inv.kind === 'script' && args.some((a) => /^--env-file(=|$)/.test(a)) && args[0] !== '--') {
        problems.push(`${at}: tsx ${script} --env-file ...: Node 20 takes --env-file for itself; write tsx ${script} -- --env-file ...`)
      }
      const spec = await scriptSpec(script)
      if (spec instanceof Error) { problems.push(`${at}: ${spec.message}`); continue }
      for (const flag of unknownFlags(args, spec)) problems.push(`${at}: ${inv.kind === 'make' ? `make ${inv.name} (${script})` : script} does not accept ${flag}`)
    }
  }
  return problems
}

describe('docs cannot drift', () => {
  it('every shell block of README.md and docs/ is run by a test or marked, every named script, target and flag exists', async () => {
    expect(await docProblems()).toEqual([])
  }, 120_000)

  it('a broken doc is caught: an unmarked block, an unknown target, script and flag', async () => {
    const { tmpDir } = await import('../helpers/tmp.ts')
    const dir = tmpDir('owp-docs-')
    const bad = join(dir.path, 'bad.md')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(bad, [
      'Use `make deploy-prod ARGS="--dry-rnu"` or `tsx scripts/nope.ts`.',
      '', '```sh', 'make no-such-target', '```',
      '', '<!-- needs: laptop -- no reason -->', '```bash', 'tsx scripts/deploy.ts --kubernetes --frob', '```',
      '', '<!-- needs: engine -- starts containers -->', '```sh', 'make backup ARGS="--store all --dset x"', '```',
      '', '<!-- needs: engine -- starts containers -->', '```sh', 'tsx scripts/deploy.ts --env-file prod.env', '```',
    ].join('\n'))
    const problems = await docProblems([bad])
    dir.remove()
    const text = problems.join('\n')
    expect(text).toMatch(/bad\.md:3: a sh block is neither run by a test/)
    expect(text).toMatch(/bad\.md:8: malformed marker/)
    expect(text).toContain('make no-such-target: no such Makefile target')
    expect(text).toContain('scripts/nope.ts does not exist')
    expect(text).toContain('make deploy-prod (scripts/deploy.ts) does not accept --dry-rnu')
    expect(text).toContain('scripts/deploy.ts does not accept --frob')
    expect(text).toContain('make backup (scripts/backup.ts) does not accept --dset')
    expect(text).toContain('Node 20 takes --env-file for itself')
    expect(text).not.toContain('--store')
    expect(text).not.toContain('--kubernetes')
  }, 120_000)

  it('lists what runs each block (the closing note of issue 17 quotes it)', () => {
    const rows = allBlocks().map((b) => `${where(b)} ${b.marker?.kind === 'runs' ? `runs: ${b.marker.test}` : b.marker?.kind === 'needs' ? `needs: ${b.marker.needs.join(',')} -- ${b.marker.reason}` : 'UNMARKED'}`)
    expect(rows.length).toBeGreaterThan(10)
    if (process.env.OWP_LIST_DOC_BLOCKS) process.stdout.write(`${rows.join('\n')}\n`)
  })
})
